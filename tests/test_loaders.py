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


def _saved_model(folder):
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")


ONNX_BYTES = (DATA / "pytorch_super_resolution.onnx").read_bytes()
TFLITE_BYTES = (DATA / "selfie_segmentation.tflite").read_bytes()

# (case, file name, bytes to write or a function that makes the path, message)
BAD_INPUTS = [
    ("missing", "nope.onnx", None, "file not found"),
    ("empty", "e.onnx", b"", "is empty (0 bytes)"),
    ("truncated onnx", "t.onnx", ONNX_BYTES[:5000], "truncated or corrupt ONNX file"),
    ("garbage onnx", "g.onnx", b"\x07" * 64, "truncated or corrupt ONNX file"),
    ("onnx without a graph", "tiny.onnx", b"\x08\x07", "has no graph"),
    ("truncated tflite", "t.tflite", TFLITE_BYTES[:3000], "corrupt TFLite file"),
    ("tflite, no identifier", "x.tflite", b"\0" * 64, "the TFL3 identifier is missing"),
    (
        "pytorch zip",
        "m.pt",
        lambda p: _zip(p, ["archive/data.pkl"]),
        "PyTorch checkpoint (zip); export it to ONNX first: torch.onnx.export",
    ),
    ("pytorch pickle", "m.pth", b"\x80\x02}q\x00.", "pickled PyTorch checkpoint"),
    (
        "tf graphdef",
        "frozen.pb",
        b"\n\x05\n\x03abc",
        "TensorFlow GraphDef or SavedModel protobuf; convert it first, to TFLite",
    ),
    ("saved model folder", "saved", _saved_model, "TensorFlow SavedModel folder"),
    ("keras h5", "m.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 32, "Keras HDF5 model"),
    ("tfjs json", "model.json", b'{"modelTopology": {}}', "is a JSON file"),
    ("text file", "notes.txt", b"hello there", "is not a model compatcheck can read"),
]


@pytest.mark.parametrize(
    "name, content, message",
    [c[1:] for c in BAD_INPUTS],
    ids=[c[0] for c in BAD_INPUTS],
)
def test_bad_input_is_refused_with_a_message(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        content(path)
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


@pytest.mark.parametrize(
    "indices, message",
    [
        ({"opcode_index": 5}, "corrupt TFLite file: operator 0 uses op code 5 of 1"),
        (
            {"tensor_index": 9},
            "corrupt TFLite file: operator 0 refers to tensor 9 of 2",
        ),
        ({"buffer_index": 7}, "corrupt TFLite file: a tensor refers to buffer 7 of 2"),
    ],
)
def test_tflite_indices_out_of_range(tmp_path, indices, message):
    from make_models import tflite_bytes

    good = tmp_path / "good.tflite"
    good.write_bytes(tflite_bytes())
    model = load_model(str(good))
    assert [op.inputs for op in model.ops.values()] == [["x", "w"]]
    assert model.weight_bytes == 16
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(tflite_bytes(**indices))
    with pytest.raises(ModelFormatError) as caught:
        load_model(str(bad))
    assert caught.value.problem == message


def test_deep_subgraph_nesting_is_refused(tmp_path):
    import onnx
    from make_models import deep_nesting_bytes, nested_ifs

    shallow = tmp_path / "shallow.onnx"
    onnx.save(nested_ifs(10), shallow)
    ops = load_model(str(shallow)).ops
    assert "if10.then_branch > if9.then_branch > if8" in " ".join(ops)
    deep = tmp_path / "deep.onnx"
    onnx.save(nested_ifs(25), deep)
    with pytest.raises(ModelFormatError) as caught:
        load_model(str(deep))
    assert caught.value.problem.startswith(
        "its subgraphs are nested more than 24 levels deep; protobuf's parser"
    )
    assert "truncated or corrupt" not in caught.value.problem
    # Far deeper than Python's recursion limit: still one clear message.
    deeper = tmp_path / "deeper.onnx"
    deeper.write_bytes(deep_nesting_bytes(5000))
    with pytest.raises(ModelFormatError) as caught:
        load_model(str(deeper))
    assert "nested more than 24 levels deep" in caught.value.problem


def test_special_files_and_folders(tmp_path):
    import os

    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    with pytest.raises(ModelFormatError, match="is not a regular file"):
        load_model(str(fifo))
    with pytest.raises(ModelFormatError, match="is a folder; give the model file"):
        load_model(str(tmp_path))


@pytest.mark.parametrize(
    "name, message",
    [
        ("weights.pt", "looks like a PyTorch checkpoint; export it to ONNX first"),
        ("group1-shard1of1.bin", "is a .bin file, not an ONNX or TFLite model"),
    ],
)
def test_other_files_are_named_by_their_extension(tmp_path, name, message):
    path = tmp_path / name
    path.write_bytes(bytes(4))
    with pytest.raises(ModelFormatError, match=message):
        load_model(str(path))


def test_files_larger_than_any_model_are_refused_unread(tmp_path):
    from compatcheck.model import MAX_MODEL_BYTES

    huge = tmp_path / "huge.onnx"
    with open(huge, "wb") as handle:
        handle.truncate(MAX_MODEL_BYTES + 1)  # sparse: no disk space used
    with pytest.raises(ModelFormatError, match="larger than any model"):
        load_model(str(huge))


@pytest.mark.parametrize(
    "names, message",
    [
        (["model/saved_model.pb", "model/variables/x"], "zipped TensorFlow SavedModel"),
        (["config.json", "model.weights.h5"], "Keras model archive"),
        (["readme.txt"], "is a zip archive, not a model"),
    ],
)
def test_zip_archives_are_told_apart(tmp_path, names, message):
    path = tmp_path / "archive.zip"
    _zip(path, names)
    with pytest.raises(ModelFormatError, match=message):
        load_model(str(path))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: setattr(m, "ir_version", 0), "has IR version 0, which no ONNX"),
        (
            lambda m: setattr(m.opset_import[0], "version", -3),
            "imports opset -3 of ai.onnx, which does not exist",
        ),
    ],
)
def test_impossible_versions_are_refused(tmp_path, edit, message):
    from make_models import relu

    model = relu()
    edit(model)
    path = tmp_path / "odd.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFormatError) as caught:
        load_model(str(path))
    assert message in caught.value.problem


