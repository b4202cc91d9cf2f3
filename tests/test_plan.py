"""The deployment plan: contract, cost, quantization, loading, manifest, snippet."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import jsonschema
import pytest
from conftest import DATA, ROOT, through_a_pipe

from compatcheck.model import load_model
from compatcheck.plan import plan_model
from compatcheck.plan.cost import count_macs, count_parameters, peak_activation
from compatcheck.plan.manifest import schema
from compatcheck.plan.quant import quantization_state

SR = DATA / "pytorch_super_resolution.onnx"
QUANT_TFLITE = DATA / "mobilenet_v1_0.25_224_quant.tflite"
SELFIE = DATA / "selfie_segmentation.tflite"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def _json(cli, *args):
    done = cli(*args, "-f", "json", "--no-config")
    return json.loads(done.out)


# Contract -----------------------------------------------------------------


def test_onnx_contract_names_types_shapes_and_layout(cli):
    document = _json(cli, SR, "-p", "wechat")
    (model,) = document["models"]
    (tensor,) = model["plan"]["inputs"]
    assert tensor["name"] == "input"
    assert tensor["dtype"] == "float32"
    assert tensor["shape"] == ["batch_size", 1, 224, 224]
    assert tensor["feed_shape"] == [1, 1, 224, 224]
    assert tensor["filled"] == [
        "dimension 0 (batch_size) = 1: one item per run (batch)"
    ]
    assert tensor["layout"] == "NCHW"
    assert tensor["layout_reason"] == "it feeds Conv 'Conv_0', which takes NCHW"
    (output,) = model["plan"]["outputs"]
    assert (output["name"], output["dtype"]) == ("output", "float32")
    # The symbolic batch of the output takes the value chosen for the input.
    assert output["feed_shape"] == [1, 1, 672, 672]
    (result,) = document["results"]
    assert result["plan"]["output_keys"] == {"output": "output"}


def test_layout_is_seen_through_a_cast(cli, tmp_path):
    """A float16 model casts its float32 input before the first Conv."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(SR)
    graph = model.graph
    first = graph.node[0]
    assert first.op_type == "Conv" and first.input[0] == "input"
    first.input[0] = "input_cast"
    cast = helper.make_node("Cast", ["input"], ["input_cast"], to=TensorProto.FLOAT)
    graph.node.insert(0, cast)
    path = tmp_path / "cast_first.onnx"
    onnx.save(model, path)
    (tensor,) = _json(cli, path, "-p", "wechat")["models"][0]["plan"]["inputs"]
    assert tensor["layout"] == "NCHW"
    assert tensor["layout_reason"] == "it feeds Conv 'Conv_0', which takes NCHW"


def test_tflite_contract_reads_normalisation_from_metadata(cli):
    document = _json(cli, QUANT_TFLITE, "-p", "alipay")
    (model,) = document["models"]
    (tensor,) = model["plan"]["inputs"]
    assert tensor["name"] == "input"
    assert tensor["dtype"] == "uint8"
    assert tensor["shape"] == [1, 224, 224, 3]
    assert tensor["layout"] == "NHWC"
    norm = tensor["normalisation"]
    assert norm["source"] == "TFLite metadata"
    assert (norm["mean"], norm["std"]) == ([127.5], [127.5])
    assert (norm["min"], norm["max"]) == ([0.0], [255.0])
    assert norm["color_space"] == "RGB"
    (output,) = model["plan"]["outputs"]
    assert output["name"] == "MobilenetV1/Predictions/Reshape_1"
    assert output["shape"] == [1, 1001]
    # TensorFlow.js returns outputs as an array in output order.
    (result,) = document["results"]
    assert result["plan"]["output_keys"] == {"MobilenetV1/Predictions/Reshape_1": 0}


def test_onnx_metadata_properties_are_shown_as_preprocessing(synthetic):
    model = load_model(synthetic["build_metadata.onnx"])
    plan = plan_model(model, {})
    norm = plan.contract.inputs[0].normalisation
    assert norm["source"] == "ONNX metadata_props"
    assert norm["properties"] == {
        "Image.NominalPixelRange": "Normalized_0_1",
        "mean": "0.485,0.456",
    }


def test_tflite_layout_without_metadata(cli):
    (model,) = _json(cli, SELFIE, "-p", "wechat")["models"]
    (tensor,) = model["plan"]["inputs"]
    assert tensor["layout"] == "NHWC"
    assert tensor["normalisation"] is None


def test_given_input_shape_fills_dynamic_dimensions(cli):
    document = _json(cli, SR, "-p", "wechat", "--input-shape", "input=2x1x224x224")
    (tensor,) = document["models"][0]["plan"]["inputs"]
    assert tensor["feed_shape"] == [2, 1, 224, 224]
    assert tensor["filled"] == ["every dimension from --input-shape"]
    (output,) = document["models"][0]["plan"]["outputs"]
    assert output["feed_shape"] == [2, 1, 672, 672]
    options = document["results"][0]["plan"]["session_options"]
    assert options["typicalShape"] == {"input": [2, 1, 224, 224]}


# Cost ---------------------------------------------------------------------


def test_macs_and_parameters_match_the_hand_computed_values(synthetic):
    model = load_model(synthetic["cost.onnx"])
    macs, unknown = count_macs(model, {})
    assert macs == {"Conv": 6912, "Gemm": 2560}
    assert unknown == []
    assert count_parameters(model) == 4 * 3 * 3 * 3 + 4 + 10 * 256 + 10


