"""Command line: a thin layer over loading, checking and rendering.

Heavy modules (onnx, the TFLite schema) are imported only when a model is
checked, so ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys

from compatcheck import __version__
from compatcheck.errors import (
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    UserError,
)

SUBCOMMANDS = ("rules", "explain", "profiles", "manifest", "snippet", "fix")
FORMATS = ("text", "json", "sarif", "junit", "github", "markdown")

DESCRIPTION = """\
Check ONNX and TFLite models against mini-program platforms (WeChat, Alipay,
Baidu, Douyin, QQ) before deployment: which engine can load the model, which
operators it lacks, which tensor types cannot cross into JavaScript, and
whether the file fits the platform's package, storage and download limits.

other commands:
  compatcheck rules               list every rule
  compatcheck explain CODE        document one rule (for example CC200)
  compatcheck profiles            list platforms and their engines
  compatcheck profiles show NAME  print a platform's facts with sources
  compatcheck manifest MODEL -p P --model-version V
                                  write the hot-update manifest to host
  compatcheck snippet MODEL -p P  print loader JavaScript for the platform
  compatcheck fix MODEL -p P -o OUT
                                  rewrite an ONNX model so it loads, verified
                                  with onnxruntime (needs the [fix] extra)
"""

EPILOG = """\
exit codes:
  0  no finding fails the gate (--fail-on: errors by default)
  1  at least one finding fails the gate
  2  bad input or usage: missing, truncated or corrupt file, unknown
     platform, broken profile (one line on stderr names the file)
  3  internal error in compatcheck (COMPATCHECK_DEBUG=1 shows the traceback;
     please report it)