def _with_constant(tmp_path, dims, raw: bytes, data_type=None):
    import onnx
    from onnx import TensorProto, helper

    tensor = onnx.TensorProto(name="w", data_type=data_type or TensorProto.FLOAT)
    tensor.dims.extend(dims)
    tensor.raw_data = raw
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"], name="add")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [tensor],
    )
    path = tmp_path / "c.onnx"
    path.write_bytes(
        helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 13)]
        ).SerializeToString()
    )
    return str(path)


@pytest.mark.parametrize(
    "dims, raw, message",
    [
        (
            [2**62, 2**62],
            b"\0" * 8,
            "constant 'w' declares shape [4611686018427387904, 4611686018427387904] "
            "of float32 (85070591730234615865843651857942052864 bytes) but stores 8",
        ),
        ([-3], b"\0" * 12, "constant 'w' has a negative dimension [-3]"),
        (
            [0, 2**40],
            b"\0" * 4,
            "declares shape [0, 1099511627776] of float32 (0 bytes)",
        ),
    ],
)
def test_absurd_dimensions_are_refused_without_allocating(tmp_path, dims, raw, message):
    with pytest.raises(ModelFormatError) as caught:
        load_model(_with_constant(tmp_path, dims, raw))
    assert message in caught.value.problem


def test_unknown_element_type_is_named(tmp_path, cli):
    path = _with_constant(tmp_path, [1], b"\0" * 4, data_type=52)
    done = cli(path, "-p", "wechat", "--engine", "wx-inference", "-f", "json")
    assert done.code in (0, 1), done.err
    (model,) = done.json()["models"]
    assert model["path"] == path