def test_peak_memory_keeps_a_tensor_alive_until_its_last_reader(synthetic):
    model = load_model(synthetic["liveness.onnx"])
    peak, where, unknown = peak_activation(model, {})
    assert (peak, where, unknown) == (3 * 1024, "sigmoid", 0)


def test_real_model_cost(cli):
    cost = _json(cli, SR, "-p", "wechat")["models"][0]["plan"]["cost"]
    # Four convolutions at 224 x 224: 1->64 (5x5), 64->64, 64->32, 32->9 (3x3).
    positions = 224 * 224
    expected = positions * (64 * 25 + 64 * 64 * 9 + 32 * 64 * 9 + 9 * 32 * 9)
    assert cost["macs_by_operator"] == {"Conv": expected}
    assert cost["parameters"] == 59657
    # The first Relu holds its 64 x 224 x 224 float32 input and output.
    assert cost["peak_activation_bytes"] == 2 * 64 * positions * 4
    assert cost["weight_bytes"] == {"float32": 238628}
    assert cost["float16_weights_bytes"] == cost["file_bytes"] - 238628 // 2
    assert 0 < cost["gzip_bytes"] < cost["file_bytes"]
    assert cost["compression_exact"] is True


def test_tflite_macs_are_counted_from_filter_shapes(cli):
    cost = _json(cli, QUANT_TFLITE, "-p", "alipay")["models"][0]["plan"]["cost"]
    assert set(cost["macs_by_operator"]) == {"CONV_2D", "DEPTHWISE_CONV_2D"}
    assert cost["macs_unknown_nodes"] == []
    # MobileNet v1 0.25 at 224: about 41 million multiply-accumulates.
    assert 40_000_000 < cost["macs"] < 42_000_000


def test_large_files_are_compressed_from_samples(tmp_path, monkeypatch):
    from compatcheck.plan import cost

    payload = bytes(range(256)) * 4096  # 1 MiB that compresses well
    path = tmp_path / "blob"
    path.write_bytes(payload)
    exact = cost.compressed_sizes([str(path)])
    monkeypatch.setattr(cost, "EXACT_COMPRESSION_BYTES", 1024)
    sampled = cost.compressed_sizes([str(path)])
    assert exact[2] is True and sampled[2] is False
    assert sampled[0] < len(payload) // 10


# Quantization -------------------------------------------------------------


@pytest.mark.parametrize(
    "name, form",
    [
        ("test_quantizelinear.onnx", "qdq"),
        ("test_dequantizelinear.onnx", "qdq"),
        ("test_qlinearconv.onnx", "operator"),
        ("test_matmulinteger.onnx", "operator"),
        ("test_dynamicquantizelinear.onnx", "dynamic"),
        ("test_relu.onnx", "float32"),
    ],
)
def test_quantization_state_of_node_test_models(corpus, name, form):
    model = load_model(str(corpus / "onnx-node-tests" / name))
    assert quantization_state(model).form == form


def test_full_integer_tflite(corpus):
    assert quantization_state(load_model(str(QUANT_TFLITE))).form == "full-integer"
    float_model = (
        corpus / "tflite-support" / "mobilenet_v1_0.25_224_1_metadata_1.tflite"
    )
    assert quantization_state(load_model(str(float_model))).form == "float32"


def test_operator_form_is_not_what_wechat_runs(corpus, check_json):
    model = corpus / "onnx-node-tests" / "test_qlinearconv.onnx"
    result = check_json(model, "wechat", "--engine", "wx-inference")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC420"]
    assert finding["severity"] == "warning"
    assert "documents only qdq" in finding["message"]
    assert result["plan"]["session_options"]["allowQuantize"] is False


def test_qdq_model_asks_for_allow_quantize(synthetic, check_json):
    result = check_json(synthetic["qdq_conv.onnx"], "wechat")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC420"]
    assert finding["severity"] == "info"
    assert "allowQuantize: true" in finding["message"]
    options = result["plan"]["session_options"]
    assert options["allowQuantize"] is True
    assert "QDQ" in result["plan"]["session_option_reasons"]["allowQuantize"]


def test_quantization_trade_off_is_spelled_out(cli):
    text = cli(SR, "-p", "wechat", "--no-config").out
    assert "quantization: not quantized: float32 weights and activations" in text
    assert "accuracy cost" in text


# Loading and session ------------------------------------------------------


def test_wechat_plan_downloads_the_onnx_file(check_json):
    loading = check_json(SR, "wechat")["plan"]["loading"]
    assert loading["where"] == "download"
    assert ".onnx is not on the package upload whitelist" in loading["steps"][0]
    assert "wx.downloadFile" in loading["steps"][1]
    assert "one download: fits (0.23 MB of 200.00 MB)" in loading["steps"]
    assert "on demand" in loading["when"]
    # WeChat keeps .br files in packages, so brotli is given too.
    assert set(loading["transfer_bytes"]) == {"gzip", "brotli"}


def test_compute_and_memory_are_compared_with_the_guidance(check_json):
    wechat = check_json(SR, "wechat")["plan"]["guidance"]
    # 2.98 G MACs against MobileNetV2's 300 M in WeChat's timing.
    assert wechat[0].startswith("compute: 9.9 times the MACs of the reference model")
    assert "iPhone 13 Pro Max (documented, TUT-INT8)" in wechat[0]
    assert wechat[1] == (
        "memory: peak activations 24.50 MB; no memory budget is documented"
    )
    alipay = check_json(SR, "alipay")["plan"]["guidance"]
    assert alipay[0].startswith("compute: no documented timing for TensorFlow.js")


