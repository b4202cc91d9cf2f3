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
    ("cycle", "cycle.onnx", "wechat", (), "CC003", None),
    ("a DAG", "relu.onnx", "wechat", (), None, "CC003"),
    ("no engine on qq", "relu.onnx", "qq", (), "CC100", None),
    ("onnx reaches alipay by conversion", "relu.onnx", "alipay", (), None, "CC100"),
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
    ("qdq model on wechat", "qdq_conv.onnx", "wechat", (), "CC420", None),
    ("float model is not quantized", "relu.onnx", "wechat", (), None, "CC420"),
    ("plaintext model on wechat", "relu.onnx", "wechat", (), "CC600", None),
    ("no route, nothing ships", "relu.onnx", "qq", (), None, "CC600"),
    ("leaking metadata", "build_metadata.onnx", "wechat", (), "CC601", None),
    ("tflite without build text", "gelu.tflite", "wechat", (), None, "CC601"),
]


@pytest.mark.parametrize(
    "model, platform, extra, present, absent",
    [case[1:] for case in SYNTHETIC_CASES],
    ids=[case[0] for case in SYNTHETIC_CASES],
)
def test_rule_case(synthetic, check_json, model, platform, extra, present, absent):
    if platform == "wechat":  # these cases are about the native engine
        extra = ("--engine", "wx-inference", *extra)
    result = check_json(synthetic[model], platform, *extra)
    found = codes(result)
    if present:
        assert present in found
    if absent:
        assert absent not in found


def test_every_rule_has_a_case():
    covered = {c[4] for c in SYNTHETIC_CASES} | {c[5] for c in SYNTHETIC_CASES}
    covered |= {"CC002", "CC301", "CC501", "CC502"}  # tested below
    covered |= {c[3] for c in ROUTE_CASES} | {c[4] for c in ROUTE_CASES}
    assert {r.code for r in all_rules()} <= covered


def test_unsupported_operator_names_the_node(synthetic, check_json):
    result = check_json(synthetic["gelu.onnx"], "wechat", "--engine", "wx-inference")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC200"]
    assert finding["op_type"] == "Gelu"
    assert finding["nodes"] == ["act/gelu"]
    assert "Erf" in finding["fix"]
    assert result["verdict"] == "fail"


def test_subgraph_nodes_carry_their_path(synthetic, check_json):
    result = check_json(
        synthetic["if_subgraph.onnx"], "wechat", "--engine", "wx-inference"
    )
    by_op = {f["op_type"]: f for f in result["findings"] if f["code"] == "CC200"}
    assert by_op["If"]["nodes"] == ["branch"]
    assert by_op["Not"]["nodes"] == ["branch.else_branch > flip"]


def test_rank_condition_explains_itself(synthetic, check_json):
    result = check_json(
        synthetic["resize_rank3.onnx"], "wechat", "--engine", "wx-inference"
    )
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
    result = check_json(
        synthetic["dynamic_input.onnx"], "wechat", "--engine", "wx-inference"
    )
    (finding,) = [f for f in result["findings"] if f["code"] == "CC401"]
    assert 'typicalShape: {"x": [1, 3, ?, ?]}' in finding["fix"]
    assert finding["message"] == (
        "input 'x' has dynamic dimension(s) 0 (batch), 2, 3 in shape [batch, 3, ?, ?]"
    )
    given = check_json(
        synthetic["dynamic_input.onnx"],
        "wechat",
        "--engine",
        "wx-inference",
        "--input-shape",
        "x=1x3x64x64",
    )
    (finding,) = [f for f in given["findings"] if f["code"] == "CC401"]
    assert 'typicalShape: {"x": [1, 3, 64, 64]}' in finding["fix"]


def test_opset_warning_says_unverified(synthetic, check_json):
    result = check_json(
        synthetic["relu_opset18.onnx"], "wechat", "--engine", "wx-inference"
    )
    (finding,) = [f for f in result["findings"] if f["code"] == "CC300"]
    assert finding["severity"] == "warning"
    assert "unverified" in finding["message"]
    assert "convert to opset 13 with compatcheck fix" in finding["fix"]
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
    result = check_json(path, profile, "--engine", "wx-inference")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC301"]
    assert finding["severity"] == "error"
    model.ir_version = 8
    onnx.save(model, path)
    assert "CC301" not in codes(check_json(path, profile, "--engine", "wx-inference"))


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
    (finding,) = [f for f in result["findings"] if f["code"] == "CC002"]
    assert finding["severity"] == "warning"
    assert "live in ok.onnx.data, beside the model" in finding["message"]
    embedded = tmp_path / "embedded.onnx"
    import onnx

    onnx.save(large_weights(0.5), embedded)
    assert "CC002" not in codes(check_json(embedded, "wechat"))

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
        ("x=1x3x64", "does not fit input 'x' of shape [batch, 3, ?, ?]"),
        ("x=1x4x64x64", "does not fit input 'x' of shape [batch, 3, ?, ?]"),
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


