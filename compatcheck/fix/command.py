"""``compatcheck fix`` on the command line: options, report, exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys

from tabulate import tabulate

from compatcheck.errors import EXIT_FINDINGS, EXIT_OK, UserError

DESCRIPTION = """\
Rewrite an ONNX model so that it loads on a platform, and prove it: the
fixes the check's findings call for are applied, the result is checked
again and run next to the original with onnxruntime on seeded random
inputs (or --inputs), and it is written only when every output stays
within the tolerance.

safe fixes (always applied when a finding calls for them):
  decompose       Gelu, HardSwish, Mish, LayerNormalization, Not, Size and
                  n-ary Sum as operators the engine has (CC200, CC201, CC300)
  convert-opset   the onnx version converter, into the engine's known
                  opset range (CC300)
  cast-io         int64, float16, bool ... inputs and outputs exchanged as
                  types the engine takes, with Casts inside (CC400)
  fix-input-shape dynamic input dimensions set to --input-shape or the
                  proposed feed shape (CC401); other sizes no longer load
  simplify        constant folding and removal of Identity, Dropout and
                  unused nodes and initializers (onnx-simplifier)
unsafe fixes (they change the numbers; only with --unsafe-fixes):
  --quantize float16   weights and computation in float16
  --quantize int8      int8 QDQ, the form WeChat's allowQuantize runs