def test_a_whitelisted_small_model_goes_in_a_subpackage(check_json, tmp_path):
    profile = tmp_path / "onnx-ok.yaml"
    profile.write_text(
        "extends: wechat\nplatform: onnxok\nlimits:\n  package_file_types:\n"
        "    value: [onnx, json]\n    confidence: inferred\n    source: STRUCT\n"
    )
    loading = check_json(SR, str(profile))["plan"]["loading"]
    assert loading["where"] == "subpackage"
    assert "subpackage of its own" in loading["steps"][0]
    assert loading["transfer_bytes"] == {"gzip": loading["transfer_bytes"]["gzip"]}


def test_converted_route_sizes_are_estimates(check_json):
    plan = check_json(QUANT_TFLITE, "alipay")["plan"]
    assert plan["engine"] == "tfjs-webgl"
    assert plan["loading"]["model_bytes_estimated"] is True
    assert "my.downloadFile" in plan["loading"]["steps"][1]
    assert (
        "model-<version>/ (model.json and its .bin files)"
        in plan["loading"]["steps"][1]
    )


def test_npu_is_proposed_only_when_every_operator_has_a_kernel(synthetic, check_json):
    plan = check_json(synthetic["relu.onnx"], "wechat", "--engine", "wx-inference")
    assert plan["plan"]["session_options"]["allowNPU"] is True
    plan = check_json(synthetic["transpose.onnx"], "wechat", "--engine", "wx-inference")
    assert plan["plan"]["session_options"]["allowNPU"] is False
    assert "(Transpose)" in plan["plan"]["session_option_reasons"]["allowNPU"]


def test_text_report_shows_the_plan_and_no_plan_hides_it(cli):
    text = cli(SR, "-p", "wechat", "--no-config").out
    for line in (
        "  inputs:",
        "    input: float32 [batch_size, 1, 224, 224] -> [1, 1, 224, 224], NCHW",
        "    2.98 G MACs (Conv 2.98 G)",
        "    peak activations 24.50 MB at Relu_1",
        "    plan (wx-inference): download",
        "    results: by output name: res['output']",
    ):
        assert line in text
    assert "base library 2.30.0 or later" in text
    hidden = cli(SR, "-p", "wechat", "--no-config", "--no-plan").out
    assert "plan (" not in hidden and "inputs:" not in hidden
    document = _json(cli, SR, "-p", "wechat", "--no-plan")
    assert document["models"][0]["plan"] is None
    assert document["results"][0]["plan"] is None


# Security -----------------------------------------------------------------


def test_build_metadata_names_the_user_and_the_path(synthetic, check_json):
    result = check_json(synthetic["build_metadata.onnx"], "wechat")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC601"]
    assert finding["severity"] == "warning"
    assert "user name(s) alice" in finding["message"]
    assert "'/home/alice/work/seg/train.py' in model" in finding["message"]
    assert "2 doc string(s)" in finding["message"]


def test_producer_alone_is_information(check_json):
    result = check_json(SR, "wechat")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC601"]
    assert finding["severity"] == "info"
    assert finding["message"].endswith("producer 'pytorch 1.11.0'")


def test_plaintext_model_note_names_the_options(check_json):
    result = check_json(SR, "wechat")
    (finding,) = [f for f in result["findings"] if f["code"] == "CC600"]
    assert "offers no model encryption" in finding["message"]
    assert "keep a sensitive model on a server" in finding["fix"]
    other = check_json(SR, "alipay")
    (finding,) = [f for f in other["findings"] if f["code"] == "CC600"]
    assert "no model encryption is documented" in finding["message"]


# Manifest -----------------------------------------------------------------


def test_manifest_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(schema())


def test_manifest_validates_and_hashes_the_model(cli, tmp_path):
    out = tmp_path / "manifest.json"
    done = cli(
        "manifest", SR, "-p", "wechat", "--model-version", "2.1.0",
        "--url", "https://cdn.example.com/sr/", "-o", out,
    )  # fmt: skip
    assert done.code == 0, done.err
    document = json.loads(out.read_text())
    jsonschema.Draft202012Validator(schema()).validate(document)
    digest = hashlib.sha256(SR.read_bytes()).hexdigest()
    assert document["sha256"] == digest
    assert document["bytes"] == SR.stat().st_size
    assert document["files"] == [
        {"name": SR.name, "bytes": SR.stat().st_size, "sha256": digest}
    ]
    assert document["version"] == "2.1.0"
    assert document["engine"]["min_base_library"] == "2.30.0"
    assert document["engine"]["options"] == {
        "precisionLevel": 4,
        "allowQuantize": False,
        "allowNPU": True,
        "typicalShape": {"input": [1, 1, 224, 224]},
    }
    assert document["inputs"][0]["feed_shape"] == [1, 1, 224, 224]
    assert document["outputs"][0]["key"] == "output"
    assert document["verdict"]["result"] == "warn"
    assert document["verdict"]["verified"] is False
    assert document["transfer_bytes"]["gzip"] < document["bytes"]