# Constructs that break a conversion route or a WebGL engine, one model each:
# (case id, model, platform, extra args, code that must appear, code that must not)
ROUTE_CASES = [
    (
        "onnx2tf refuses HardSwish",
        "hardswish.onnx",
        "alipay",
        ("--engine", "tfjs"),
        "CC210",
        None,
    ),
    (
        "onnx2tf converts Relu",
        "relu.onnx",
        "alipay",
        ("--engine", "tfjs"),
        None,
        "CC210",
    ),
    (
        "onnx2tf conversion of If unknown",
        "if_subgraph.onnx",
        "alipay",
        ("--engine", "tfjs"),
        "CC211",
        None,
    ),
    ("Paddle.js lacks clip", "clip.onnx", "baidu", (), "CC200", None),
    (
        "int64 beyond int32 on tfjs",
        "big_int64.onnx",
        "alipay",
        ("--engine", "tfjs"),
        "CC412",
        None,
    ),
    ("texture too large", "huge_activation.onnx", "alipay", (), "CC411", None),
    ("texture fits", "relu.onnx", "alipay", (), None, "CC411"),
    (
        "rank 5 Where on tfjs",
        "where_rank5.onnx",
        "alipay",
        ("--engine", "tfjs"),
        "CC410",
        None,
    ),
    ("rank 4 on tfjs", "relu.onnx", "alipay", ("--engine", "tfjs"), None, "CC410"),
    (
        "NonZero needs executeAsync",
        "nonzero.onnx",
        "alipay",
        ("--engine", "tfjs"),
        "CC414",
        None,
    ),
    (
        "Relu runs synchronously",
        "relu.onnx",
        "alipay",
        ("--engine", "tfjs"),
        None,
        "CC414",
    ),
    (
        "Range runs on the CPU",
        "range.onnx",
        "alipay",
        ("--engine", "tfjs"),
        "CC415",
        None,
    ),
    (
        "Relu runs on the GPU",
        "relu.onnx",
        "alipay",
        ("--engine", "tfjs"),
        None,
        "CC415",
    ),
    ("two inputs on Paddle.js", "two_inputs.onnx", "baidu", (), "CC416", None),
    ("one input on Paddle.js", "relu.onnx", "baidu", (), None, "CC416"),
    (
        "float16 weights widened",
        "float16_weights.onnx",
        "alipay",
        ("--engine", "tfjs"),
        "CC413",
        None,
    ),
    (
        "float32 weights kept",
        "relu.onnx",
        "alipay",
        ("--engine", "tfjs"),
        None,
        "CC413",
    ),
    ("engine requirements listed", "relu.onnx", "alipay", (), "CC110", None),
    (
        "native engine has no requirements",
        "relu.onnx",
        "wechat",
        ("--engine", "wx-inference"),
        None,
        "CC110",
    ),
    (
        "unmaintained plugin warns",
        "relu.onnx",
        "wechat",
        ("--engine", "tfjs"),
        "CC111",
        None,
    ),
    (
        "native engine has no known hazard",
        "relu.onnx",
        "wechat",
        ("--engine", "wx-inference"),
        None,
        "CC111",
    ),
    ("tf2onnx cannot map GELU", "gelu.tflite", "wechat", (), "CC210", None),
]


@pytest.mark.parametrize(
    "model, platform, extra, present, absent",
    [case[1:] for case in ROUTE_CASES],
    ids=[case[0] for case in ROUTE_CASES],
)
def test_route_case(synthetic, check_json, model, platform, extra, present, absent):
    found = codes(check_json(synthetic[model], platform, *extra))
    if present:
        assert present in found
    if absent:
        assert absent not in found


def _only(result, code):
    (finding,) = [f for f in result["findings"] if f["code"] == code]
    return finding


