"""Loading real models into the graph model, and refusing everything else."""

from __future__ import annotations

import zipfile

import pytest
from conftest import DATA

from compatcheck.errors import ModelFormatError
from compatcheck.model import load_model


def test_onnx_facts_of_a_control_flow_model(corpus):
    model = load_model(str(corpus / "silero-vad" / "silero_vad.onnx"))
    assert model.format == "onnx"
    assert model.opsets["ai.onnx"] == 16
    assert model.ir_version == 8
    if_nodes = [op for op in model.ops.values() if op.op_type == "If"]
    assert len(if_nodes) == 25
    nested = [op for op in model.ops.values() if len(op.scope) >= 2]
    assert nested, "nodes of If branches inside If branches must be loaded"
    assert all(op.node_id.startswith(" > ".join(op.scope)) for op in nested)
    assert {t.name: t.dtype for t in model.inputs}["sr"] == "int64"
    assert model.weight_bytes > 2_000_000


def test_onnx_symbolic_and_negative_dims_are_kept(corpus):
    model = load_model(str(corpus / "rapidocr" / "ch_ppocr_mobile_v2.0_cls_infer.onnx"))
    (tensor,) = model.inputs
    assert tensor.shape == (-1, 3, "?", "?")
    assert tensor.is_dynamic
    sr = load_model(str(DATA / "pytorch_super_resolution.onnx"))
    assert sr.inputs[0].shape == ("batch_size", 1, 224, 224)


def test_shape_inference_fills_intermediate_shapes():
    model = load_model(str(DATA / "pytorch_super_resolution.onnx"))
    conv = next(op for op in model.ops.values() if op.op_type == "Conv")
    assert model.input_rank(conv) == 4


def test_graph_edges_follow_tensors():
    model = load_model(str(DATA / "pytorch_super_resolution.onnx"))
    graph = model.graph
    assert graph.number_of_nodes() == len(model.ops) == 8
    assert graph.number_of_edges() >= 7
    import networkx as nx

    assert nx.is_directed_acyclic_graph(graph)


def test_tflite_facts_with_custom_op(corpus):
    model = load_model(str(DATA / "selfie_segmentation.tflite"))
    assert model.format == "tflite"
    assert model.schema_version == 3
    custom = [op for op in model.ops.values() if op.domain == "custom"]
    assert {op.op_type for op in custom} == {"Convolution2DTransposeBias"}
    hard_swish = [op for op in model.ops.values() if op.op_type == "HARD_SWISH"]
    assert hard_swish and all(op.version >= 1 for op in hard_swish)
    assert model.inputs[0].shape == (1, 256, 256, 3)


def test_tflite_flex_ops_and_signature(corpus):
    flex = load_model(
        str(corpus / "tflite-support" / "sentencepiece_tokenizer_flex_op.tflite")
    )
    assert {op.domain for op in flex.ops.values()} == {"flex"}
    hello = load_model(str(corpus / "tflite-micro" / "hello_world_float.tflite"))
    (tensor,) = hello.inputs
    assert tensor.signature == (-1, 1)
    assert tensor.display_shape == (None, 1)
    assert tensor.is_dynamic


def test_tflite_quantization_parameters(corpus):
    model = load_model(str(corpus / "tflite-micro" / "person_detect.tflite"))
    (tensor,) = model.inputs
    assert tensor.dtype == "int8"
    assert tensor.quantization["channels"] == 1
    assert tensor.quantization["scale"][0] > 0


def test_format_comes_from_content_not_extension(tmp_path):
    renamed = tmp_path / "model.bin.onnx"
    renamed.write_bytes((DATA / "selfie_segmentation.tflite").read_bytes())
    assert load_model(str(renamed)).format == "tflite"
    no_extension = tmp_path / "model"
    no_extension.write_bytes((DATA / "pytorch_super_resolution.onnx").read_bytes())
    assert load_model(str(no_extension)).format == "onnx"


def _zip(path, names):
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, b"x")
    return path


BAD_INPUTS = [
    ("missing", lambda d: d / "nope.onnx", "file not found"),
    ("empty", lambda d: _write(d / "e.onnx", b""), "is empty (0 bytes)"),
    (
        "truncated onnx",
        lambda d: _write(
            d / "t.onnx", (DATA / "pytorch_super_resolution.onnx").read_bytes()[:5000]
        ),
        "truncated or corrupt ONNX file",
    ),
    (
        "garbage onnx",
        lambda d: _write(d / "g.onnx", b"\x07" * 64),
        "truncated or corrupt ONNX file",
    ),
    (
        "truncated tflite",
        lambda d: _write(
            d / "t.tflite", (DATA / "selfie_segmentation.tflite").read_bytes()[:3000]
        ),
        "TFLite file",
    ),
    (
        "tflite without identifier",
        lambda d: _write(d / "x.tflite", b"\0" * 64),
        "the TFL3 identifier is missing",
    ),
    (
        "pytorch zip",
        lambda d: _zip(d / "m.pt", ["archive/data.pkl", "archive/version"]),
        "PyTorch checkpoint (zip); export it to ONNX first: torch.onnx.export",
    ),
    (
        "pytorch pickle",
        lambda d: _write(d / "m.pth", b"\x80\x02}q\x00."),
        "pickled PyTorch checkpoint",
    ),
    (
        "tf graphdef",
        lambda d: _write(d / "frozen.pb", b"\n\x05\n\x03abc"),
        "TensorFlow GraphDef or SavedModel protobuf; convert it first, to TFLite",
    ),
    ("saved model folder", lambda d: _saved_model(d), "TensorFlow SavedModel folder"),
    (
        "keras h5",
        lambda d: _write(d / "m.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 32),
        "Keras HDF5 model",
    ),
    (
        "text file",
        lambda d: _write(d / "notes.txt", b"hello there, not a model"),
        "is not a model compatcheck can read",
    ),
]


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _saved_model(folder):
    target = folder / "saved"
    target.mkdir()
    (target / "saved_model.pb").write_bytes(b"\x08\x01")
    return target


@pytest.mark.parametrize(
    "make, message", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_is_refused_with_a_message(tmp_path, make, message):
    path = make(tmp_path)
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(ModelFormatError) as caught:
        load_model(str(path))
    assert message in caught.value.problem
    assert caught.value.where == str(path)
    if before is not None:
        assert path.read_bytes() == before, "the input file must not change"


def test_all_single_operator_models_load(corpus):
    folder = corpus / "onnx-node-tests"
    paths = sorted(folder.glob("*.onnx"))
    assert len(paths) == 1802
    failures = []
    for path in paths:
        try:
            model = load_model(str(path))
        except ModelFormatError as exc:
            failures.append(f"{path.name}: {exc}")
            continue
        assert model.ops, path.name
    assert failures == []


def test_external_location_with_nul_byte_is_a_problem(tmp_path):
    from compatcheck.model.onnx_loader import resolve_inside

    assert resolve_inside(str(tmp_path), "a\0b") == (None, "contains a NUL byte")