def test_manifest_of_a_converted_route_needs_the_converted_files(cli, synthetic):
    done = cli("manifest", SELFIE, "-p", "wechat", "--model-version", "1")
    assert done.code == 2
    assert "is converted first (tf2onnx" in done.err
    assert "--file" in done.err
    converted = synthetic["relu.onnx"]
    done = cli(
        "manifest", QUANT_TFLITE, "-p", "wechat", "--model-version", "1",
        "--file", converted,
    )  # fmt: skip
    assert done.code == 0, done.err
    document = json.loads(done.out)
    assert [f["name"] for f in document["files"]] == ["relu.onnx"]
    assert document["route"]["converters"] == ["tf2onnx"]
    assert document["engine"]["options"]["allowQuantize"] is True


def test_manifest_files_of_an_unconverted_route_start_with_the_model(cli, synthetic):
    other = synthetic["relu.onnx"]
    done = cli("manifest", SR, "-p", "wechat", "--model-version", "1", "--file", other)
    assert done.code == 2 and done.out == ""
    assert f"{other}: on wechat the engine loads the model itself" in done.err
    done = cli(
        "manifest", SR, "-p", "wechat", "--model-version", "1",
        "--file", SR, "--file", other,
    )  # fmt: skip
    assert done.code == 0, done.err
    names = [f["name"] for f in json.loads(done.out)["files"]]
    assert names == [SR.name, "relu.onnx"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("--model-version", "../x"), "--model-version ../x: use 1 to 64 letters"),
        (("--model-version", "1.0\n"), ": use 1 to 64 letters"),
        (("--model-version", "1", "-p", "qq"), "no route reaches an engine on QQ"),
        (("--model-version", "1", "-p", "all"), "give exactly one platform"),
    ],
)
def test_manifest_usage_errors(cli, args, message):
    platform = () if "-p" in args else ("-p", "wechat")
    done = cli("manifest", SR, *platform, *args)
    assert done.code == 2 and message in done.err
    assert done.out == "" and len(done.err.splitlines()) == 1


def test_manifest_never_overwrites_a_model(cli, tmp_path):
    copy = tmp_path / "sr.onnx"
    shutil.copy(SR, copy)
    before = copy.read_bytes()
    done = cli(
        "manifest", SR, "-p", "wechat", "--model-version", "1", "-o", copy,
    )  # fmt: skip
    assert done.code == 2 and "is a model file; refusing to overwrite it" in done.err
    assert copy.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["sr.onnx"]


def test_manifest_of_a_failing_model_says_so_on_stderr(cli):
    done = cli(
        "manifest", QUANT_TFLITE, "-p", "baidu", "--model-version", "1",
        "--file", QUANT_TFLITE,
    )  # fmt: skip
    assert done.code == 1 and json.loads(done.out)["verdict"]["result"] == "fail"
    assert done.err.startswith(
        "compatcheck manifest: mobilenet_v1_0.25_224_quant.tflite FAILS on Baidu"
    )
    assert done.err.endswith(
        "the manifest is written, but the model will not work until those errors "
        "are fixed\n"
    )


def test_snippet_of_an_input_without_a_size_says_so(cli, corpus):
    model = corpus / "rapidocr" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    done = cli("snippet", model, "-p", "wechat")
    assert done.code == 1
    assert done.err == (
        "compatcheck snippet: ch_ppocr_mobile_v2.0_cls_infer.onnx: no size is known "
        "for input(s) 'x'; the loader feeds a placeholder of one element: give "
        "--input-shape NAME=DIMS and generate it again\n"
    )
    sized = cli("snippet", model, "-p", "wechat", "--input-shape", "x=1x3x48x192")
    assert sized.code == 0 and "new Float32Array(27648)" in sized.out


def test_manifest_exit_code_follows_the_verdict(cli, synthetic):
    done = cli(
        "manifest", synthetic["gelu.onnx"], "-p", "wechat", "--model-version", "1"
    )
    assert done.code == 1
    assert json.loads(done.out)["verdict"]["result"] == "fail"


# Snippet ------------------------------------------------------------------

# Every platform with an engine, and every engine kind a route can reach,
# with the exit code its verdict gives (1: the route fails).
SNIPPET_CASES = [
    ("wechat", SR, (), "wx.createInferenceSession", 0),
    ("wechat", QUANT_TFLITE, (), "wx.createInferenceSession", 0),
    ("wechat", SR, ("--engine", "tfjs"), "tfconv.loadGraphModel", 0),
    ("wechat", SR, ("--engine", "paddlejs"), "new Runner(", 1),
    ("alipay", SR, (), "tfconv.loadGraphModel", 0),
    ("alipay", QUANT_TFLITE, (), "tfconv.loadGraphModel", 0),
    ("baidu", SR, (), "new Runner(", 1),
    ("douyin", SR, (), "tt.createBytennEngineContext", 0),
    ("douyin", SELFIE, ("--engine", "tfjs"), "tfconv.loadGraphModel", 1),
]
CDN = "https://cdn.example.com/sr/"
NAMESPACES = {"wechat": "wx", "alipay": "my", "baidu": "swan", "douyin": "tt"}


@needs_node
@pytest.mark.parametrize("platform, model, extra, call, code", SNIPPET_CASES)
def test_snippet_parses_with_node(cli, tmp_path, platform, model, extra, call, code):
    done = cli("snippet", model, "-p", platform, *extra)
    assert done.code == code, done.err
    assert call in done.out
    # Every template caches through the shared code and runs one inference.
    assert "await ensureModel()" in done.out
    assert "results: await runOnce(" in done.out or "results: runOnce(" in done.out
    script = tmp_path / "loader.js"
    script.write_text(done.out)
    check = subprocess.run([NODE, "--check", str(script)], capture_output=True)
    assert check.returncode == 0, check.stderr.decode()