TFLite models are not rewritten: fix explains what to do with them.
"""

EPILOG = """\
exit codes: 0 fixed (or nothing to fix) and no error remains; 1 an error
remains, or verification failed and nothing was written; 2 bad input.
"""


def fix_command(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    target = _target(args)
    options = _options(args)
    from compatcheck.fix import fix_model

    report = fix_model(args.model, args.platform, options, target)
    if args.format == "json":
        text = json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n"
    else:
        text = render_fix(report)
    sys.stdout.write(text)
    if target is None:  # a dry run fails where a real run would not write
        failed = report.changes and not (report.verified or options.force)
    else:
        failed = report.changes and not report.written
    errors = any(f.severity.value == "error" for f in report.left())
    return EXIT_FINDINGS if errors or failed else EXIT_OK


def _parser() -> argparse.ArgumentParser:
    from compatcheck.cli import OneLineParser

    parser = OneLineParser(
        prog="compatcheck fix",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="an ONNX model file")
    parser.add_argument(
        "-p", "--platform", required=True, metavar="NAME", help="one platform"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "-o", "--output", metavar="OUT", help="write the fixed model here"
    )
    where.add_argument(
        "--in-place", action="store_true", help="replace MODEL (atomically)"
    )
    where.add_argument(
        "--diff",
        action="store_true",
        help="dry run: apply, check and verify, print the plan, write nothing",
    )
    from compatcheck.deploy import add_route_arguments

    add_route_arguments(parser, "the size to fix a dynamic input to")
    parser.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="allow fixes that change the model's numbers (--quantize)",
    )
    parser.add_argument(
        "--quantize",
        choices=("float16", "int8"),
        help="with --unsafe-fixes: float16 weights, or int8 in QDQ form",
    )
    parser.add_argument(
        "--inputs",
        metavar="FILE.npz",
        help="inputs by name for verification (and int8 calibration) instead "
        "of seeded random ones",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of random inputs (default 0)"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        metavar="REL",
        help="largest output difference allowed, relative to the output's "
        "largest magnitude (default 1e-4; 1e-2 float16; 1e-1 int8)",
    )
    parser.add_argument(
        "--force", action="store_true", help="write even when verification fails"
    )
    parser.add_argument(
        "-f",
        "--format",
        choices=("text", "json"),
        default="text",
        help="report format (default text)",
    )
    return parser


def _target(args: argparse.Namespace) -> str | None:
    """Where the fixed model goes; None for a dry run."""
    if not os.path.isfile(args.model):
        problem = "is a folder" if os.path.isdir(args.model) else "does not exist"
        raise UserError(args.model, f"{problem}; give one ONNX model file")
    if args.diff:
        return None
    if args.in_place:
        return args.model
    if not args.output:
        raise UserError("fix", "give -o OUT, --in-place or --diff")
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise UserError(
            args.output, f"cannot be written: folder {folder} does not exist"
        )
    if os.path.exists(args.output):
        same = os.path.samefile(args.model, args.output)
        if same:
            raise UserError(
                args.output, "is the input model; use --in-place to replace it"
            )
        from compatcheck.model import looks_like_model

        if not looks_like_model(args.output) and os.path.getsize(args.output) > 0:
            raise UserError(
                args.output, "exists and is not a model; refusing to replace it"
            )
    return args.output


def _options(args: argparse.Namespace):
    from compatcheck.cli import check_options, load_config, parse_shapes
    from compatcheck.fix import FixOptions
    from compatcheck.profiles import resolve_platforms

    platforms = resolve_platforms([args.platform])
    if len(platforms) != 1:
        raise UserError(f"--platform {args.platform}", "give exactly one platform")
    args.platform = platforms[0]  # "wechat," and aliases name one profile
    if args.quantize and not args.unsafe_fixes:
        raise UserError(
            f"--quantize {args.quantize}",
            "changes the model's numbers; add --unsafe-fixes to allow it",
        )
    if args.seed < 0:
        raise UserError(f"--seed {args.seed}", "give a number of 0 or more")
    if args.tolerance is not None and not args.tolerance >= 0:
        raise UserError(f"--tolerance {args.tolerance}", "give a number of 0 or more")
    if args.inputs and not os.path.isfile(args.inputs):
        raise UserError(args.inputs, "does not exist; give an .npz file of inputs")
    _check_onnxruntime()
    check = check_options(args, load_config(args))
    return FixOptions(
        input_shapes=parse_shapes(args.input_shape),
        engine=check.engine,
        quantize=args.quantize,
        inputs_file=args.inputs,
        seed=args.seed,
        tolerance=args.tolerance,
        force=args.force,
        check=check,
    )


def _check_onnxruntime() -> None:
    import importlib.util

    missing = [
        m for m in ("onnxruntime", "onnxsim") if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise UserError(
            "fix",
            f"needs {', '.join(missing)}: pip install {' '.join(missing)} "
            "(compatcheck's [fix] extra)",
        )


def render_fix(report) -> str:
    """The fix report for a terminal."""
    lines = [
        f"{report.model}: fix for {report.platform} ({report.engine or 'no engine'})"
    ]
    lines.append(f"  before: {_verdict(report.before)}")
    for text in report.explanation:
        lines.append(f"  - {text}")
    if report.changes:
        lines.append("  fixes:")
        for change in report.changes:
            kind = "safe" if change.safe else "UNSAFE"
            codes = f" ({', '.join(change.codes)})" if change.codes else ""
            lines.append(f"    [{kind}] {change.fix}{codes}: {change.summary}")
    for reason in [*report.left_out, *report.refused]:
        lines.append(f"  not fixed: {reason}")
    if report.after is not None:
        lines.append(f"  after: {_verdict(report.after)}")
        lines += _left_lines(report)
    lines += _verification_lines(report)
    if report.size_after:
        lines.append(f"  size: {report.size_before:,} -> {report.size_after:,} bytes")
    if report.written:
        lines.append(f"  wrote {report.written}")
    elif report.not_written:
        lines.append(f"  {report.not_written}")
    from compatcheck.report.plan_text import wrap_lines

    return "\n".join(wrap_lines(lines)) + "\n"


def _verdict(result) -> str:
    from compatcheck.findings import Severity

    return (
        f"{result.verdict.upper()} ({result.count(Severity.ERROR)} error(s), "
        f"{result.count(Severity.WARNING)} warning(s))"
    )


def _left_lines(report) -> list[str]:
    from compatcheck.rules import REGISTRY

    lines = []
    before = {f.code for f in report.before.findings}
    for finding in report.left():
        how = "" if REGISTRY[finding.code].fixable else " (no automatic fix)"
        if finding.code not in before:
            how += " (new: the fixes caused it)"
        lines.append(f"    left: {finding.code} {finding.message}{how}")
    return lines


def _verification_lines(report) -> list[str]:
    from compatcheck.fix.verify import FLOAT16_MAX

    if report.verify_problem:
        return [f"  verification: not possible: {report.verify_problem}"]
    if not report.diffs:
        return []
    rows = [
        [
            d.name,
            f"{d.max_abs:.3g}",
            f"{d.max_rel:.3g}",
            f"{d.tolerance:g}",
            "ok" if d.ok else "FAILED",
        ]
        for d in report.diffs
    ]
    table = tabulate(
        rows,
        headers=["output", "max abs diff", "max rel diff", "tolerance", "result"],
        tablefmt="simple",
    )
    head = "  verification (onnxruntime, both models on the same inputs):"
    lines = [head, *("    " + line for line in table.splitlines())]
    if report.overflows:
        worst = report.overflows[0]
        lines.append(
            f"    FAILED float16 range: {len(report.overflows)} tensor(s) of the "
            f"original exceed {FLOAT16_MAX:g}, the largest float16 value "
            f"({worst.tensor!r} reaches {worst.largest:.3g}); in float16 they "
            "become infinity. onnxruntime on a CPU may compute float16 operators "
            "in float32, so the table above need not show it"
        )
    return lines