def test_conversion_gap_names_the_node_and_a_rewrite(synthetic, check_json):
    result = check_json(synthetic["hardswish.onnx"], "alipay", "--engine", "tfjs")
    finding = _only(result, "CC210")
    assert finding["nodes"] == ["act/hswish"]
    assert "HARD_SWISH" in finding["message"]
    assert "HardSigmoid" in finding["fix"]
    assert result["route"]["converters"] == ["onnx2tf"]
    assert result["verdict"] == "fail"


def test_paddlejs_gap_names_the_clip_node(synthetic, check_json):
    result = check_json(synthetic["clip.onnx"], "baidu")
    finding = _only(result, "CC200")
    assert finding["op_type"] == "clip"
    assert finding["nodes"] == ["act/clip"]
    assert result["route"]["chain"].startswith("clip.onnx -> x2paddle -> ")


def test_int64_constants_are_judged_by_size(synthetic, check_json):
    result = check_json(synthetic["big_int64.onnx"], "alipay", "--engine", "tfjs")
    by_node = {f["nodes"][0]: f for f in result["findings"] if f["code"] == "CC412"}
    assert by_node["ids/scale"]["severity"] == "error"
    assert "8,589,934,592" in by_node["ids/scale"]["message"]
    assert by_node["ids/offset"]["severity"] == "warning"
    assert "2**24" in by_node["ids/offset"]["message"]


def test_half_float_exactness_is_a_note(synthetic, check_json):
    result = check_json(synthetic["mid_int64.onnx"], "alipay", "--engine", "tfjs")
    finding = _only(result, "CC412")
    assert finding["severity"] == "info"
    assert "only values up to 2,048 are" in finding["message"]
    assert finding["nodes"] == ["ids/offset"]


def test_texture_check_uses_the_given_input_shape(synthetic, check_json):
    model = synthetic["dynamic_activation.onnx"]
    assert "CC411" not in codes(check_json(model, "alipay"))
    sized = check_json(model, "alipay", "--input-shape", "x=1x80x1024x1024")
    finding = _only(sized, "CC411")
    assert "x [1, 80, 1024, 1024] (83,886,080 values" in finding["message"]
    assert finding["nodes"] == ["wide/relu"]
    assert any(
        "max_texture_size = 4096 (community" in f for f in sized["unverified_facts"]
    )


def test_release_pinned_by_the_plugin_is_checked(synthetic, check_json):
    result = check_json(synthetic["random_normal.onnx"], "wechat", "--engine", "tfjs")
    finding = _only(result, "CC200")
    assert "RandomStandardNormal first appears in release 3.21" in finding["message"]
    assert "uses 3.5" in finding["message"]
    assert finding["nodes"] == ["noise"]
    alipay = check_json(synthetic["random_normal.onnx"], "alipay", "--engine", "tfjs")
    assert "CC200" not in codes(alipay)


def test_tflite_gap_on_the_tf2onnx_route(synthetic, check_json):
    result = check_json(synthetic["gelu.tflite"], "wechat")
    assert result["route"]["converters"] == ["tf2onnx"]
    assert result["route"]["chain"] == (
        "gelu.tflite -> tf2onnx -> ONNX -> wx.createInferenceSession (cpu)"
    )
    finding = _only(result, "CC210")
    assert finding["op_type"] == "GELU"
    assert finding["nodes"] == ["x (op 0)"]
    assert "Unsupported ops" in finding["message"]
    assert result["verdict"] == "fail"


def test_every_route_is_in_the_json(synthetic, check_json):
    result = check_json(synthetic["relu.onnx"], "wechat")
    names = {(r["engine"], tuple(r["converters"])) for r in result["routes"]}
    assert names == {
        ("wx-inference", ()),
        ("tfjs-wechat", ("onnx2tf",)),
        ("paddlejs-wechat", ("x2paddle",)),
    }
    # The best route is first: fewest errors, then warnings, then conversions.
    assert result["routes"][0]["engine"] == result["route"]["engine"]
    scores = [
        (r["summary"]["error"], r["summary"]["warning"], len(r["converters"]))
        for r in result["routes"]
    ]
    assert scores == sorted(scores)