def test_snippet_uses_the_model_names_and_shapes(cli):
    wechat = cli("snippet", SR, "-p", "wechat").out
    assert 'feeds["input"] = { shape: [1, 1, 224, 224]' in wechat
    assert "new Float32Array(50176)" in wechat
    assert 'results["output"] = out["output"]; // float32 [1, 1, 672, 672]' in wechat
    assert '"typicalShape": {"input": [1, 1, 224, 224]}' in wechat
    alipay = cli("snippet", QUANT_TFLITE, "-p", "alipay").out
    assert "new Uint8Array(150528)" in alipay
    assert "normalise as (x - [127.5]) / [127.5], RGB" in alipay
    assert 'results["MobilenetV1/Predictions/Reshape_1"] = list[0];' in alipay
    # A TFLite model is NHWC already: onnx2tf -it leaves its order alone.
    assert "tf.tensor(data0, [1, 224, 224, 3]" in alipay
    assert "channels-last" not in alipay


@pytest.mark.parametrize(
    "shape, converters, expected",
    [
        ([1, 3, 16], ["onnx2tf"], [1, 16, 3]),  # NCW -> NWC
        ([1, 3, 8, 6], ["onnx2tf"], [1, 8, 6, 3]),  # NCHW -> NHWC
        ([1, 3, 4, 8, 6], ["onnx2tf"], [1, 4, 8, 6, 3]),  # NCDHW -> NDHWC
        ([1, 3, 8, 6], ["onnx2tf", "bytenn-convert"], [1, 8, 6, 3]),
        ([1, 10], ["onnx2tf"], [1, 10]),
        ([1, 2, 3, 4, 5, 6], ["onnx2tf"], [1, 2, 3, 4, 5, 6]),
        ([1, 224, 224, 3], ["onnx2tf-tflite"], [1, 224, 224, 3]),
        ([1, 3, 8, 6], ["x2paddle"], [1, 3, 8, 6]),
        ([1, 3, 8, 6], ["tf2onnx"], [1, 3, 8, 6]),
        ([1, 3, 8, 6], [], [1, 3, 8, 6]),
    ],
)
def test_converted_shape_follows_onnx2tf_defaults(shape, converters, expected):
    from compatcheck.plan.snippet import converted_shape

    assert converted_shape(shape, converters) == expected


def test_onnx2tf_routes_feed_channels_last(cli):
    alipay = cli("snippet", SR, "-p", "alipay").out
    assert 'tf.tensor(data0, [1, 224, 224, 1], "float32")' in alipay
    assert "new Float32Array(50176)" in alipay
    feed = "// input: float32 [1, 224, 224, 1] NHWC (ONNX order: [1, 1, 224, 224] NCHW)"
    read = "list[0]; // float32 [1, 672, 672, 1] NHWC (ONNX order: [1, 1, 672, 672])"
    assert feed in alipay and read in alipay
    assert "NCHW -> NHWC" in alipay and "-kat NAME" in alipay
    wechat_tfjs = cli("snippet", SR, "-p", "wechat", "--engine", "tfjs").out
    assert "tf.tensor(data0, [1, 224, 224, 1]" in wechat_tfjs
    # ByteNN loads the TensorFlow.js model onnx2tf wrote.
    douyin = cli("snippet", SR, "-p", "douyin").out
    assert '"channel": 1, "batch": 1, "dataType": "float32", "dataFormat": "NHWC"' in (
        douyin
    )
    # x2paddle keeps the ONNX order.
    baidu = cli("snippet", SR, "-p", "baidu").out
    assert "data: data0, shape: [1, 1, 224, 224]" in baidu
    assert "channels-last" not in baidu


def test_snippet_exit_code_and_header_follow_the_verdict(cli, tmp_path):
    failing = cli("snippet", SR, "-p", "baidu")
    assert failing.code == 1
    assert (
        "// compatcheck verdict on Baidu smart program: FAIL (2 error(s), "
        "2 warning(s), unverified).\n"
        "// Errors: CC410. This loader will not work until they are fixed;\n"
    ) in failing.out
    assert failing.err == (
        "compatcheck snippet: pytorch_super_resolution.onnx FAILS on Baidu smart "
        "program (CC410); the loader is written, but the model will not work "
        "until those errors are fixed\n"
    )
    out = tmp_path / "loader.js"
    written = cli("snippet", SR, "-p", "baidu", "-o", out)
    assert written.code == 1 and out.read_text() == failing.out
    passing = cli("snippet", SR, "-p", "wechat")
    assert passing.code == 0 and passing.err == ""
    assert (
        "// compatcheck verdict on WeChat mini program: PASS WITH WARNINGS "
        "(0 error(s), 3 warning(s), unverified).\n// Engine:"
    ) in passing.out


