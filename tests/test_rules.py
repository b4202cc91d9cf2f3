"""Every rule has a failing and a passing case, on synthetic and real models."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT, codes

from compatcheck.rules import all_rules

# (case id, model, platform, extra args, code that must appear, code that must not)
SYNTHETIC_CASES = [
    ("relu passes engine rules", "relu.onnx", "wechat", (), None, "CC200"),
    ("shape error is reported", "shape_error.onnx", "wechat", (), "CC001", None),
    ("valid model has no analysis note", "relu.onnx", "wechat", (), None, "CC001"),
    ("onnx on alipay has no engine", "relu.onnx", "alipay", (), "CC100", None),
    ("onnx on wechat has an engine", "relu.onnx", "wechat", (), None, "CC100"),
    ("gelu unsupported", "gelu.onnx", "wechat", (), "CC200", None),
    ("lppool support unknown", "lppool.onnx", "wechat", (), "CC201", "CC200"),
    ("relu support known", "relu.onnx", "wechat", (), None, "CC201"),
    ("custom domain", "custom_domain.onnx", "wechat", (), "CC202", None),
    ("standard ops only", "relu.onnx", "wechat", (), None, "CC202"),
    (
        "transpose on npu",
        "transpose.onnx",
        "wechat",
        ("--backend", "ios-npu"),
        "CC203",
        None,
    ),
    ("relu on npu", "relu.onnx", "wechat", ("--backend", "ios-npu"), None, "CC203"),
    ("transpose on cpu", "transpose.onnx", "wechat", (), None, "CC203"),
    ("opset 18 out of range", "relu_opset18.onnx", "wechat", (), "CC300", None),
    ("opset 13 in range", "relu.onnx", "wechat", (), None, "CC300"),
    ("int64 input", "int64_input.onnx", "wechat", (), "CC400", None),
    ("float input", "relu.onnx", "wechat", (), None, "CC400"),
    ("dynamic input", "dynamic_input.onnx", "wechat", (), "CC401", None),
    ("fixed input", "relu.onnx", "wechat", (), None, "CC401"),
    ("onnx not on wechat whitelist", "relu.onnx", "wechat", (), "CC500", None),
    ("small model, unknown whitelist", "relu.onnx", "alipay", (), None, "CC500"),
]


@pytest.mark.parametrize(
    "model, platform, extra, present, absent",
    [case[1:] for case in SYNTHETIC_CASES],
    ids=[case[0] for case in SYNTHETIC_CASES],
)
def test_rule_case(synthetic, check_json, model, platform, extra, present, absent):
    result = check_json(synthetic[model], platform, *extra)
    found = codes(result)
    if present:
        assert present in found
    if absent:
        assert absent not in found


def test_every_rule_has_a_case():
    covered = {c[4] for c in SYNTHETIC_CASES} | {c[5] for c in SYNTHETIC_CASES}
    covered |= {"CC002", "CC301", "CC501", "CC502"}  # tested below
    assert {r.code for r in all_rules()} <= covered


def test_unsupported_operator_names_the_node(synthetic, check_json):
    result = check_json(synthetic["gelu.onnx"], "wechat")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC200"]
    assert finding["op_type"] == "Gelu"
    assert finding["nodes"] == ["act/gelu"]
    assert "Erf" in finding["fix"]
    assert result["verdict"] == "fail"


def test_subgraph_nodes_carry_their_path(synthetic, check_json):
    result = check_json(synthetic["if_subgraph.onnx"], "wechat")
    by_op = {f["op_type"]: f for f in result["findings"] if f["code"] == "CC200"}
    assert by_op["If"]["nodes"] == ["branch"]
    assert by_op["Not"]["nodes"] == ["branch.else_branch > flip"]


def test_rank_condition_explains_itself(synthetic, check_json):
    result = check_json(synthetic["resize_rank3.onnx"], "wechat")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC200"]
    assert "Resize2D needs a rank-4 input, this one has rank 3" in finding["message"]


def test_backend_fallback_lists_rows(synthetic, check_json):
    result = check_json(synthetic["transpose.onnx"], "wechat", "--backend", "ios-npu")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC203"]
    assert "Transpose (row Permute) x1" in finding["message"]
    assert finding["nodes"] == ["to_nhwc"]


def test_gpu_backend_is_not_open(synthetic, check_json):
    result = check_json(synthetic["relu.onnx"], "wechat", "--backend", "ios-gpu")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC203"]
    assert "not available" in finding["message"]


def test_dynamic_input_proposes_typical_shape(synthetic, check_json):
    result = check_json(synthetic["dynamic_input.onnx"], "wechat")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC401"]
    assert "typicalShape: {'x': [1, 3, ?, ?]}" in finding["fix"]
    given = check_json(
        synthetic["dynamic_input.onnx"], "wechat", "--input-shape", "x=1x3x64x64"
    )
    (finding,) = [f for f in given["findings"] if f["code"] == "CC401"]
    assert "typicalShape: {'x': [1, 3, 64, 64]}" in finding["fix"]


def test_opset_warning_says_unverified(synthetic, check_json):
    result = check_json(synthetic["relu_opset18.onnx"], "wechat")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC300"]
    assert finding["severity"] == "warning"
    assert "unverified" in finding["message"]
    assert "convert_version(model, 13)" in finding["fix"]
    assert result["verified"] is False


def _profile_copy(tmp_path, **limit_overrides) -> str:
    data = yaml.safe_load((ROOT / "platform_profiles" / "wechat.yaml").read_text())
    for key, value in limit_overrides.items():
        data["limits"][key]["value"] = value
    data["engines"][0]["ir_version"] = {
        "value": {"min": 3, "max": 8},
        "confidence": "documented",
        "source": "API-CIS",
    }
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return str(path)


def test_ir_version_out_of_a_documented_range(synthetic, check_json, tmp_path):
    profile = _profile_copy(tmp_path)
    import onnx

    model = onnx.load(synthetic["relu.onnx"])
    model.ir_version = 10
    path = tmp_path / "ir10.onnx"
    onnx.save(model, path)
    result = check_json(path, profile)
    (finding,) = [f for f in result["findings"] if f["code"] == "CC301"]
    assert finding["severity"] == "error"
    model.ir_version = 8
    onnx.save(model, path)
    assert "CC301" not in codes(check_json(path, profile))


def test_storage_and_download_limits(tmp_path, check_json):
    import onnx
    from make_models import large_weights

    path = tmp_path / "big.onnx"
    onnx.save(large_weights(11), path)
    alipay = check_json(path, "alipay")
    messages = [f["message"] for f in alipay["findings"] if f["code"] == "CC501"]
    assert any("largest file the mini program may keep" in m for m in messages)
    assert "CC501" not in codes(check_json(path, "wechat"))

    small_download = _profile_copy(tmp_path, download_bytes=5 * 1048576)
    result = check_json(path, small_download)
    assert "CC502" in codes(result) and result["verdict"] == "fail"
    assert "CC502" not in codes(check_json(path, "wechat"))


def test_external_data_outside_the_folder(tmp_path, check_json):
    from make_models import large_weights, point_external_data, save_external

    folder = tmp_path / "model"
    folder.mkdir()
    good = save_external(large_weights(0.5), str(folder), "ok.onnx", "ok.onnx.data")
    result = check_json(good, "wechat")
    assert "CC002" not in codes(result)

    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * 1024 * 1024)
    point_external_data(good, "../secret.bin")
    result = check_json(good, "wechat")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC002"]
    assert "climbs out of the model's folder" in finding["message"]
    assert finding["nodes"] == ["w"]

    point_external_data(good, str(secret))
    result = check_json(good, "wechat")
    assert any("absolute path" in f["message"] for f in result["findings"])


def test_external_data_through_a_symlink(tmp_path, check_json):
    from make_models import large_weights, point_external_data, save_external

    folder = tmp_path / "model"
    folder.mkdir()
    path = save_external(large_weights(0.5), str(folder), "m.onnx", "m.onnx.data")
    (tmp_path / "outside.bin").write_bytes(b"\0" * 600000)
    (folder / "link.bin").symlink_to(tmp_path / "outside.bin")
    point_external_data(path, "link.bin")
    result = check_json(path, "wechat")
    assert any("symbolic link" in f["message"] for f in result["findings"])


def test_external_data_size_counts(tmp_path, check_json, cli):
    from make_models import large_weights, save_external

    path = save_external(large_weights(3), str(tmp_path), "m.onnx", "m.onnx.data")
    done = cli(path, "-p", "wechat", "-f", "json")
    model = done.json()["models"][0]
    assert model["external_data_bytes"] > 3 * 1000000
    assert model["file_size"] < 10000
    package = [f for f in done.json()["results"][0]["findings"] if f["code"] == "CC500"]
    assert "package limit" in package[0]["message"]


@pytest.mark.parametrize(
    "value, message",
    [
        ("x=1x3x64", "does not fit input 'x' of shape [?, 3, ?, ?]"),
        ("x=1x4x64x64", "does not fit input 'x' of shape [?, 3, ?, ?]"),
        ("y=1x3x64x64", "no model has an input of that name; inputs: x"),
        ("x=1x3x６４x64", "expected NAME=DIMS"),
        ("x=1x3x99999999999x64", "expected NAME=DIMS"),
        ("x==1", "no model has an input of that name"),
    ],
)
def test_input_shape_must_fit_the_model(synthetic, cli, value, message):
    done = cli(synthetic["dynamic_input.onnx"], "-p", "wechat", "--input-shape", value)
    assert done.code == 2
    assert message in done.err


def test_the_engine_with_fewest_errors_is_chosen(synthetic, check_json, tmp_path):
    import copy

    data = yaml.safe_load((ROOT / "platform_profiles" / "wechat.yaml").read_text())
    weaker = copy.deepcopy(data["engines"][0])
    weaker["id"] = "weaker"
    del weaker["operators"]["map"]["Relu"]
    data["engines"].insert(0, weaker)
    path = tmp_path / "two_engines.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    result = check_json(synthetic["relu.onnx"], str(path))
    assert result["engine"] == "wx-inference"
    assert "CC200" not in codes(result)


def test_external_data_missing_or_too_short(tmp_path, check_json):
    from make_models import large_weights, save_external

    path = save_external(large_weights(0.5), str(tmp_path), "m.onnx", "m.onnx.data")
    data = tmp_path / "m.onnx.data"
    data.write_bytes(data.read_bytes()[:1000])
    result = check_json(path, "wechat")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC002"]
    assert "+ length 524288 beyond the file's 1000 bytes" in finding["message"]
    data.unlink()
    result = check_json(path, "wechat")
    assert any(
        "names a file that does not exist" in f["message"] for f in result["findings"]
    )
