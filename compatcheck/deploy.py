"""Deployment commands: ``manifest`` (JSON to host), ``snippet`` (loader code)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from compatcheck.errors import EXIT_FINDINGS, EXIT_OK, UserError


def manifest_command(argv: list[str]) -> int:
    """Write the hot-update manifest of one model on one platform.

    Exit 0 when written, 1 when written but the verdict is fail, 2 on bad
    input (nothing written).
    """
    parser = _parser(
        "manifest",
        "Write the JSON a server hosts so a mini program downloads the model "
        "only when it changed: version, sha256, sizes, engine options, the "
        "input/output contract and the verdict.",
    )
    parser.add_argument(
        "--model-version",
        required=True,
        metavar="V",
        help="the model's version: letters, digits, '.', '_' or '-' (it "
        "becomes part of the file name on the phone)",
    )
    parser.add_argument(
        "--url",
        metavar="URL",
        help="where the model file (or the folder of its files) is hosted",
    )
    parser.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="PATH",
        help="a file the phone downloads, when it is not MODEL itself (the "
        "output of the route's conversion); repeat for each file, main file first",
    )
    args = parser.parse_args(argv)
    from compatcheck.plan.manifest import VERSION_PATTERN, build_manifest, validate

    if not VERSION_PATTERN.fullmatch(args.model_version):
        raise UserError(
            f"--model-version {args.model_version}",
            "use 1 to 64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit",
        )
    _check_output(args.output, [args.model, *args.file])
    model, plan, result = _plan_one(args)
    files = _deploy_files(args, model, result)
    document = build_manifest(
        model, plan, result, result.plan, args.model_version, files, args.url
    )
    problems = validate(document)
    if problems:  # the schema and the builder disagree: a bug, not bad input
        raise RuntimeError(f"manifest does not match its schema: {problems[0]}")
    text = (
        json.dumps(
            document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False
        )
        + "\n"
    )
    _write(text, args.output)
    if result.verdict != "fail":
        return EXIT_OK
    _say_failing("manifest", model.path, result, "the manifest is written")
    return EXIT_FINDINGS


def _say_failing(command: str, path: str, result, written: str) -> None:
    """One line on stderr: the output exists, but the model fails the platform."""
    from compatcheck.plan.snippet import failing_codes

    print(
        f"compatcheck {command}: {os.path.basename(path)} FAILS on "
        f"{result.platform_title} ({', '.join(failing_codes(result))}); "
        f"{written}, but the model will not work until those errors are fixed",
        file=sys.stderr,
    )


def snippet_command(argv: list[str]) -> int:
    """Print loader JavaScript for one model on one platform.

    Exit 0 when printed, 1 when printed but the verdict is fail (the loader's
    header and one line on stderr say so), 2 on bad input (nothing printed).
    """
    parser = _parser(
        "snippet",
        "Print JavaScript for the platform that fetches the manifest, downloads "
        "the model into a folder per manifest version (again when a file is "
        "missing or has the wrong size), deletes other versions, creates the "
        "session with the planned options and runs one inference with "
        "correctly shaped input.",
    )
    parser.epilog = (
        "exit codes: 0 printed; 1 printed, but the loader will not work as it "
        "is: the verdict is fail, or an input has no known size (give "
        "--input-shape); 2 bad input"
    )
    parser.add_argument(
        "--manifest-url",
        metavar="URL",
        help="where the manifest is hosted (default: a placeholder to replace); "
        "a manifest without a url has the files downloaded from its folder",
    )
    args = parser.parse_args(argv)
    from compatcheck.plan.snippet import render_snippet
    from compatcheck.profiles import load_profile

    _check_output(args.output, [args.model])
    model, plan, result = _plan_one(args)
    profile = load_profile(args.platform)
    name = os.path.basename(model.path)
    _write(render_snippet(name, plan, result, profile, args.manifest_url), args.output)
    code = EXIT_OK
    if result.verdict == "fail":
        _say_failing("snippet", model.path, result, "the loader is written")
        code = EXIT_FINDINGS
    unsized = [t.name for t in plan.contract.inputs if t.feed_shape is None]
    if unsized:
        print(
            f"compatcheck snippet: {name}: no size is known for input(s) "
            f"{', '.join(map(repr, unsized))}; the loader feeds a placeholder "
            "of one element: give --input-shape NAME=DIMS and generate it again",
            file=sys.stderr,
        )
        code = EXIT_FINDINGS
    return code


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    from compatcheck.cli import OneLineParser

    parser = OneLineParser(prog=f"compatcheck {prog}", description=description)
    parser.add_argument("model", metavar="MODEL", help="an ONNX or TFLite model file")
    parser.add_argument(
        "-p",
        "--platform",
        required=True,
        metavar="NAME",
        help="one platform (wechat, alipay, baidu, douyin, qq) or a profile file",
    )
    add_route_arguments(parser, "size you will feed an input")
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE, not standard output"
    )
    return parser


def add_route_arguments(parser: argparse.ArgumentParser, shape_help: str) -> None:
    """--engine, --input-shape and the configuration, as manifest, snippet and
    fix take them: the same verdict as the check gives with that configuration."""
    parser.add_argument("--engine", metavar="NAME", help="use the route to this engine")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="compatcheck.yaml or pyproject.toml to use (default: the nearest "
        "one, as the check finds it); its select, ignore, severity, engine and "
        "backend apply",
    )
    parser.add_argument(
        "--no-config", action="store_true", help="ignore configuration files"
    )
    parser.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=DIMS",
        help=f"{shape_help}, e.g. input=1x3x224x224",
    )


def _plan_one(args: argparse.Namespace):
    """Check one model file on one platform; return model, plan and result."""
    from compatcheck.cli import check_options, load_config
    from compatcheck.output import refuse_model_data, refuse_read_files
    from compatcheck.profiles import resolve_platforms
    from compatcheck.runner import run_check

    if not os.path.isfile(args.model):
        problem = "is a folder" if os.path.isdir(args.model) else "does not exist"
        raise UserError(args.model, f"{problem}; give one model file")
    platforms = resolve_platforms([args.platform])
    if len(platforms) != 1:
        raise UserError(f"--platform {args.platform}", "give exactly one platform")
    args.platform = platforms[0]  # "wechat," and aliases name one profile
    config = load_config(args)
    options = check_options(args, config)
    refuse_read_files(args.output, [config.path, args.platform])
    report = run_check([args.model], [args.platform], options)
    if report.errors:
        error = report.errors[0]
        raise UserError(error.path, error.message)
    model, result = report.models[0], report.results[0]
    refuse_model_data(args.output, [model])
    if result.plan is None:
        raise UserError(
            args.model,
            f"no route reaches an engine on {result.platform_title}; there is "
            "nothing to deploy (run compatcheck on it for the reasons)",
        )
    return model, report.plans[model.path], result


def _deploy_files(args: argparse.Namespace, model, result) -> list[str]:
    """The files the phone downloads, the main one first, each name once."""
    files = _given_files(args, model, result)
    seen: dict[str, str] = {}
    for path in files:
        name = os.path.basename(path)
        if name in seen and not _same_file(seen[name], path):
            raise UserError(
                path,
                f"has the same name as {seen[name]}; the phone keeps the files "
                "side by side in one folder, so each needs its own name",
            )
        seen[name] = path
    return list(dict.fromkeys(files))


def _given_files(args: argparse.Namespace, model, result) -> list[str]:
    model_path = model.path
    route = result.route
    if not args.file:
        if route.converters:
            commands = "; then ".join(route.commands)
            raise UserError(
                args.model,
                f"on {result.platform} the model is converted first "
                f"({' + '.join(route.converters)}: {commands}); convert "
                "it and give the files the phone downloads with --file",
            )
        return [model_path, *_external_files(model)]
    for path in args.file:
        if not os.path.isfile(path):
            raise UserError(path, "is not a file; give each downloaded file")
    if not route.converters and not _same_file(args.file[0], model_path):
        raise UserError(
            args.file[0],
            f"on {result.platform} the engine loads the model itself, not "
            "converted files; leave out --file (or give the model first, then "
            "the files it reads)",
        )
    return list(args.file)


def _external_files(model) -> list[str]:
    """The external data files an ONNX model reads, which the phone needs too."""
    found = []
    for ref in model.external_data:
        if ref.problem or ref.resolved is None:
            raise UserError(
                model.path,
                f"external data {ref.location!r}: {ref.problem or 'not found'}; "
                "fix the model before writing a manifest",
            )
        if os.path.basename(ref.location) != ref.location:
            raise UserError(
                model.path,
                f"external data {ref.location!r} is in a subfolder; the phone "
                "keeps the files in one folder, so save the data beside the model",
            )
        found.append(ref.resolved)
    return found


def _same_file(one: str, other: str) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def _check_output(output: str | None, inputs: list[str]) -> None:
    if output in (None, "-"):
        return
    from compatcheck.cli import _refuse_overwriting_inputs

    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise UserError(output, f"cannot be written: folder {folder} does not exist")
    _refuse_overwriting_inputs(output, inputs)


def _write(text: str, output: str | None) -> None:
    """Standard output, or FILE replaced atomically (never half written)."""
    from compatcheck.output import write_text

    write_text(text, output)