@pytest.mark.parametrize(
    "platform, model, tools, commands",
    [
        ("wechat", QUANT_TFLITE, "tf2onnx", ["python -m tf2onnx.convert --tflite"]),
        ("alipay", SR, "onnx2tf", ["onnx2tf -i model.onnx", "tensorflowjs_converter"]),
        (
            "baidu",
            QUANT_TFLITE,
            "tf2onnx + x2paddle",
            ["tf2onnx", "x2paddle", "paddlejs-converter"],
        ),
        (
            "douyin",
            SR,
            "onnx2tf + bytenn-convert",
            ["onnx2tf -i", "tensorflowjs_converter", "Douyin's"],
        ),
    ],
)
def test_snippet_header_names_the_conversion(cli, platform, model, tools, commands):
    text = cli("snippet", model, "-p", platform).out
    header = text[: text.index("'use strict';")]
    intro = f"// The route converts the model first ({tools}); the phone downloads"
    assert intro in header
    lines = header[header.index(intro) :].splitlines()[1 : 1 + len(commands)]
    for line, command in zip(lines, commands, strict=True):
        assert line.startswith("//   ") and command in line
    assert "`compatcheck manifest` with --file" in header


def test_snippet_without_conversion_has_no_conversion_comment(cli):
    assert "converts the model first" not in cli("snippet", SR, "-p", "wechat").out


def test_snippet_marks_the_placeholder_manifest_address(cli):
    placeholder = (
        "// A placeholder: put where the manifest is hosted here, or generate again "
        'with --manifest-url.\nconst MANIFEST_URL = "https://example.com/'
    )
    assert placeholder in cli("snippet", SR, "-p", "wechat").out
    given = cli("snippet", SR, "-p", "wechat", "--manifest-url", CDN).out
    assert "A placeholder" not in given and f'MANIFEST_URL = "{CDN}";' in given


def _tfjs_files(folder) -> list:
    weights = folder / "group1-shard1of1.bin"
    weights.write_bytes(bytes(range(16)))
    model = folder / "model.json"
    manifest = [{"paths": [weights.name], "weights": []}]
    model.write_text(json.dumps({"modelTopology": {}, "weightsManifest": manifest}))
    return [model, weights]


def _paddle_files(folder) -> list:
    import struct

    chunks = [folder / "chunk_1.dat", folder / "chunk_2.dat"]
    chunks[0].write_bytes(struct.pack("<3f", 1, 2, 3))
    chunks[1].write_bytes(struct.pack("<2f", 4, 5))
    model = folder / "model.json"
    model.write_text(json.dumps({"chunkNum": 2, "ops": [], "vars": []}))
    return [model, *chunks]


def _bytenn_files(folder) -> list:
    model = folder / "sr-2.bytenn"
    model.write_bytes(b"converted by Douyin's tool")
    return [model]


