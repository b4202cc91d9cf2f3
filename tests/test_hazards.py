"""Hostile files: what compatcheck opens, and that it changes nothing."""

from __future__ import annotations

import hashlib
import os
import sys

import pytest
from conftest import DATA

_OPENED: list[str] = []
_RECORDING = [False]


def _audit(event: str, args: tuple) -> None:
    if _RECORDING[0] and event == "open" and isinstance(args[0], (str, bytes)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one is gated


def _opened_during(run) -> list[str]:
    _OPENED.clear()
    _RECORDING[0] = True
    try:
        run()
    finally:
        _RECORDING[0] = False
    return list(_OPENED)


def test_external_data_outside_the_folder_is_never_opened(tmp_path, cli):
    from make_models import large_weights, point_external_data, save_external

    folder = tmp_path / "model"
    folder.mkdir()
    path = save_external(large_weights(0.5), str(folder), "m.onnx", "m.onnx.data")
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * 1048576)
    os.symlink(secret, folder / "link.bin")
    for location in ("../secret.bin", str(secret), "link.bin"):
        point_external_data(path, location)
        runs = []

        def check(runs=runs):
            runs.append(cli(path, "-p", "wechat", "-f", "json"))

        opened = _opened_during(check)
        assert runs[0].code in (0, 1)
        assert "CC002" in runs[0].out
        # Of the files under the test folder, only the model itself is opened.
        under_tmp = {p for p in opened if p.startswith(str(tmp_path))}
        assert under_tmp == {path}, (location, under_tmp)


def _snapshot(folder) -> dict[str, str]:
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in sorted(os.listdir(folder))
    }


def test_inputs_are_never_modified_and_nothing_is_written_beside_them(
    tmp_path, cli, monkeypatch
):
    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("pytorch_super_resolution.onnx", "selfie_segmentation.tflite"):
        (folder / name).write_bytes((DATA / name).read_bytes())
    (folder / "broken.onnx").write_bytes(b"\x07" * 64)
    before = _snapshot(folder)
    monkeypatch.chdir(tmp_path)
    for fmt in ("text", "json", "sarif", "junit", "github", "markdown"):
        cli(folder, "-p", "all", "-f", fmt, "-j", "2")
    cli(folder, "-p", "wechat", "--write-baseline", tmp_path / "baseline.json")
    assert _snapshot(folder) == before
    assert sorted(os.listdir(tmp_path)) == ["baseline.json", "models"]


def _crafted(name: str, folder) -> str:
    """Write one crafted hazard file into ``folder``; return its path."""
    import make_models
    import onnx

    path = folder / name
    builders = {
        "cycle.onnx": lambda: onnx.save(make_models.cycle(), path),
        "dangling.onnx": lambda: onnx.save(make_models.dangling_input(), path),
        "twins.onnx": lambda: onnx.save(make_models.duplicate_names(), path),
        "deep.onnx": lambda: path.write_bytes(make_models.deep_nesting_bytes(400)),
        "tensor_index.tflite": lambda: path.write_bytes(
            make_models.tflite_bytes(tensor_index=9)
        ),
        "buffer_index.tflite": lambda: path.write_bytes(
            make_models.tflite_bytes(buffer_index=7)
        ),
    }
    builders[name]()
    return str(path)


HAZARDS = [
    ("cycle.onnx", 1, "the graph has a cycle through 2 node(s)"),
    ("dangling.onnx", 1, "tensor 'ghost' is read by 1 node(s) but no node produces"),
    ("twins.onnx", 1, "tensor 'y' is produced by 2 nodes"),
    ("deep.onnx", 2, "its subgraphs are nested more than 24 levels deep"),
    ("tensor_index.tflite", 2, "corrupt TFLite file: operator 0 refers to tensor 9"),
    ("buffer_index.tflite", 2, "corrupt TFLite file: a tensor refers to buffer 7"),
]


@pytest.mark.parametrize("name, code, message", HAZARDS, ids=[h[0] for h in HAZARDS])
def test_structural_hazards_open_only_the_model(tmp_path, cli, name, code, message):
    folder = tmp_path / "model"
    folder.mkdir()
    path = _crafted(name, folder)
    runs = []

    def check():
        runs.append(cli(path, "-p", "wechat", "--no-config", "-f", "json"))

    opened = _opened_during(check)
    done = runs[0]
    assert done.code == code, done.err
    assert message in (done.out if code == 1 else done.err)
    assert {p for p in opened if p.startswith(str(tmp_path))} == {path}


def test_tflite_constants_must_match_their_buffers(tmp_path):
    from make_models import tflite_bytes

    from compatcheck.errors import ModelFormatError
    from compatcheck.model import load_model

    for shape, message in [
        (
            (100, 100),
            "declares shape [100, 100] of float32 (40000 bytes) but its buffer",
        ),
        ((-5, 4), "tensor 'x' has a negative dimension [-5, 4]"),
    ]:
        path = tmp_path / "odd.tflite"
        path.write_bytes(tflite_bytes(shape=shape))
        with pytest.raises(ModelFormatError) as caught:
            load_model(str(path))
        assert message in caught.value.problem


def test_a_graph_output_nothing_produces(tmp_path, cli):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4])],
    )
    path = tmp_path / "orphan.onnx"
    onnx.save(helper.make_model(graph), path)
    done = cli(path, "-p", "wechat", "--engine", "wx-inference", "-f", "json")
    (finding,) = [
        f for f in done.json()["results"][0]["findings"] if f["code"] == "CC003"
    ]
    assert finding["nodes"] == ["graph output z"]


def test_baseline_must_be_a_regular_file(cli):
    done = cli(
        DATA / "pytorch_super_resolution.onnx",
        "-p",
        "wechat",
        "--baseline",
        "/dev/zero",
    )
    assert done.code == 2 and "/dev/zero: is not a regular file" in done.err
    same = cli(
        DATA / "pytorch_super_resolution.onnx", "-p", "wechat", "--write-baseline", "-"
    )
    assert same.code == 2 and "give a file name for the baseline" in same.err


def test_a_closed_pipe_is_not_an_internal_error():
    import subprocess

    process = subprocess.Popen(
        [sys.executable, "-m", "compatcheck", "rules"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    process.stdout.read(10)
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) in (0, 141)
    assert "internal error" not in err and "Traceback" not in err
