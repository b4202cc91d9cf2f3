"""compatcheck fix: each fix resolves its finding, verified by running both models."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
import onnx
import pytest
from conftest import DATA, codes, through_a_pipe

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxsim")

SR = DATA / "pytorch_super_resolution.onnx"


def _fix(cli, model, out, *extra):
    """Run fix with a JSON report; assert the input is left untouched."""
    before = hashlib.sha256(open(model, "rb").read()).hexdigest()
    done = cli("fix", model, "-p", "wechat", "-o", out, "-f", "json", *extra)
    assert hashlib.sha256(open(model, "rb").read()).hexdigest() == before
    return done, (json.loads(done.out) if done.out else None)


def _score(verdict: dict) -> tuple[int, int]:
    return verdict["errors"], verdict["warnings"]


# (model, extra arguments, code that must be gone, fixes that must be applied)
FIX_CASES = [
    ("gelu.onnx", (), "CC200", {"decompose", "convert-opset"}),
    ("hardswish.onnx", (), "CC300", {"decompose", "convert-opset"}),
    ("mish.onnx", (), "CC200", {"decompose", "convert-opset"}),
    ("layer_norm.onnx", (), "CC300", {"decompose", "convert-opset"}),
    ("not.onnx", (), "CC200", {"decompose"}),
    ("size.onnx", (), "CC400", {"decompose", "cast-io"}),
    ("int64_input.onnx", (), "CC400", {"cast-io"}),
    (
        "dynamic_input.onnx",
        ("--input-shape", "x=1x3x32x32"),
        "CC401",
        {"fix-input-shape"},
    ),
    ("relu_opset18.onnx", (), "CC300", {"convert-opset"}),
]


@pytest.mark.parametrize("name, extra, gone, fixes", FIX_CASES)
def test_each_fix_resolves_its_finding(
    cli, check_json, synthetic, tmp_path, name, extra, gone, fixes
):
    source = synthetic[name]
    assert gone in codes(check_json(source, "wechat", "--engine", "wx-inference"))
    out = tmp_path / "fixed.onnx"
    done, report = _fix(cli, source, out, *extra)
    assert done.code == 0, done.out + done.err
    assert fixes <= {c["fix"] for c in report["changes"]}
    assert all(c["safe"] for c in report["changes"])
    # The finding is gone when the written model is checked afresh.
    after = check_json(out, "wechat", "--engine", "wx-inference")
    assert gone not in codes(after)
    assert _score(report["after"]) < _score(report["before"])
    verification = report["verification"]
    assert verification["verified"] is True
    for output in verification["outputs"]:
        assert output["ok"] and output["max_rel_diff"] <= 1e-4


def test_the_text_report_prints_the_measured_error(cli, synthetic, tmp_path):
    out = tmp_path / "fixed.onnx"
    done = cli("fix", synthetic["layer_norm.onnx"], "-p", "wechat", "-o", out)
    assert done.code == 0, done.out
    text = done.out
    assert "[safe] decompose (CC300): decomposed LayerNormalization x1" in text
    assert "before: WARN (0 error(s), 2 warning(s))" in text
    assert "after: WARN (0 error(s), 1 warning(s))" in text
    assert "verification (onnxruntime, both models on the same inputs):" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("y "))
    measured = row.split()
    assert measured[-1] == "ok" and float(measured[2]) <= 1e-4
    assert f"wrote {out}" in text


def test_simplify_removes_what_does_nothing(cli, synthetic, tmp_path):
    out = tmp_path / "fixed.onnx"
    done, report = _fix(cli, synthetic["identity_dropout.onnx"], out)
    assert done.code == 0
    (change,) = report["changes"]
    assert change["fix"] == "simplify"
    assert "Dropout x1, Identity x1" in change["summary"]
    fixed = onnx.load(out)
    assert [n.op_type for n in fixed.graph.node] == ["Relu"]
    assert not fixed.graph.initializer  # the unused one is gone
    assert report["bytes_after"] < report["bytes_before"]
    assert report["verification"]["verified"] is True


def test_simplify_is_credited_only_with_what_it_folds_away(cli, synthetic, tmp_path):
    out = tmp_path / "fixed.onnx"
    done, report = _fix(cli, synthetic["folded_eyelike.onnx"], out)
    (change,) = report["changes"]
    assert change["fix"] == "simplify" and change["codes"] == ["CC200"]
    assert report["before"]["errors"] == 1 and report["after"]["errors"] == 0
    assert done.code == 0 and report["verification"]["verified"] is True
    # Removing an Identity and a Dropout resolves no finding.
    _, dropped = _fix(cli, synthetic["identity_dropout.onnx"], tmp_path / "b.onnx")
    assert dropped["changes"][0]["codes"] == []


def test_n_ary_sum_and_tanh_gelu_decompose_exactly(synthetic, tmp_path):
    """Decompositions the WeChat table does not call for, run directly."""
    from compatcheck.fix.passes import decompose
    from compatcheck.fix.verify import compare
    from compatcheck.model import load_model
    from compatcheck.profiles import load_profile

    engine = load_profile("wechat").engine("wx-inference")
    tanh_gelu = onnx.load(synthetic["gelu.onnx"])
    tanh_gelu.graph.node[0].attribute.append(
        onnx.helper.make_attribute("approximate", "tanh")
    )
    onnx.save(tanh_gelu, tmp_path / "gelu_tanh.onnx")
    for path, node_id in (
        (synthetic["sum3.onnx"], "sum3"),
        (str(tmp_path / "gelu_tanh.onnx"), "act/gelu"),
    ):
        proto = onnx.shape_inference.infer_shapes(onnx.load(path))
        change = decompose(proto, load_model(path), engine, {node_id}, None)
        assert change is not None and change.nodes == [node_id]
        fixed = tmp_path / "fixed.onnx"
        onnx.save(proto, fixed)
        rng = np.random.default_rng(3)
        feeds = {
            i.name: rng.standard_normal(
                [d.dim_value for d in i.type.tensor_type.shape.dim]
            ).astype(np.float32)
            for i in proto.graph.input
        }
        (diff,) = compare(path, str(fixed), feeds, 1e-4)
        assert diff.ok, (path, diff)
    assert {n.op_type for n in proto.graph.node} <= {"Constant", "Mul", "Add", "Tanh"}


def test_simplify_never_stores_what_the_model_generates(cli, synthetic, tmp_path):
    out = tmp_path / "fixed.onnx"
    done, report = _fix(cli, synthetic["constant_generator.onnx"], out)
    assert done.code == 0, done.out
    (change,) = report["changes"]
    assert change["fix"] == "simplify" and change["codes"] == []
    assert change["summary"].startswith("kept constant generators")
    assert "ConstantOfShape" in {n.op_type for n in onnx.load(out).graph.node}
    assert report["bytes_after"] <= report["bytes_before"]


def test_simplify_leaves_no_settings_in_the_metadata(
    cli, check_json, synthetic, tmp_path
):
    out = tmp_path / "fixed.onnx"
    done, _ = _fix(cli, synthetic["identity_dropout.onnx"], out)
    assert done.code == 0
    assert not onnx.load(out).metadata_props
    (finding,) = [
        f for f in check_json(out, "wechat")["findings"] if f["code"] == "CC601"
    ]
    assert finding["severity"] == "info"


def test_a_dry_run_that_fails_verification_exits_1(cli, synthetic, tmp_path):
    model = tmp_path / "m.onnx"
    shutil.copy(synthetic["cost.onnx"], model)
    done = cli(
        "fix", model, "-p", "wechat", "--diff", "-f", "json", "--unsafe-fixes",
        "--quantize", "float16", "--tolerance", "1e-9",
    )  # fmt: skip
    assert done.code == 1
    report = json.loads(done.out)
    assert report["verification"]["verified"] is False
    assert report["not_written"] == "dry run (--diff): nothing written"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_fixes_for_another_engine_than_the_best_route_say_so(cli, synthetic):
    done = cli("fix", synthetic["int64_input.onnx"], "-p", "wechat", "--diff")
    assert done.code == 0, done.out
    report = json.loads(
        cli(
            "fix", synthetic["int64_input.onnx"], "-p", "wechat", "--diff", "-f", "json"
        ).out
    )
    (note,) = report["explanation"]
    assert note == (
        "the check's best route on wechat is tfjs-wechat via onnx2tf, warn; fix "
        "rewrites the ONNX file for wx-inference, the engine that loads it as it "
        "is (--engine chooses another)"
    )
    assert report["engine"] == "wx-inference"
    assert "  - the check's best route on wechat" in done.out


def test_a_platform_without_an_onnx_engine_says_which_fixes_apply(cli, synthetic):
    done = cli(
        "fix", synthetic["int64_input.onnx"], "-p", "douyin", "--diff", "-f", "json"
    )
    (note,) = json.loads(done.out)["explanation"]
    assert note.startswith("no engine on douyin loads ONNX as it is")
    assert (
        "engine-specific fixes (decompose, convert-opset, cast-io) do not apply" in note
    )


def test_float16_is_unsafe_and_reports_the_size_change(cli, synthetic, tmp_path):
    out = tmp_path / "half.onnx"
    done, report = _fix(
        cli, synthetic["cost.onnx"], out, "--unsafe-fixes", "--quantize", "float16"
    )
    assert done.code == 0, done.out
    (change,) = report["changes"]
    assert (change["fix"], change["safe"]) == ("float16", False)
    assert report["bytes_after"] < 0.6 * report["bytes_before"]
    (output,) = report["verification"]["outputs"]
    assert output["tolerance"] == 1e-2 and output["ok"]
    assert output["max_rel_diff"] > 0  # float16 does change the numbers


def test_int8_writes_the_qdq_form_wechat_runs(cli, check_json, synthetic, tmp_path):
    out = tmp_path / "int8.onnx"
    done, report = _fix(
        cli, synthetic["cost.onnx"], out, "--unsafe-fixes", "--quantize", "int8"
    )
    assert done.code == 0, done.out
    assert report["changes"][0]["fix"] == "int8-qdq"
    assert report["verification"]["outputs"][0]["tolerance"] == 1e-1
    after = check_json(out, "wechat", "--engine", "wx-inference")
    (finding,) = [f for f in after["findings"] if f["code"] == "CC420"]
    assert finding["severity"] == "info" and "int8 in QDQ form" in finding["message"]
    assert after["plan"]["session_options"]["allowQuantize"] is True
    assert report["bytes_after"] < report["bytes_before"]


def test_a_fix_that_fails_verification_is_not_written(cli, synthetic, tmp_path):
    out = tmp_path / "half.onnx"
    done, report = _fix(
        cli,
        synthetic["cost.onnx"],
        out,
        "--unsafe-fixes",
        "--quantize",
        "float16",
        "--tolerance",
        "1e-9",
    )
    assert done.code == 1
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind
    assert report["verification"]["verified"] is False
    assert report["not_written"].startswith("verification failed; nothing written")
    forced, _ = _fix(
        cli, synthetic["cost.onnx"], out, "--unsafe-fixes", "--quantize",
        "float16", "--tolerance", "1e-9", "--force",
    )  # fmt: skip
    assert out.exists()


def test_unverifiable_models_are_not_written_without_force(cli, synthetic, tmp_path):
    # An opset to convert, and a custom operator onnxruntime cannot run.
    model = onnx.load(synthetic["custom_domain.onnx"])
    model.opset_import[0].version = 18
    source = tmp_path / "custom.onnx"
    onnx.save(model, source)
    out = tmp_path / "fixed.onnx"
    done, report = _fix(cli, source, out)
    assert report["changes"][0]["fix"] == "convert-opset"
    assert report["verification"]["problem"].startswith(
        "onnxruntime cannot run the original model"
    )
    assert done.code == 1 and not out.exists()


def test_in_place_replaces_the_model_atomically(cli, synthetic, tmp_path):
    model = tmp_path / "m.onnx"
    shutil.copy(synthetic["int64_input.onnx"], model)
    done = cli("fix", model, "-p", "wechat", "--in-place")
    assert done.code == 0, done.out
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]
    fixed = onnx.load(model)
    assert fixed.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT32


def test_diff_writes_nothing(cli, synthetic, tmp_path):
    model = tmp_path / "m.onnx"
    shutil.copy(synthetic["gelu.onnx"], model)
    done = cli("fix", model, "-p", "wechat", "--diff")
    assert done.code == 0
    assert "dry run (--diff): nothing written" in done.out
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("--quantize", "int8", "-o", "x.onnx"), "add --unsafe-fixes to allow it"),
        ((), "give -o OUT, --in-place or --diff"),
        (("-o", "{model}"), "is the input model; use --in-place"),
        (("-o", "/nonexistent/x.onnx"), "folder /nonexistent does not exist"),
        (("--diff", "-p", "all"), "give exactly one platform"),
        (("--diff", "--tolerance", "-1"), "give a number of 0 or more"),
        (("--diff", "--inputs", "missing.npz"), "missing.npz: does not exist"),
    ],
)
def test_usage_errors(cli, tmp_path, monkeypatch, args, message):
    model = tmp_path / "m.onnx"
    shutil.copy(SR, model)
    monkeypatch.chdir(tmp_path)
    args = tuple(str(model) if a == "{model}" else a for a in args)
    platform = () if "-p" in args else ("-p", "wechat")
    done = cli("fix", model, *platform, *args)
    assert done.code == 2, done.out
    assert message in done.err
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_external_data_models_are_refused(cli, tmp_path):
    from make_models import save_external

    model = onnx.load(SR)
    path = save_external(model, str(tmp_path), "m.onnx", "m.data")
    done = cli("fix", path, "-p", "wechat", "--diff")
    assert done.code == 2 and "keeps weights in external data files" in done.err


def test_tflite_is_explained_not_rewritten(cli, tmp_path):
    model = tmp_path / "m.tflite"
    shutil.copy(DATA / "selfie_segmentation.tflite", model)
    done = cli("fix", model, "-p", "wechat", "-o", tmp_path / "out.onnx")
    assert "python -m tf2onnx.convert --tflite model.tflite" in done.out
    assert "run compatcheck fix on the .onnx file" in done.out
    assert "compatcheck fixes ONNX models only" in done.out
    assert [p.name for p in tmp_path.iterdir()] == ["m.tflite"]


# Real models ------------------------------------------------------------------


def test_super_resolution_loses_its_opset_and_shape_warnings(cli, tmp_path):
    out = tmp_path / "sr.onnx"
    done, report = _fix(cli, SR, out)
    assert done.code == 0
    assert {c["fix"] for c in report["changes"]} == {"convert-opset", "fix-input-shape"}
    assert _score(report["before"]) == (0, 3)
    assert _score(report["after"]) == (0, 1)
    assert [f["code"] for f in report["left"]] == ["CC500"]
    assert report["verification"]["outputs"][0]["max_abs_diff"] == 0.0


@pytest.mark.parametrize(
    "name, gone",
    [
        ("test_gelu_default_1.onnx", "CC200"),
        ("test_gelu_tanh_1.onnx", "CC200"),
        ("test_mish.onnx", "CC200"),
        ("test_hardswish.onnx", "CC300"),
    ],
)
def test_node_test_activations_become_supported(
    cli, check_json, corpus, tmp_path, name, gone
):
    model = corpus / "onnx-node-tests" / name
    out = tmp_path / "fixed.onnx"
    done, report = _fix(cli, model, out)
    assert done.code == 0, done.out
    assert report["verification"]["verified"] is True
    assert gone not in codes(check_json(out, "wechat", "--engine", "wx-inference"))
    assert report["after"]["errors"] == 0


def test_onnx_ml_model_gets_casts_and_no_opset_change(
    cli, check_json, corpus, tmp_path
):
    """Only ONNX-ML operators: no ai.onnx opset to move; the sequence output
    cannot be cast, the int64 one is, and the graph stays whole."""
    model = corpus / "onnxruntime-datasets" / "logreg_iris.onnx"
    out = tmp_path / "fixed.onnx"
    done, report = _fix(cli, model, out)
    (change,) = report["changes"]
    assert change["fix"] == "cast-io"
    assert change["summary"].startswith("cast output label: int64 -> int32 (not:")
    assert report["verification"]["verified"] is True
    assert report["after"]["errors"] == report["before"]["errors"] - 1
    assert "CC003" not in codes(check_json(out, "wechat", "--engine", "wx-inference"))
    imports = {o.domain: o.version for o in onnx.load(out).opset_import}
    assert imports == {"ai.onnx.ml": 1, "": 13}


def test_fixed_shapes_leave_no_open_output_sizes(cli, check_json, corpus, tmp_path):
    # The exporter wrote -1 for the output's batch size.
    model = corpus / "rapidocr" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    out = tmp_path / "fixed.onnx"
    done, report = _fix(cli, model, out, "--input-shape", "x=1x3x48x192")
    assert done.code == 0, done.out
    assert "fix-input-shape" in {c["fix"] for c in report["changes"]}
    assert "CC001" not in codes(check_json(out, "wechat", "--engine", "wx-inference"))
    dims = onnx.load(out).graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 2]


def test_light_model_is_not_made_larger(cli, corpus, tmp_path):
    model = corpus / "onnx-light" / "light_resnet50.onnx"
    done, report = _fix(cli, model, tmp_path / "fixed.onnx")
    assert done.code == 0, done.out
    assert report["bytes_after"] <= report["bytes_before"]


def test_fastestdet_opset_is_moved_into_range(cli, check_json, corpus, tmp_path):
    model = corpus / "onnxruntime-extensions" / "FastestDet.onnx"
    out = tmp_path / "fixed.onnx"
    done, report = _fix(cli, model, out)
    assert done.code == 0, done.out
    assert report["changes"][0]["fix"] == "convert-opset"
    assert "CC300" not in codes(check_json(out, "wechat", "--engine", "wx-inference"))
    assert onnx.load(out).opset_import[0].version == 13


def test_silero_vad_errors_go_down_with_real_inputs(cli, corpus, tmp_path):
    model = corpus / "silero-vad" / "silero_vad.onnx"
    inputs = tmp_path / "inputs.npz"
    rng = np.random.default_rng(0)
    np.savez(
        inputs,
        input=rng.standard_normal((1, 512)).astype(np.float32) * 0.1,
        state=np.zeros((2, 1, 128), np.float32),
        sr=np.array(16000, np.int64),
    )
    out = tmp_path / "fixed.onnx"
    done, report = _fix(cli, model, out, "--inputs", inputs)
    assert report["verification"]["verified"] is True, report["verification"]
    assert report["before"]["errors"] == 4
    assert report["after"]["errors"] == 1  # If has no WeChat row
    applied = {c["fix"] for c in report["changes"]}
    assert {"decompose", "convert-opset", "cast-io"} <= applied
    # The arrays give the sizes; fixing them stops the model running (below).
    assert "fix-input-shape" not in applied
    assert done.code == 1  # an error remains; the model is still written
    assert out.exists()


def test_a_fix_that_stops_the_model_running_is_left_out(cli, corpus, tmp_path):
    # Fixing silero's input sizes lets shape inference reach the LSTM of the
    # If branch the inputs do not take, and onnxruntime refuses the model:
    # that fix is left out and the others are applied and verified again.
    model = corpus / "silero-vad" / "silero_vad.onnx"
    inputs = tmp_path / "inputs.npz"
    np.savez(
        inputs,
        input=np.zeros((1, 512), np.float32),
        state=np.zeros((2, 1, 128), np.float32),
        sr=np.array(16000, np.int64),
    )
    out = tmp_path / "fixed.onnx"
    shapes = ("--input-shape", "input=1x512", "--input-shape", "state=2x1x128")
    done, report = _fix(cli, model, out, "--inputs", inputs, *shapes)
    (left_out,) = [r for r in report["refused"] if r.endswith("; left out")]
    assert left_out.startswith(
        "fix-input-shape: onnxruntime cannot run the fixed model: "
    )
    assert "fix-input-shape" not in {c["fix"] for c in report["changes"]}
    assert report["verification"]["verified"] is True
    assert done.code == 1 and out.exists()  # the If error remains


def test_a_nan_on_one_side_fails_verification():
    from compatcheck.fix.verify import _diff

    expected = np.array([1.0, 2.0, 3.0])
    assert not _diff("y", expected, np.array([1.0, np.nan, 3.0]), 1e-4).ok
    assert not _diff("y", expected, np.array([1.0, np.inf, 3.0]), 1e-4).ok
    both = np.array([1.0, np.nan, np.inf])
    assert _diff("y", both, both.copy(), 1e-4).ok
    assert _diff("y", np.array(["a", "b"]), np.array(["a", "b"]), 1e-4).ok
    assert not _diff("y", np.array(["a", "b"]), np.array(["a", "c"]), 1e-4).ok
    # JSON has no infinity: the report writes null.
    failed = _diff("y", expected, np.array([1.0, np.nan, 3.0]), 1e-4).to_dict()
    assert failed["max_abs_diff"] is None and failed["ok"] is False


INT8 = ("--unsafe-fixes", "--quantize", "int8")


@pytest.mark.parametrize(
    "name, extra",
    [
        # string inputs: no random values, and no calibration either
        ("test_ai_onnx_ml_label_encoder_string_int", ()),
        ("test_ai_onnx_ml_label_encoder_string_int", INT8),
        # float8 inputs numpy has no type for
        ("test_castlike_no_saturate_FLOAT_to_FLOAT8E4M3FNUZ_expanded", ()),
        # a sequence of tensors as the output
        ("test_split_to_sequence_nokeepdims", ()),
        # an input of unknown shape: nothing to calibrate int8 on
        ("test_reduce_sum_square_empty_set_expanded", INT8),
    ],
)  # fmt: skip
def test_fix_reports_what_it_cannot_verify(cli, corpus, tmp_path, name, extra):
    model = corpus / "onnx-node-tests" / f"{name}.onnx"
    done, report = _fix(cli, model, tmp_path / "fixed.onnx", *extra)
    assert done.code in (0, 1), done.err
    assert report is not None and "internal error" not in done.err
    verification = report["verification"]
    assert verification["verified"] or verification["problem"] or not report["changes"]


def test_fix_takes_a_profile_file(cli, tmp_path):
    profile = tmp_path / "our-wechat.yaml"
    profile.write_text(
        "extends: wechat\nplatform: our-wechat\ntitle: WeChat, opset 15 tested\n"
        "sources:\n  OURS: {url: 'https://wiki.example.com/tests'}\n"
        "engines:\n  - id: wx-inference\n"
        "    opset: {value: {min: 8, max: 15}, confidence: documented, source: OURS}\n"
    )
    done = cli("fix", SR, "-p", profile, "--diff", "-f", "json")
    assert done.code == 0, done.err
    report = done.json()
    assert report["platform"] == "our-wechat"
    # Opset 15 is in this profile's range: only the shapes need fixing.
    assert [c["fix"] for c in report["changes"]] == ["fix-input-shape"]
    assert report["verification"]["verified"] is True


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--seed", "-1", "--diff"), "--seed -1: give a number of 0 or more"),
        (("-o", "/proc/fixed.onnx"), "/proc/fixed.onnx: cannot write the fixed model"),
        (
            ("--input-shape", "input=2147483647x1x224x224", "--diff"),
            "elements; one input holds at most 2,147,483,647",
        ),
        (
            (
                "--diff",
                "--input-shape",
                "input=1x1x8x8",
                "--input-shape",
                "input=1x1x9x9",
            ),
            "'input' is given twice",
        ),
    ],
)
def test_fix_bad_options_are_one_line(cli, extra, message):
    done = cli("fix", SR, "-p", "wechat", *extra)
    assert done.code == 2, done.out
    assert message in done.err and len(done.err.splitlines()) == 1


def test_fix_writes_into_a_device_without_replacing_it(cli, tmp_path):
    done, received = through_a_pipe(cli, tmp_path, "fix", SR, "-p", "wechat")
    assert done.code == 0, done.out
    assert onnx.load_from_string(received).graph.input[0].name == "input"


def test_sigterm_leaves_no_temporary_file(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from onnx import TensorProto, helper, numpy_helper

    # A 25 MB weight keeps the fixed model's temporary file around for a while.
    weight = numpy_helper.from_array(np.ones((2500, 2500), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2500])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2500])],
        [weight],
    )
    model = tmp_path / "big.onnx"
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model
    )
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "compatcheck", "fix", model, "-p", "wechat"]
    running = subprocess.Popen(
        [*map(str, command), "-o", str(out / "fixed.onnx")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(out.iterdir()) and running.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    running.send_signal(signal.SIGTERM)
    _, err = running.communicate(timeout=120)
    if running.returncode == 0:  # finished before the signal: nothing to test
        pytest.skip("the fix finished before SIGTERM arrived")
    assert running.returncode == 143, err
    assert err == "compatcheck: terminated\n"
    assert list(out.iterdir()) == []


def test_float16_that_overflows_is_not_written(cli, synthetic, tmp_path):
    out = tmp_path / "fixed.onnx"
    model = synthetic["float16_overflow.onnx"]
    done, report = _fix(cli, model, out, "--unsafe-fixes", "--quantize", "float16")
    assert done.code == 1 and not out.exists()
    verification = report["verification"]
    assert verification["verified"] is False
    (worst, *_) = verification["float16_overflows"]
    assert worst["tensor"] == "q" and worst["largest"] > 65504
    text = cli("fix", model, "-p", "wechat", "--diff", "--unsafe-fixes", "--quantize",
               "float16").out  # fmt: skip
    assert "FAILED float16 range: 2 tensor(s) of the original exceed 65504" in text
    # --force writes it anyway.
    _fix(cli, model, out, "--unsafe-fixes", "--quantize", "float16", "--force")
    assert out.exists()


def test_external_data_in_a_constant_node_is_refused(cli, tmp_path):
    from onnx import TensorProto, helper

    value = helper.make_tensor("c", TensorProto.FLOAT, [4], [0.0] * 4)
    value.ClearField("float_data")
    value.data_location = TensorProto.EXTERNAL
    value.external_data.add(key="location", value="c.data")
    (tmp_path / "c.data").write_bytes(bytes(16))
    nodes = [
        helper.make_node("Constant", [], ["c"], value=value),
        helper.make_node("Add", ["x", "c"], ["y"]),
    ]
    info = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes,
        "g",
        [info("x", TensorProto.FLOAT, [4])],
        [info("y", TensorProto.FLOAT, [4])],
    )
    path = tmp_path / "m.onnx"
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path
    )
    done = cli("fix", path, "-p", "wechat", "--diff")
    assert done.code == 2 and "keeps weights in external data files" in done.err


def test_random_inputs_stay_within_memory():
    from compatcheck.fix.verify import MAX_RANDOM_ELEMENTS, CannotVerify, random_inputs
    from compatcheck.plan.contract import TensorContract

    huge = TensorContract(
        name="x", dtype="float32", shape=[1, 2**20, 2**10], feed_shape=[1, 2**20, 2**10]
    )
    assert 2**30 > MAX_RANDOM_ELEMENTS
    with pytest.raises(CannotVerify, match="more than 268,435,456 to make at random"):
        random_inputs([huge], seed=0)


def test_in_place_keeps_the_permissions_and_the_link(cli, tmp_path):
    model = tmp_path / "private.onnx"
    shutil.copy(SR, model)
    os.chmod(model, 0o600)
    link = tmp_path / "link.onnx"
    link.symlink_to(model.name)
    done = cli("fix", link, "-p", "wechat", "--in-place")
    assert done.code == 0, done.out
    assert link.is_symlink() and os.readlink(link) == model.name
    assert os.stat(model).st_mode & 0o777 == 0o600
    assert onnx.load(model).opset_import[0].version == 13  # the target was fixed