def _fake_host(
    cli, tmp_path, model, *extra, platform="wechat", make_files=None, url=CDN, at=None
):
    """Manifest and loader for ``model``; returns a run under Node with a fake host.

    ``make_files`` writes the converted files the phone downloads, when the
    route converts the model; ``url`` None writes the manifest without
    --url; ``at`` is the loader's --manifest-url.
    """
    served, cache, converted = (tmp_path / n for n in ("served", "cache", "converted"))
    for folder in (served, cache, converted):
        folder.mkdir()
    (cache / "model-0.9").mkdir()  # an older version, to be removed
    files = make_files(converted) if make_files else []
    for path in files or [model]:
        shutil.copy(path, served / path.name)
    manifest = tmp_path / "manifest.json"
    args = [*(["--url", url] if url else []), *(f"--file={f}" for f in files)]
    made = cli(
        "manifest", model, "-p", platform, "--model-version", "1.0", "-o", manifest,
        *args, *extra,
    )  # fmt: skip
    snippet = cli("snippet", model, "-p", platform, *extra, "--manifest-url", at or CDN)
    # Both commands exit 1 on a failing verdict and still write their output.
    assert made.code == snippet.code and made.code in (0, 1), made.err
    loader = tmp_path / "loader.js"
    loader.write_text(snippet.out)
    env = {
        **os.environ,
        "MANIFEST": str(manifest),
        "SERVED": str(served),
        "CACHE": str(cache),
        "API": NAMESPACES[platform],
    }
    harness = ROOT / "tests" / "js" / "fake_wechat.js"

    def run() -> dict:
        done = subprocess.run(
            [NODE, str(harness), str(loader)], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return run


@needs_node
def test_wechat_snippet_runs_against_a_fake_runtime(cli, tmp_path):
    """Download, cache, session options and feeds, end to end under Node."""
    run = _fake_host(cli, tmp_path, SR)
    seen = run()
    assert seen["downloads"] == [f"https://cdn.example.com/sr/{SR.name}"]
    assert seen["cache"] == ["model-1.0"]
    cache = tmp_path / "cache"
    assert seen["sessionOptions"]["model"] == f"{cache}/model-1.0/{SR.name}"
    assert seen["sessionOptions"]["typicalShape"] == {"input": [1, 1, 224, 224]}
    assert seen["feeds"] == {
        "input": {"shape": [1, 1, 224, 224], "type": "float32", "bytes": 224 * 224 * 4}
    }
    assert seen["results"] == ["output"]
    # A second start finds the cached file and downloads nothing.
    assert run()["downloads"] == []


@needs_node
def test_cached_files_are_checked_by_size_only(cli, tmp_path):
    """What the loader's comments and the README promise, and no more."""
    run = _fake_host(cli, tmp_path, SR)
    run()
    cached = tmp_path / "cache" / "model-1.0" / SR.name
    cached.write_bytes(bytes(cached.stat().st_size))  # same size, other bytes
    assert run()["downloads"] == []
    cached.write_bytes(b"truncated")
    assert run()["downloads"] == [f"{CDN}{SR.name}"]
    text = cli("snippet", SR, "-p", "wechat").out
    assert "missing there or its size is not the manifest's\n  // `bytes`" in text
    assert "only the size, so a\n  // changed model needs a new version" in text


@needs_node
@pytest.mark.parametrize(
    "url, at, expected",
    [
        # Without --url the files are hosted beside the manifest.
        (None, "https://models.example.org/sr/manifest.json?v=3",
         "https://models.example.org/sr/"),
        (None, "https://models.example.org/manifest.json", "https://models.example.org/"),
        ("https://cdn.example.com/sr", None, "https://cdn.example.com/sr/"),
        # A url naming the model file stands for its folder.
        (f"https://cdn.example.com/sr/{SR.name}", None, "https://cdn.example.com/sr/"),
    ],
)  # fmt: skip
def test_loader_finds_the_files_from_the_manifest_url(cli, tmp_path, url, at, expected):
    seen = _fake_host(cli, tmp_path, SR, url=url, at=at)()
    assert json.loads((tmp_path / "manifest.json").read_text())["url"] == url
    assert seen["requests"] == [at or CDN]
    assert seen["downloads"] == [expected + SR.name]
    assert seen["cache"] == ["model-1.0"]


@needs_node
def test_tfjs_snippet_caches_the_files_and_feeds_nhwc(cli, tmp_path):
    run = _fake_host(cli, tmp_path, SR, platform="alipay", make_files=_tfjs_files)
    seen = run()
    assert seen["downloads"] == [f"{CDN}model.json", f"{CDN}group1-shard1of1.bin"]
    assert seen["cached"] == {"model-1.0": ["group1-shard1of1.bin", "model.json"]}
    assert seen["weightBytes"] == 16 and seen["backend"] == "webgl"
    assert seen["feeds"] == {
        "0": {"shape": [1, 224, 224, 1], "type": "float32", "bytes": 224 * 224 * 4}
    }
    assert seen["results"] == ["output"]
    assert run()["downloads"] == []


@needs_node
def test_paddlejs_snippet_caches_the_files_and_runs_once(cli, tmp_path):
    run = _fake_host(cli, tmp_path, SR, platform="baidu", make_files=_paddle_files)
    seen = run()
    assert seen["downloads"] == [
        f"{CDN}model.json", f"{CDN}chunk_1.dat", f"{CDN}chunk_2.dat"
    ]  # fmt: skip
    assert seen["cached"] == {
        "model-1.0": ["chunk_1.dat", "chunk_2.dat", "model.json"]
    }  # fmt: skip
    # The model object holds both chunks' values, read from the cache.
    assert seen["paramValues"] == 5
    assert seen["runnerConfig"]["feedShape"] == {"fw": 224, "fh": 224, "fc": 1}
    assert seen["feeds"] == {
        "image": {"shape": [1, 1, 224, 224], "type": "Float32Array", "bytes": 200704}
    }
    assert seen["results"] == ["output"]
    assert run()["downloads"] == []


@needs_node
def test_bytenn_snippet_caches_the_files_and_names_the_model(cli, tmp_path):
    run = _fake_host(cli, tmp_path, SR, platform="douyin", make_files=_bytenn_files)
    seen = run()
    assert seen["downloads"] == [f"{CDN}sr-2.bytenn"]
    assert seen["cached"] == {"model-1.0": ["sr-2.bytenn"]}
    # The registered name comes from the manifest's main file, not the source.
    assert seen["modelName"] == "sr-2"
    assert seen["dataConfig"] == {
        "width": 224, "height": 224, "channel": 1, "batch": 1,
        "dataType": "float32", "dataFormat": "NHWC",
    }  # fmt: skip
    assert seen["feeds"]["data"]["bytes"] == 224 * 224 * 4
    assert seen["convertConfig"] == [
        {
            "outputChannel": 0,
            "normalizeFactor": 1,
            "offset": 0,
            "inputConfig": [{"inputChannel": 0, "weight": 1}],
        }
    ]
    assert run()["downloads"] == []


@needs_node
def test_hostile_names_stay_inside_javascript_strings(cli, tmp_path):
    import onnx
    from make_models import relu

    model = relu()
    hostile = "x'\"\n});process.exit(3);//\u2028`${1}`"
    model.graph.input[0].name = hostile
    model.graph.node[0].input[0] = hostile
    path = tmp_path / "hostile.onnx"
    onnx.save(model, path)
    seen = _fake_host(cli, tmp_path, path)()
    # The name reached the session as data, unchanged.
    assert list(seen["feeds"]) == [hostile]
    assert seen["feeds"][hostile]["shape"] == [1, 3, 8, 8]


@needs_node
@pytest.mark.parametrize(
    "hostile",
    [
        # Text that would match a placeholder if templates substituted after escaping.
        'P"__MODEL_PATH__',
        "},console.log(1337));//",
        # A key an object literal or a plain object takes as its prototype.
        "__proto__",
        "x'\"\n});process.exit(3);//\u2028`${1}`",
    ],
)
def test_hostile_names_in_session_options_stay_data(cli, tmp_path, hostile):
    import onnx
    from make_models import relu

    model = relu()
    model.graph.input[0].name = hostile
    model.graph.node[0].input[0] = hostile
    # A dynamic batch puts the name into typicalShape, a session option.
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    path = tmp_path / "hostile.onnx"
    onnx.save(model, path)
    seen = _fake_host(cli, tmp_path, path)()
    assert seen["sessionOptions"]["typicalShape"] == {hostile: [1, 3, 8, 8]}
    assert seen["sessionOptions"]["model"].endswith("/model-1.0/hostile.onnx")
    assert list(seen["feeds"]) == [hostile]


def test_normalisation_that_is_not_finite_is_ignored(cli, corpus, tmp_path):
    """NaN or infinity in TFLite metadata never reaches a report or a manifest."""
    import struct

    source = corpus / "tflite-support" / "mobilenet_v1_0.25_224_1_metadata_1.tflite"
    data = bytearray(source.read_bytes())
    # The metadata's only two 127.5 floats: the image input's mean and std.
    at = [
        i for i in range(len(data) - 3) if data[i : i + 4] == struct.pack("<f", 127.5)
    ]
    assert len(at) == 2
    data[at[0] : at[0] + 4] = struct.pack("<f", float("nan"))
    data[at[1] : at[1] + 4] = struct.pack("<f", float("inf"))
    model = tmp_path / "not_finite.tflite"
    model.write_bytes(bytes(data))
    text = cli(model, "-p", "wechat").out
    assert "mean and std not finite (ignored)" in text
    report = cli(model, "-p", "wechat", "-f", "json").out
    made = cli(
        "manifest", model, "-p", "wechat", "--model-version", "1", "--file", model
    )  # fmt: skip
    for document in (report, made.out):
        assert "NaN" not in document and "Infinity" not in document
        json.loads(document)


def test_manifest_lists_the_external_data_the_model_reads(cli, tmp_path):
    import onnx

    model = onnx.load(SR)
    folder = tmp_path / "ext"
    folder.mkdir()
    onnx.save(
        model, folder / "sr.onnx", save_as_external_data=True, location="sr.data",
        size_threshold=0,
    )  # fmt: skip
    done = cli("manifest", folder / "sr.onnx", "-p", "wechat", "--model-version", "1")
    assert done.code in (0, 1), done.err
    files = json.loads(done.out)["files"]
    assert [f["name"] for f in files] == ["sr.onnx", "sr.data"]
    assert files[1]["bytes"] == (folder / "sr.data").stat().st_size


def test_manifest_file_problems_are_one_line(cli, tmp_path, synthetic):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for side in "ab":
        (tmp_path / side / "w.bin").write_bytes(side.encode())
    base = ("manifest", QUANT_TFLITE, "-p", "alipay", "--model-version", "1")
    twice = cli(
        *base, "--file", tmp_path / "a" / "w.bin", "--file", tmp_path / "b" / "w.bin"
    )
    assert twice.code == 2 and "has the same name as" in twice.err
    unreadable = cli(*base, "--file", "/proc/self/mem")
    assert unreadable.code == 2 and "/proc/self/mem: cannot be read" in unreadable.err
    for done in (twice, unreadable):
        assert done.out == "" and len(done.err.splitlines()) == 1


def test_deploy_commands_read_the_platform_as_the_check_does(cli, tmp_path):
    for command in ("snippet", "manifest"):
        extra = ("--model-version", "1") if command == "manifest" else ()
        done = cli(command, SR, "-p", "wechat,", *extra)
        assert done.code == 0, done.err
        shapes = ("--input-shape", "input=1x1x8x8", "--input-shape", "input=1x1x9x9")
        twice = cli(command, SR, "-p", "wechat", *extra, *shapes)
        assert twice.code == 2 and "'input' is given twice" in twice.err


def test_snippet_writes_into_a_pipe_without_replacing_it(cli, tmp_path):
    done, received = through_a_pipe(cli, tmp_path, "snippet", SR, "-p", "wechat")
    assert done.code == 0, done.err
    assert b"wx.createInferenceSession" in received


def test_snippet_refuses_an_input_no_typed_array_holds(cli, tmp_path):
    import onnx
    from make_models import relu

    model = relu()
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value = dims[3].dim_value = 2**40
    path = tmp_path / "huge.onnx"
    onnx.save(model, path)
    done = cli("snippet", path, "-p", "wechat")
    assert done.code == 2 and done.out == ""
    assert done.err.startswith(f"compatcheck: error: {path}: input 'x' has ")
    assert "a JavaScript typed array holds at most 2,147,483,647" in done.err


def test_deploy_commands_follow_the_configuration(cli, tmp_path, monkeypatch):
    """manifest, snippet and fix give the verdict the gate gives."""
    (tmp_path / "compatcheck.yaml").write_text("severity: {CC500: error}\n")
    monkeypatch.chdir(tmp_path)
    gate = cli(SR, "-p", "wechat")
    assert gate.code == 1
    made = cli("manifest", SR, "-p", "wechat", "--model-version", "1")
    assert made.code == 1 and json.loads(made.out)["verdict"]["result"] == "fail"
    snippet = cli("snippet", SR, "-p", "wechat")
    assert snippet.code == 1 and "FAIL (1 error(s)" in snippet.out
    fixed = cli("fix", SR, "-p", "wechat", "--diff", "-f", "json")
    assert fixed.json()["before"]["verdict"] == "fail"
    free = cli("manifest", SR, "-p", "wechat", "--model-version", "1", "--no-config")
    assert free.code == 0, free.err


def test_manifest_refuses_a_file_name_that_is_not_utf8(cli, tmp_path):
    model = tmp_path / os.fsdecode(b"m\xff.onnx")
    shutil.copy(SR, model)
    done = cli("manifest", model, "-p", "wechat", "--model-version", "1")
    assert done.code == 2 and done.out == ""
    assert "has a name that is not UTF-8" in done.err