def test_engine_flag_forces_a_route(synthetic, check_json, cli):
    result = check_json(synthetic["relu.onnx"], "wechat", "--engine", "paddlejs")
    assert result["route"]["engine"] == "paddlejs-wechat"
    assert [r["engine"] for r in result["routes"]] == ["paddlejs-wechat"]
    bad = cli(synthetic["relu.onnx"], "-p", "wechat", "--engine", "onnxruntime-web")
    assert bad.code == 2
    assert "--engine onnxruntime-web: unknown engine for these platforms" in bad.err
    both = cli(
        synthetic["relu.onnx"], "-p", "baidu,alipay", "--engine", "tfjs", "-f", "json"
    )
    (alipay,) = both.json()["results"]
    assert alipay["route"]["engine"] == "tfjs-webgl"
    assert (
        "--engine tfjs (option or configuration): not checking baidu, which does "
        "not offer it"
    ) in both.err
    mismatch = cli(
        synthetic["relu.onnx"],
        "-p",
        "wechat",
        "--engine",
        "tfjs",
        "--backend",
        "ios-npu",
    )
    assert mismatch.code == 2
    assert "engine tfjs-wechat has no such backend; use webgl" in mismatch.err


def test_backend_keeps_routes_to_engines_that_have_it(synthetic, check_json):
    result = check_json(synthetic["relu.onnx"], "wechat", "--backend", "ios-npu")
    assert [r["engine"] for r in result["routes"]] == ["wx-inference"]
    assert result["route"]["chain"].endswith("wx.createInferenceSession (ios-npu)")
    unreachable = result["unreachable_engines"]
    assert "tfjs-wechat: has no ios-npu backend (--backend)" in unreachable


def test_bytenn_types_are_bounded_by_tensorflow_js(corpus, check_json):
    model = corpus / "onnx-node-tests" / "test_add_uint64.onnx"
    result = check_json(model, "douyin", "--engine", "bytenn")
    types = _findings_of(result, "CC400")
    assert types and all(f["severity"] == "warning" for f in types)
    assert "is uint64" in types[0]["message"]
    tfjs = check_json(model, "douyin", "--engine", "tfjs")
    assert all(f["severity"] == "error" for f in _findings_of(tfjs, "CC400"))


def _findings_of(result, code):
    return [f for f in result["findings"] if f["code"] == code]


def test_rewrite_hint_belongs_to_the_tool(corpus, check_json):
    model = corpus / "mediapipe-npm" / "selfie_segmentation.tflite"
    via_tf2onnx = check_json(model, "wechat", "--engine", "wx-inference")
    (gap,) = [
        f for f in _findings_of(via_tf2onnx, "CC210") if f["op_type"] == "HARD_SWISH"
    ]
    assert "--opset 14" in gap["fix"]
    via_onnx2tf = check_json(model, "alipay", "--engine", "tfjs")
    gaps = [
        f for f in _findings_of(via_onnx2tf, "CC210") if f["op_type"] == "HARD_SWISH"
    ]
    assert gaps and "--opset" not in gaps[0]["fix"]
    assert "relu6(x + 3) / 6" in gaps[0]["fix"]


def test_grouped_convolution_is_the_only_depthwise_one(corpus, check_json):
    vgg = check_json(corpus / "onnx-light" / "light_vgg19.onnx", "douyin")
    (unknown,) = _findings_of(vgg, "CC201")
    assert "DepthwiseConv2dNative" not in unknown["message"]
    assert "Conv2D" in unknown["message"]


def test_widened_weights_name_the_limit_they_cross(tmp_path, check_json):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((1536, 2048), np.float16), "w16")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w16"], ["y"], name="dense")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 1536])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, 2048])],
        [weight],
    )
    path = tmp_path / "half.onnx"
    onnx.save(helper.make_model(graph), path)  # about 6 MB, 12 MB as float32
    result = check_json(path, "douyin", "--engine", "tfjs")
    finding = _only(result, "CC413")
    assert "over the user-file quota (10 MB)" in finding["message"]
    assert "CC501" not in codes(result)


def test_structural_hazards_name_the_nodes(synthetic, check_json):
    cycle = _only(check_json(synthetic["cycle.onnx"], "wechat"), "CC003")
    assert "the graph has a cycle through 2 node(s)" in cycle["message"]
    assert sorted(cycle["nodes"]) == ["first", "second"]
    dangling = _only(check_json(synthetic["dangling_input.onnx"], "wechat"), "CC003")
    assert (
        "tensor 'ghost' is read by 1 node(s) but no node produces it"
        in (dangling["message"])
    )
    assert dangling["nodes"] == ["reads_ghost"]
    twins = check_json(synthetic["duplicate_names.onnx"], "wechat")
    found = {f["severity"]: f for f in twins["findings"] if f["code"] == "CC003"}
    assert "tensor 'y' is produced by 2 nodes" in found["error"]["message"]
    assert found["warning"]["nodes"] == ["twin", "twin#2"]
