"""Command line: a thin layer over loading, checking and rendering.

Heavy modules (onnx, the TFLite schema) are imported only when a model is
checked, so ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys

from compatcheck import __version__
from compatcheck.errors import (
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    UserError,
)

SUBCOMMANDS = ("rules", "explain", "profiles")

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
"""

EPILOG = """\
exit codes:
  0  no finding is an error
  1  at least one finding is an error
  2  bad input or usage: missing, truncated or corrupt file, unknown
     platform, broken profile (one line on stderr names the file)
  3  internal error in compatcheck (please report it)

Known limitations: verdicts rest on the platforms' published facts; where a
fact is not documented by the vendor the report says the verdict is
unverified. A model named like a command (rules, explain, profiles) must be
given as ./rules.
"""


class OneLineParser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        raise UserError(self.prog, f"{message} (see --help)")


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
        help="ONNX (.onnx) or TFLite (.tflite) model files",
    )
    parser.add_argument(
        "-p",
        "--platform",
        action="append",
        required=True,
        metavar="NAME",
        help="wechat, alipay, baidu, douyin (bytedance), qq, all, "
        "or a profile .yaml file; repeat or separate with commas",
    )
    parser.add_argument(
        "-f",
        "--format",
        choices=("text", "json"),
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
        "--backend",
        metavar="NAME",
        help="backend the session will ask for, e.g. ios-npu "
        "(WeChat allowNPU); reports operators without a kernel there",
    )
    parser.add_argument(
        "--engine",
        metavar="NAME",
        help="check only routes to this engine (an engine id such as "
        "wx-inference, or a shared engine: tfjs, paddlejs, bytenn)",
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
        "--version", action="version", version=f"compatcheck {__version__}"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] in SUBCOMMANDS:
            from compatcheck.commands import run_subcommand

            return run_subcommand(argv)
        return _check(build_parser().parse_args(argv))
    except UserError as exc:
        print(f"compatcheck: error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("compatcheck: interrupted", file=sys.stderr)
        return 130
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

    options = _options(args)
    _refuse_overwriting_inputs(args.output, args.models)
    report = run_check(args.models, args.platform, options)

    from compatcheck.report import render

    text = render(report, args.format)
    _write(text, args.output)
    for error in report.errors:
        line = _one_line(f"{error.path}: {error.message}")
        print(f"compatcheck: error: {line}", file=sys.stderr)
    if report.errors:
        return EXIT_USAGE
    if any(r.verdict == "fail" for r in report.results):
        return EXIT_FINDINGS
    return EXIT_OK


def _options(args: argparse.Namespace):
    from compatcheck.rules import Options

    shapes: dict[str, tuple[int, ...]] = {}
    for item in args.input_shape:
        name, shape = _parse_shape(item)
        if name in shapes:
            raise UserError(f"--input-shape {item}", f"{name!r} is given twice")
        shapes[name] = shape
    engine = args.engine.strip().lower() if args.engine is not None else None
    return Options(backend=args.backend, input_shapes=shapes, engine=engine)


# Sizes become JavaScript typed-array lengths, which stay below 2**31.
_MAX_DIM = 2**31 - 1


def _parse_shape(item: str) -> tuple[str, tuple[int, ...]]:
    """``NAME=1x3x224x224`` -> (NAME, (1, 3, 224, 224))."""
    name, _, dims = item.rpartition("=")
    parts = dims.lower().split("x")
    if name and all(p.isascii() and p.isdigit() for p in parts):
        shape = tuple(int(p) for p in parts)
        if all(1 <= d <= _MAX_DIM for d in shape):
            return name, shape
    raise UserError(
        f"--input-shape {item}",
        "expected NAME=DIMS with sizes from 1 to 2147483647, e.g. x=1x3x224x224",
    )


def _one_line(text: str) -> str:
    """Error messages are one line; quote any line breaks in user input."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


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
    if os.path.isfile(output) and _is_model(output):
        raise UserError(
            output, "is a model file; refusing to overwrite it with a report"
        )


def _is_model(path: str) -> bool:
    from compatcheck.model import sniff

    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return False
    return bool(head) and sniff(path, head) in ("onnx", "tflite")


def _write(text: str, output: str | None) -> None:
    if output in (None, "-"):
        sys.stdout.write(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UserError(output, f"cannot write the report ({exc.strerror})") from None
