"""Mutation fuzzing of the model loaders and the whole check, with Hypothesis.

Real ONNX and TFLite models are mutated (bit flips, truncation, duplicated,
deleted and inserted byte runs, absurd 32-bit values and protobuf varints)
and each result is checked by compatcheck in this process. Whatever the
bytes, the run must end in a report (exit 0 or 1) or a one-line error
(exit 2), never an internal error or a traceback, within a time bound.

The test suite runs a short seeded campaign (``tests/test_fuzz.py``). For a
long one:

    python tests/fuzz_models.py --examples 200000 --seed 7 --keep crashes/

which writes every failing input to ``crashes/`` and prints a summary.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "models"

# Small real models of both formats, with subgraphs, quantization, custom
# and Flex operators, so that mutations reach every part of the loaders.
SEED_MODELS = [
    "onnxruntime-datasets/mul_1.onnx",
    "onnxruntime-datasets/logreg_iris.onnx",
    "onnx-light/light_bvlc_alexnet.onnx",
    "onnx-light/light_squeezenet.onnx",
    "onnx-node-tests/test_if.onnx",
    "onnx-node-tests/test_loop11.onnx",
    "onnx-node-tests/test_scan9_sum.onnx",
    "onnx-node-tests/test_resize_downsample_scales_linear.onnx",
    "onnxruntime-extensions/custom_op_test.onnx",
    "tflite-micro/hello_world_int8.tflite",
    "tflite-micro/magic_wand.tflite",
    "tflite-support/dilated_conv.tflite",
    "tflite-support/whitespace_tokenizer_flex_delegate.tflite",
]
# Platforms that exercise the native engine and every conversion route.
PLATFORMS = "wechat,douyin"
# Seconds one input may take; the slowest seed takes well under a second.
TIME_BOUND = 20.0
EXTREMES = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF]
HUGE_VARINT = b"\xff" * 9 + b"\x01"


def seed_models() -> list[tuple[str, bytes]]:
    """(suffix, bytes) of every seed model found beside the checkout."""
    seeds = []
    for name in SEED_MODELS:
        path = CORPUS / name
        if path.is_file():
            seeds.append((path.suffix, path.read_bytes()))
    return seeds


@st.composite
def mutated_models(draw, seeds: list[tuple[str, bytes]]):
    """A seed model with one to four mutations applied."""
    suffix, original = draw(st.sampled_from(seeds))
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        data = _mutate(draw, data)
    return suffix, bytes(data)


def _mutate(draw, data: bytearray) -> bytearray:
    size = len(data)
    if size == 0:
        return bytearray(draw(st.binary(min_size=1, max_size=64)))
    at = draw(st.integers(0, size - 1))
    kind = draw(
        st.sampled_from(
            [
                "flip",
                "byte",
                "truncate",
                "duplicate",
                "delete",
                "insert",
                "int32",
                "varint",
            ]
        )
    )
    if kind == "flip":
        data[at] ^= 1 << draw(st.integers(0, 7))
    elif kind == "byte":
        data[at] = draw(st.integers(0, 255))
    elif kind == "truncate":
        del data[at:]
    elif kind in ("duplicate", "delete"):
        end = min(size, at + draw(st.integers(1, 512)))
        piece = data[at:end]
        if kind == "delete":
            del data[at:end]
        else:
            where = draw(st.integers(0, size))
            data[where:where] = piece
    elif kind == "insert":
        data[at:at] = draw(st.binary(min_size=1, max_size=32))
    elif kind == "int32":
        value = draw(st.sampled_from(EXTREMES) | st.integers(0, 0xFFFF_FFFF))
        data[at : at + 4] = value.to_bytes(4, "little")
    else:
        data[at : at + 1] = HUGE_VARINT
    return data


def check_bytes(suffix: str, data: bytes, folder: str) -> str | None:
    """Run compatcheck on one input; return what went wrong, or None."""
    from compatcheck.cli import main

    path = os.path.join(folder, f"model{suffix}")
    with open(path, "wb") as handle:
        handle.write(data)
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([path, "-p", PLATFORMS, "-f", "json", "--no-config"])
    elapsed = time.perf_counter() - started
    errors = err.getvalue()
    if code not in (0, 1, 2):
        return f"exit {code}: {errors.strip()}"
    if "Traceback" in errors or "internal error" in errors:
        return f"crash: {errors.strip()}"
    if code == 2 and len(errors.strip().splitlines()) != 1:
        return f"exit 2 without exactly one error line: {errors!r}"
    if code in (0, 1) and not out.getvalue().startswith("{"):
        return "exit 0 or 1 without a report"
    if elapsed > TIME_BOUND:
        return f"took {elapsed:.1f} s (bound {TIME_BOUND} s)"
    return None


def main() -> int:
    from hypothesis import HealthCheck, given, seed, settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", metavar="FOLDER", help="save failing inputs here")
    args = parser.parse_args()
    seeds = seed_models()
    if not seeds:
        print(f"no seed models found under {CORPUS}", file=sys.stderr)
        return 2
    failures: list[str] = []
    runs = [0]

    with tempfile.TemporaryDirectory() as folder:

        @seed(args.seed)
        @settings(
            max_examples=args.examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(mutated_models(seeds))
        def campaign(case):
            # Failures are recorded, not raised, so the campaign goes on.
            suffix, data = case
            runs[0] += 1
            problem = check_bytes(suffix, data, folder)
            if problem is None:
                return
            failures.append(problem)
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                Path(args.keep, f"failure-{len(failures)}{suffix}").write_bytes(data)
            print(f"FAIL {len(failures)}: {problem}", file=sys.stderr)

        campaign()
    print(f"{runs[0]} inputs checked, {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
