"""Wall time and peak memory of compatcheck on large models.

Builds three models in a temporary folder (or --workdir):

- ``embedded.onnx``: a MatMul chain holding about 400 MB of weights inside
  the file;
- ``external.onnx``: the same weights in an external data file;
- ``wide.onnx``: 30,000 small nodes.
- ``namesakes.onnx``: the same 30,000 nodes, all with one name.

Each is checked by compatcheck and by onnxruntime's usability checker
(``python -m onnxruntime.tools.check_onnx_model_mobile_usability``), each in
its own process, and the wall time and peak resident memory of that process
are printed. Needs ``pip install '.[bench]'`` for onnxruntime.

Usage: python benchmarks/bench_scale.py [--weights-mb 400] [--nodes 30000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from tabulate import tabulate

# The models are built in a child process: a child forked from a process
# that holds them would report the parent's memory as its own peak.


def matmul_chain(weight_mb: int):
    """Square MatMuls whose weights add up to about ``weight_mb`` MB."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    size = 2048
    count = max(1, weight_mb * 1048576 // (size * size * 4))
    nodes, weights = [], []
    previous = "x"
    for i in range(count):
        name = f"w{i}"
        weights.append(
            numpy_helper.from_array(np.full((size, size), i, np.float32), name)
        )
        nodes.append(
            helper.make_node("MatMul", [previous, name], [f"h{i}"], name=f"mm{i}")
        )
        previous = f"h{i}"
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, size])],
        [helper.make_tensor_value_info(previous, TensorProto.FLOAT, [1, size])],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def wide_graph(node_count: int, same_name: bool = False):
    """A long chain of Relu and Add nodes on a small tensor.

    With ``same_name`` every node is called ``n``, as some exporters write
    them: each needs an id of its own.
    """
    from onnx import TensorProto, helper

    nodes = []
    previous = "x"
    for i in range(node_count):
        op = "Relu" if i % 2 else "Add"
        inputs = [previous] if op == "Relu" else [previous, "x"]
        name = "n" if same_name else f"n{i}"
        nodes.append(helper.make_node(op, inputs, [f"t{i}"], name=name))
        previous = f"t{i}"
    info = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes,
        "wide",
        [info("x", TensorProto.FLOAT, [1, 16])],
        [info(previous, TensorProto.FLOAT, [1, 16])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def measure(command: list[str]) -> tuple[float, float, int]:
    """Run ``command``; return (seconds, peak MB of that process, exit code)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss / 1024, process.returncode


NAMES = ("embedded.onnx", "external.onnx", "wide.onnx", "namesakes.onnx")


def build(folder: str, weight_mb: int, nodes: int) -> None:
    import onnx

    paths = {name: os.path.join(folder, name) for name in NAMES}
    chain = matmul_chain(weight_mb)
    onnx.save(chain, paths["embedded.onnx"])
    onnx.save(
        chain,
        paths["external.onnx"],
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="external.onnx.data",
    )
    del chain
    onnx.save(wide_graph(nodes), paths["wide.onnx"])
    onnx.save(wide_graph(nodes, same_name=True), paths["namesakes.onnx"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights-mb", type=int, default=400)
    parser.add_argument("--nodes", type=int, default=30000)
    parser.add_argument("--workdir", help="keep the models here instead of a temp dir")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        build(args.workdir, args.weights_mb, args.nodes)
        return

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.workdir or scratch
        os.makedirs(folder, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--build-only",
                "--workdir",
                folder,
                "--weights-mb",
                str(args.weights_mb),
                "--nodes",
                str(args.nodes),
            ],
            check=True,
        )
        paths = {name: os.path.join(folder, name) for name in NAMES}
        tools = {
            "compatcheck": [
                sys.executable,
                "-m",
                "compatcheck",
                "-p",
                "wechat",
                "-f",
                "json",
            ],
            "compatcheck, every platform and route": [
                sys.executable,
                "-m",
                "compatcheck",
                "-p",
                "all",
                "-f",
                "json",
            ],
            "onnxruntime usability checker": [
                sys.executable,
                "-m",
                "onnxruntime.tools.check_onnx_model_mobile_usability",
            ],
        }
        rows = [
            [
                "python -c 'import onnx' (baseline)",
                "-",
                *_run([sys.executable, "-c", "import onnx"]),
            ]
        ]
        for name, path in paths.items():
            size = os.path.getsize(path)
            extra = path + ".data"
            if os.path.exists(extra):
                size += os.path.getsize(extra)
            for tool, command in tools.items():
                rows.append(
                    [
                        f"{tool}: {name}",
                        f"{size / 1048576:.0f}",
                        *_run([*command, path]),
                    ]
                )
    print(
        tabulate(
            rows,
            headers=["run", "model MB", "seconds", "peak MB", "exit"],
            floatfmt=".2f",
        )
    )


def _run(command: list[str]) -> list:
    seconds, peak, code = measure(command)
    return [seconds, peak, code]


if __name__ == "__main__":
    main()