Known limitations: verdicts rest on the platforms' published facts; where a
fact is not documented by the vendor the report says the verdict is
unverified. A model named like a command (rules, explain, profiles,
manifest, snippet, fix) must be given as ./rules.
"""


class OneLineParser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        raise UserError("usage", f"{message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="compatcheck",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="ONNX or TFLite model files, folders (searched recursively for "
        "models, by content) or glob patterns",
    )
    parser.add_argument(
        "-p",
        "--platform",
        action="append",
        metavar="NAME",
        # Kept in step with the profiles' aliases by a test.
        help="wechat (weixin), alipay, baidu (swan), douyin (bytedance, "
        "toutiao), qq, all, or a profile .yaml file; repeat or separate with commas "
        "(default: 'platforms' of the configuration)",
    )
    parser.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        default="text",
        help="report format (default: text)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the report to FILE instead of standard output",
    )
    parser.add_argument(
        "--engine",
        metavar="NAME",
        help="check only routes to this engine (an engine id such as "
        "wx-inference, or a shared engine: tfjs, paddlejs, bytenn)",
    )
    parser.add_argument(
        "--backend",
        metavar="NAME",
        help="backend the session will ask for, e.g. ios-npu "
        "(WeChat allowNPU); reports operators without a kernel there",
    )
    parser.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=DIMS",
        help="size you will feed an input, e.g. input=1x3x224x224; it must "
        "match the input's rank and fixed sizes",
    )
    parser.add_argument(
        "--no-plan",
        action="store_true",
        help="leave the deployment plan (contract, cost, loading, session "
        "options) out of the report",
    )
    gate = parser.add_argument_group("CI gate and configuration")
    gate.add_argument(
        "--config",
        metavar="FILE",
        help="compatcheck.yaml or pyproject.toml to use (default: the nearest "
        "one at or above the working directory)",
    )
    gate.add_argument(
        "--no-config", action="store_true", help="ignore configuration files"
    )
    gate.add_argument(
        "--select", metavar="CODES", help="report only these codes or prefixes"
    )
    gate.add_argument("--ignore", metavar="CODES", help="never report these")
    gate.add_argument(
        "--fail-on",
        choices=("error", "warning"),
        help="the lowest severity that makes the exit code 1 (default: error)",
    )
    gate.add_argument(
        "--baseline", metavar="FILE", help="hide the findings recorded in FILE"
    )
    gate.add_argument(
        "--write-baseline",
        metavar="FILE",
        help="record the current findings in FILE (exit 0)",
    )
    gate.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="check models in N processes (default 1)",
    )
    parser.add_argument(
        "--version", action="version", version=f"compatcheck {__version__}"
    )
    return parser


class Terminated(BaseException):
    """SIGTERM arrived: unwind, so temporary files are removed on the way.

    A BaseException, as KeyboardInterrupt is, so that no handler of
    library errors swallows it.
    """


def _terminate(signum, frame):
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str]) -> int:
    try:
        if argv and argv[0] in SUBCOMMANDS:
            from compatcheck.commands import run_subcommand

            return run_subcommand(argv)
        return _check(build_parser().parse_intermixed_args(argv))
    except UserError as exc:
        print(f"compatcheck: error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("compatcheck: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("compatcheck: terminated", file=sys.stderr)
        return 143
    except BrokenPipeError:
        # The reader went away (`compatcheck rules | head`): stop quietly,
        # as other command-line tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:  # a bug in compatcheck, not the user's input
        if os.environ.get("COMPATCHECK_DEBUG"):
            raise
        detail = _one_line(f"{type(exc).__name__}: {exc}")
        print(
            f"compatcheck: internal error: {detail} "
            "(set COMPATCHECK_DEBUG=1 for a traceback and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _check(args: argparse.Namespace) -> int:
    from compatcheck.runner import run_check

    config = load_config(args)
    options = check_options(args, config)
    platforms = _platforms(args, config)
    _check_targets(args)
    from compatcheck.output import refuse_model_data, refuse_read_files

    read = [config.path, *(p for p in platforms if p.endswith((".yaml", ".yml")))]
    for target in (args.output, args.write_baseline):
        # The baseline --baseline reads may be the one --write-baseline writes.
        refuse_read_files(
            target, [*read, args.baseline if target == args.output else None]
        )
    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}", "give at least 1 process")
    report = run_check(args.models, platforms, options, jobs=args.jobs)
    for target in (args.output, args.write_baseline):
        refuse_model_data(target, report.models)

    from compatcheck import baseline

    known = baseline.read(args.baseline) if args.baseline else None
    if args.write_baseline:
        recorded = baseline.write(args.write_baseline, report, config.folder)
        print(
            f"compatcheck: recorded {recorded} finding(s) in {args.write_baseline}; "
            f"--baseline {args.write_baseline} reports only findings not in it",
            file=sys.stderr,
        )
    if known is not None:
        baseline.apply(known, report, config.folder)

    if args.no_plan:
        report.plans.clear()
        for result in report.results:
            result.plan = None

    from compatcheck.report import render

    text = render(report, args.format)
    _write(text, args.output)
    for error in report.errors:
        line = _one_line(f"{error.path}: {error.message}")
        print(f"compatcheck: error: {line}", file=sys.stderr)
    if report.errors:
        return EXIT_USAGE
    if args.write_baseline:
        return EXIT_OK
    fail_on = args.fail_on or config.fail_on
    failing = {"error"} if fail_on == "error" else {"error", "warning"}
    if any(f.severity.value in failing for r in report.results for f in r.findings):
        return EXIT_FINDINGS
    return EXIT_OK


def load_config(args: argparse.Namespace):
    """The configuration --config names, none with --no-config, else the nearest."""
    from compatcheck import config

    if args.no_config:
        if args.config:
            raise UserError("--no-config", "cannot be combined with --config")
        return config.Config()
    if args.config:
        return config.load(args.config)
    return config.discover()


def _platforms(args: argparse.Namespace, config) -> list[str]:
    if args.platform:
        return args.platform
    if not config.platforms:
        raise UserError(
            "--platform",
            "no platform given; pass --platform or set 'platforms' in "
            "compatcheck.yaml or [tool.compatcheck]",
        )
    # Profile files named in a configuration are relative to it.
    return [
        p if not p.endswith((".yaml", ".yml")) else os.path.join(config.folder, p)
        for p in config.platforms
    ]


def check_options(args: argparse.Namespace, config):
    """What the check is asked to do: the options, over the configuration.

    Commands without --select, --ignore or --backend (manifest, snippet,
    fix) take those from the configuration alone.
    """
    from compatcheck.config import Policy, codes
    from compatcheck.rules import Options

    shapes = parse_shapes(args.input_shape)
    engine = args.engine or config.engine
    select = getattr(args, "select", None)
    ignore = getattr(args, "ignore", None)
    policy = Policy(
        select=codes(select.split(","), "--select")
        if select is not None
        else config.select,
        ignore=codes(ignore.split(","), "--ignore")
        if ignore is not None
        else config.ignore,
        severity=config.severity,
        per_path_ignores=config.per_path_ignores,
        base=config.folder,
    )
    return Options(
        backend=getattr(args, "backend", None) or config.backend,
        input_shapes=shapes,
        engine=engine.strip().lower() if engine else None,
        policy=policy,
    )


# Sizes become JavaScript typed-array lengths, which stay below 2**31.
_MAX_DIM = 2**31 - 1


def parse_shapes(items: list[str]) -> dict[str, tuple[int, ...]]:
    """Every ``--input-shape`` by input name; a name given twice is refused."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items:
        name, shape = _parse_shape(item)
        if name in shapes:
            raise UserError(f"--input-shape {item}", f"{name!r} is given twice")
        shapes[name] = shape
    return shapes


