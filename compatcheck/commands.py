"""The other commands: rules, explain, profiles; manifest and snippet dispatch."""

from __future__ import annotations

import argparse
import sys

from tabulate import tabulate

from compatcheck.errors import EXIT_OK, UserError


def run_subcommand(argv: list[str]) -> int:
    command, rest = argv[0], argv[1:]
    if command == "fix":
        from compatcheck.fix.command import fix_command

        return fix_command(rest)
    if command in ("manifest", "snippet"):
        from compatcheck import deploy

        return {"manifest": deploy.manifest_command, "snippet": deploy.snippet_command}[
            command
        ](rest)
    handler = {"rules": _rules, "explain": _explain, "profiles": _profiles}[command]
    return handler(rest)


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    from compatcheck.cli import OneLineParser  # cli imports this module lazily

    return OneLineParser(prog=f"compatcheck {prog}", description=description)


def _rules(argv: list[str]) -> int:
    _parser("rules", "List every rule.").parse_args(argv)
    from compatcheck.rules import all_rules

    rows = [
        [
            r.code,
            r.name,
            r.severities,
            r.scope,
            "yes" if r.fixable else "no",
            r.summary,
        ]
        for r in all_rules()
    ]
    print(
        tabulate(
            rows,
            headers=["code", "name", "severity", "scope", "autofix", "checks"],
            tablefmt="simple",
            maxcolwidths=[None, None, None, None, None, 50],
        )
    )
    return EXIT_OK


# CC000 is no rule: it is how SARIF reports a file that could not be read.
UNREADABLE = """CC000 unreadable-model (severity: error)

What it is:
  Not a check of a model: a file compatcheck could not read as an ONNX or
  TFLite model (missing, truncated, corrupt, or another format). The text
  and JSON reports list it under errors, stderr has one line for it, the
  exit code is 2, and SARIF reports it as a result of this code on the
  file.

Fix:
  Read the message: it names the problem (a PyTorch checkpoint to export,
  a zip archive, a field that runs past the end of the file ...), then
  export or download the model again."""


def _explain(argv: list[str]) -> int:
    parser = _parser("explain", "Print a rule's documentation.")
    parser.add_argument("code", help="rule code (CC200) or name (unsupported-operator)")
    args = parser.parse_args(argv)
    from compatcheck.rules import all_rules

    wanted = args.code.upper()
    if wanted in ("CC000", "UNREADABLE-MODEL"):
        print(UNREADABLE)
        return EXIT_OK
    for rule in all_rules():
        if rule.code == wanted or rule.name == args.code.lower():
            print(f"{rule.code} {rule.name} (severity: {rule.severities})")
            for title, text in rule.sections().items():
                print(f"\n{title}:")
                print(
                    "\n".join("  " + line if line else "" for line in text.splitlines())
                )
            return EXIT_OK
    raise UserError(
        f"explain {args.code}", "no such rule; 'compatcheck rules' lists them"
    )


def _profiles(argv: list[str]) -> int:
    parser = _parser("profiles", "List platforms, or show one with its sources.")
    parser.add_argument("action", nargs="?", choices=["show"])
    parser.add_argument("name", nargs="?")
    args = parser.parse_args(argv)
    from compatcheck.profiles import load_profile, platform_names

    if args.action == "show":
        if not args.name:
            raise UserError("profiles show", "give a platform name or profile file")
        names = platform_names() if args.name.lower() == "all" else [args.name]
        try:
            profiles = [load_profile(name) for name in names]
        except UserError as exc:
            raise UserError(f"profiles show {args.name}", exc.problem) from None
        sys.stdout.write("\n".join(_show(profile) for profile in profiles))
        return EXIT_OK
    rows = []
    for name in platform_names():
        profile = load_profile(name)
        engines = (
            "; ".join(f"{e.id} ({_formats(e)})" for e in profile.engines)
            or "none known"
        )
        rows.append([name, ", ".join(profile.aliases), profile.title, engines])
    print(
        tabulate(
            rows,
            headers=["platform", "aliases", "title", "engines (formats)"],
            tablefmt="simple",
            maxcolwidths=[None, None, 30, 60],
        )
    )
    from compatcheck.profiles.library import converters

    tools = [
        [t.id, f"{t.from_format} -> {t.to_format}", t.title]
        for t in converters().values()
    ]
    print("\nconversion tools (routes chain them):")
    print(tabulate(tools, headers=["tool", "formats", "title"], tablefmt="simple"))
    return EXIT_OK


def _show(profile) -> str:
    lines = [
        f"{profile.title} ({profile.platform}), researched {profile.researched}",
        f"profile: {profile.path}",
    ]
    if profile.notes:
        lines.append(f"notes: {profile.notes}")
    lines.append("\nlimits:")
    for key, fact in profile.limits.items():
        lines.append(f"  {key}: {_value(fact.value)}  [{fact.cite()}]")
    for key, fact in profile.security.items():
        lines.append(f"  {key}: {_value(fact.value)}  [{fact.cite()}]")
    for engine in profile.engines:
        lines += _engine_lines(engine)
    lines.append("\nsources:")
    for key, source in profile.sources.items():
        lines.append(f"  {key}: {source['url']}")
    return "\n".join(lines) + "\n"


def _engine_lines(engine) -> list[str]:
    lines = [f"\nengine {engine.id}: {engine.title}"]
    facts = [
        engine.status,
        engine.formats,
        engine.io_dtypes,
        engine.dynamic_shapes,
        engine.opset,
        engine.ir_version,
        engine.min_base_library,
        engine.outputs_by,
        engine.quantized_forms,
        engine.speed_reference,
        *engine.options.values(),
    ]
    for fact in filter(None, facts):
        key = fact.path.rsplit(".", 1)[-1]
        if ".options." in fact.path:
            key = f"option {key}"
        lines.append(f"  {key}: {_value(fact.value)}  [{fact.cite()}]")
    if engine.version is not None:
        lines.append(f"  version: {engine.version.value}  [{engine.version.cite()}]")
    lines += [f"  requires: {f.value}  [{f.cite()}]" for f in engine.requires]
    lines += [f"  risk: {f.value}  [{f.cite()}]" for f in engine.risks]
    if engine.spec is not None:
        spec = engine.spec
        size = f"{len(spec.ops)} operators" if spec.ops else "operators unknown"
        lines.append(f"  shared engine profile {spec.id} ({size}): {spec.path}")
    elif engine.rows:
        lines.append(
            f"  operator table: {len(engine.rows)} rows, "
            f"{len(engine.op_map)} mapped operators  [{engine.table.cite()}]"
        )
    return lines


def _formats(engine) -> str:
    return ", ".join(engine.formats.value) if engine.formats.known else "unknown"


def _value(value) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)