def _parse_shape(item: str) -> tuple[str, tuple[int, ...]]:
    """``NAME=1x3x224x224`` -> (NAME, (1, 3, 224, 224))."""
    name, _, dims = item.rpartition("=")
    parts = dims.lower().split("x")
    if name and all(p.isascii() and p.isdigit() for p in parts):
        shape = tuple(int(p) for p in parts)
        if all(1 <= d <= _MAX_DIM for d in shape):
            if math.prod(shape) > _MAX_DIM:
                raise UserError(
                    f"--input-shape {item}",
                    f"{math.prod(shape):,} elements; one input holds at most "
                    f"{_MAX_DIM:,} (the length of a JavaScript typed array)",
                )
            return name, shape
    raise UserError(
        f"--input-shape {item}",
        "expected NAME=DIMS with sizes from 1 to 2147483647, e.g. x=1x3x224x224",
    )


def _one_line(text: str) -> str:
    """Error messages are one line; quote any line breaks in user input.

    A file name that is not UTF-8 is shown with backslash escapes, so the
    line can be written to any stream.
    """
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _check_targets(args: argparse.Namespace) -> None:
    """Where results will be written, checked before any model is read."""
    if args.write_baseline == "-":
        raise UserError("--write-baseline -", "give a file name for the baseline")
    if args.output not in (None, "-") and args.write_baseline:
        if os.path.abspath(args.output) == os.path.abspath(args.write_baseline):
            raise UserError(
                args.output, "is both the report (-o) and the baseline; use two files"
            )
    for target in (args.output, args.write_baseline):
        if target in (None, "-"):
            continue
        folder = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(folder):
            raise UserError(
                target, f"cannot be written: folder {folder} does not exist"
            )
        _refuse_overwriting_inputs(target, args.models)


def _refuse_overwriting_inputs(output: str | None, models: list[str]) -> None:
    """The report never replaces a model: an input (by any link) or another one."""
    if output in (None, "-") or not os.path.exists(output):
        return
    for model in models:
        try:
            same = os.path.samefile(model, output)
        except OSError:
            same = os.path.realpath(model) == os.path.realpath(output)
        if same:
            raise UserError(output, "is one of the models; refusing to overwrite it")
    from compatcheck.model import looks_like_model

    if looks_like_model(output):
        raise UserError(output, "is a model file; refusing to overwrite it")


def _write(text: str, output: str | None) -> None:
    from compatcheck.output import write_text

    write_text(text, output, "the report")
