"""Build the small synthetic models the tests use, one per edge case.

Run ``python tests/make_models.py OUTDIR`` to write them all; the test suite
calls ``build_all`` into a temporary folder, so no binary is committed.
Every model is made with ``onnx.helper`` and is valid ONNX unless its name
says otherwise.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F32 = TensorProto.FLOAT


def _model(nodes, inputs, outputs, opset=13, initializers=(), domains=(), ir=None):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    imports = [helper.make_opsetid("", opset)]
    imports += [helper.make_opsetid(d, 1) for d in domains]
    model = helper.make_model(graph, opset_imports=imports, producer_name="make_models")
    if ir is not None:
        model.ir_version = ir
    return model


def _io(name, shape, dtype=F32):
    return helper.make_tensor_value_info(name, dtype, shape)


def relu(shape=(1, 3, 8, 8), opset=13):
    """One Relu on a fixed float32 input: passes every WeChat engine rule."""
    return _model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")],
        [_io("x", list(shape))],
        [_io("y", list(shape))],
        opset=opset,
    )


def single_op(op_type, opset=13, name=None, **attrs):
    """One operator on a 4-D float32 input."""
    node = helper.make_node(
        op_type, ["x"], ["y"], name=name or op_type.lower(), **attrs
    )
    return _model([node], [_io("x", [1, 3, 8, 8])], [_io("y", None)], opset=opset)


def gelu():
    """Gelu (opset 20): no WeChat row, so unsupported."""
    return single_op("Gelu", opset=20, name="act/gelu")


def lppool():
    """LpPool: the WeChat page lists no pooling kinds, so support is unknown."""
    return single_op("LpPool", kernel_shape=[2, 2], name="pool/lp")


def transpose():
    """Transpose (WeChat row Permute) has no iOS NPU kernel."""
    return single_op("Transpose", perm=[0, 2, 3, 1], name="to_nhwc")


def resize_rank3():
    """Resize on a 3-D input: only Resize2D (4-D) exists on WeChat."""
    scales = numpy_helper.from_array(np.array([1, 1, 2], np.float32), "scales")
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up1d")
    return _model(
        [node], [_io("x", [1, 4, 16])], [_io("y", None)], initializers=[scales]
    )


def custom_domain():
    """A node in a custom domain next to a standard one."""
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("FancyOp", ["r"], ["y"], name="fancy", domain="com.example"),
    ]
    return _model(nodes, [_io("x", [1, 4])], [_io("y", None)], domains=["com.example"])


def if_subgraph():
    """An If whose else branch holds an unsupported Not: checks subgraph paths."""
    then_graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["t"], name="keep")],
        "then",
        [],
        [_io("t", [1], TensorProto.BOOL)],
    )
    else_graph = helper.make_graph(
        [helper.make_node("Not", ["x"], ["e"], name="flip")],
        "else",
        [],
        [_io("e", [1], TensorProto.BOOL)],
    )
    node = helper.make_node(
        "If",
        ["c"],
        ["y"],
        name="branch",
        then_branch=then_graph,
        else_branch=else_graph,
    )
    return _model(
        [node],
        [_io("c", [1], TensorProto.BOOL), _io("x", [1], TensorProto.BOOL)],
        [_io("y", [1], TensorProto.BOOL)],
    )


def int64_input():
    """int64 token ids at the input: WeChat cannot pass them from JavaScript."""
    table = numpy_helper.from_array(np.zeros((10, 4), np.float32), "table")
    node = helper.make_node("Gather", ["table", "ids"], ["y"], name="embed")
    return _model(
        [node],
        [_io("ids", [1, 5], TensorProto.INT64)],
        [_io("y", [1, 5, 4])],
        initializers=[table],
    )


def dynamic_input():
    """A symbolic batch and unknown spatial dimensions."""
    return _model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")],
        [_io("x", ["batch", 3, None, None])],
        [_io("y", None)],
    )


def shape_error():
    """Add of [2, 3] and [4, 5]: strict ONNX shape inference rejects it."""
    node = helper.make_node("Add", ["a", "b"], ["c"], name="bad_add")
    return _model([node], [_io("a", [2, 3]), _io("b", [4, 5])], [_io("c", None)])


# ----- Constructs that break a conversion route or a WebGL engine -----


def hardswish():
    """HardSwish (opset 14): onnx2tf lowers it to a TFLite op its exporter lacks."""
    return single_op("HardSwish", opset=14, name="act/hswish")


def clip():
    """Clip with constant bounds: X2Paddle emits clip, which Paddle.js lacks."""
    low = numpy_helper.from_array(np.array(0.0, np.float32), "low")
    high = numpy_helper.from_array(np.array(6.0, np.float32), "high")
    node = helper.make_node("Clip", ["x", "low", "high"], ["y"], name="act/clip")
    return _model(
        [node],
        [_io("x", [1, 3, 8, 8])],
        [_io("y", [1, 3, 8, 8])],
        initializers=[low, high],
    )


def big_int64():
    """int64 data constants beyond 2**24 and beyond int32 (Add, then Mul)."""
    offset = numpy_helper.from_array(np.array([20_000_000], np.int64), "offset")
    scale = numpy_helper.from_array(np.array([2**33], np.int64), "scale")
    nodes = [
        helper.make_node("Add", ["ids", "offset"], ["shifted"], name="ids/offset"),
        helper.make_node("Mul", ["shifted", "scale"], ["y"], name="ids/scale"),
    ]
    return _model(
        nodes,
        [_io("ids", [1, 4], TensorProto.INT64)],
        [_io("y", [1, 4], TensorProto.INT64)],
        initializers=[offset, scale],
    )


def mid_int64():
    """An int64 data constant of 5000: exact in float32, not in half floats."""
    offset = numpy_helper.from_array(np.array([5000], np.int64), "offset")
    node = helper.make_node("Add", ["ids", "offset"], ["y"], name="ids/offset")
    return _model(
        [node],
        [_io("ids", [1, 4], TensorProto.INT64)],
        [_io("y", [1, 4], TensorProto.INT64)],
        initializers=[offset],
    )


def huge_activation(channels=80):
    """A Relu over 80 x 1024 x 1024 values: more than a 4096-texel packed texture."""
    shape = [1, channels, 1024, 1024]
    node = helper.make_node("Relu", ["x"], ["y"], name="wide/relu")
    return _model([node], [_io("x", shape)], [_io("y", shape)])


def dynamic_activation():
    """The same Relu with a symbolic channel count (sized by --input-shape)."""
    shape = [1, "channels", 1024, 1024]
    node = helper.make_node("Relu", ["x"], ["y"], name="wide/relu")
    return _model([node], [_io("x", shape)], [_io("y", shape)])


def where_rank5():
    """Where on rank-5 tensors: TensorFlow.js's Select kernel stops at rank 4."""
    shape = [1, 2, 3, 4, 5]
    node = helper.make_node("Where", ["c", "a", "b"], ["y"], name="pick")
    return _model(
        [node],
        [_io("c", shape, TensorProto.BOOL), _io("a", shape), _io("b", shape)],
        [_io("y", shape)],
    )


def nonzero():
    """NonZero: a dynamic-output op that TensorFlow.js runs only asynchronously."""
    node = helper.make_node("NonZero", ["x"], ["y"], name="find")
    return _model([node], [_io("x", [4, 4])], [_io("y", None, TensorProto.INT64)])


def range_op():
    """Range with constant bounds: a TensorFlow.js kernel that runs on the CPU."""
    start = numpy_helper.from_array(np.array(0.0, np.float32), "start")
    limit = numpy_helper.from_array(np.array(8.0, np.float32), "limit")
    nodes = [
        helper.make_node("Range", ["start", "limit", "delta"], ["r"], name="steps"),
        helper.make_node("Add", ["r", "delta"], ["y"], name="shift"),
    ]
    return _model(
        nodes,
        [_io("delta", [])],
        [_io("y", None)],
        initializers=[start, limit],
    )


def two_inputs():
    """Add of two inputs: Paddle.js feeds a single image input."""
    node = helper.make_node("Add", ["x", "y"], ["z"], name="sum")
    shape = [1, 3, 8, 8]
    return _model([node], [_io("x", shape), _io("y", shape)], [_io("z", shape)])


def float16_weights():
    """A MatMul with float16 weights: TensorFlow.js stores them as float32."""
    weight = numpy_helper.from_array(np.ones((256, 256), np.float16), "w16")
    node = helper.make_node("MatMul", ["x", "w16"], ["y"], name="dense")
    f16 = TensorProto.FLOAT16
    return _model(
        [node],
        [_io("x", [1, 256], f16)],
        [_io("y", [1, 256], f16)],
        initializers=[weight],
    )


def cost_model():
    """Conv, Relu, Flatten, Gemm with MACs and parameters computed by hand.

    Conv: 4 output channels x 8 x 8 positions x (3 x 3 x 3) = 6,912 MACs;
    Gemm: 10 outputs x 256 inputs = 2,560 MACs; 9,472 in all.
    Parameters: 4*3*3*3 + 4 + 10*256 + 10 = 2,682.
    """
    rng = np.random.default_rng(0)
    initializers = [
        numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3), np.float32), "w"),
        numpy_helper.from_array(np.zeros(4, np.float32), "b"),
        numpy_helper.from_array(rng.standard_normal((10, 256), np.float32), "fc_w"),
        numpy_helper.from_array(np.zeros(10, np.float32), "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1] * 4),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", transB=1),
    ]
    return _model(
        nodes, [_io("x", [1, 3, 8, 8])], [_io("y", [1, 10])], initializers=initializers
    )


def liveness_model():
    """x feeds Relu and, later, Add: three 1,024-byte tensors live at Sigmoid.

    x [1, 4, 8, 8] float32 is 1,024 bytes, like every tensor here. At
    Sigmoid, x (read again by Add), a (its input) and s (its output) are
    live: the peak is 3,072 bytes. A walk that kept only each operator's
    inputs and outputs would find 2,048.
    """
    shape = [1, 4, 8, 8]
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="relu"),
        helper.make_node("Sigmoid", ["a"], ["s"], name="sigmoid"),
        helper.make_node("Add", ["x", "s"], ["y"], name="add"),
    ]
    return _model(nodes, [_io("x", shape)], [_io("y", shape)])


def qdq_conv():
    """A Conv between QuantizeLinear/DequantizeLinear pairs (QDQ form)."""
    rng = np.random.default_rng(1)
    weights = rng.integers(-127, 127, (4, 3, 3, 3), dtype=np.int8)
    initializers = [
        numpy_helper.from_array(np.array(0.02, np.float32), "scale"),
        numpy_helper.from_array(np.array(0, np.int8), "zero"),
        numpy_helper.from_array(weights, "w_q"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["xq"], name="q"),
        helper.make_node(
            "DequantizeLinear", ["xq", "scale", "zero"], ["xd"], name="dq"
        ),
        helper.make_node(
            "DequantizeLinear", ["w_q", "scale", "zero"], ["wd"], name="dq_w"
        ),
        helper.make_node("Conv", ["xd", "wd"], ["y"], name="conv", pads=[1] * 4),
    ]
    return _model(
        nodes,
        [_io("x", [1, 3, 8, 8])],
        [_io("y", [1, 4, 8, 8])],
        initializers=initializers,
    )


def build_metadata():
    """Doc strings and metadata that name a local path and a user."""
    model = relu()
    model.doc_string = "exported from /home/alice/work/seg/train.py"
    model.graph.node[0].doc_string = "/Users/alice/src/model.py(42): forward"
    onnx.helper.set_model_props(
        model, {"Image.NominalPixelRange": "Normalized_0_1", "mean": "0.485,0.456"}
    )
    return model


def mish():
    """Mish (opset 18): WeChat has no row for it; Softplus, Tanh and Mul do."""
    return _model(
        [helper.make_node("Mish", ["x"], ["y"], name="mish")],
        [_io("x", [1, 3, 8, 8])],
        [_io("y", [1, 3, 8, 8])],
        opset=18,
    )


def layer_norm():
    """LayerNormalization (opset 17) over the last axis, Y output only."""
    rng = np.random.default_rng(2)
    initializers = [
        numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "scale"),
        numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "bias"),
    ]
    node = helper.make_node(
        "LayerNormalization", ["x", "scale", "bias"], ["y"], name="ln", epsilon=1e-5
    )
    return _model(
        [node],
        [_io("x", [1, 4, 16])],
        [_io("y", [1, 4, 16])],
        opset=17,
        initializers=initializers,
    )


def logical_not():
    """Not between a comparison and a Cast: WeChat's table has no Not."""
    nodes = [
        helper.make_node("Greater", ["x", "zero"], ["positive"], name="gt"),
        helper.make_node("Not", ["positive"], ["negative"], name="not"),
        helper.make_node("Cast", ["negative"], ["y"], name="cast", to=F32),
    ]
    zero = numpy_helper.from_array(np.array(0.0, np.float32), "zero")
    return _model(nodes, [_io("x", [2, 5])], [_io("y", [2, 5])], initializers=[zero])


def size_op():
    """Size of the input, returned as int64: no Size row, no int64 output."""
    return _model(
        [helper.make_node("Size", ["x"], ["n"], name="size")],
        [_io("x", [2, 3, 4])],
        [_io("n", [], TensorProto.INT64)],
    )


def sum3():
    """Sum of three inputs (WeChat maps more than two to ElementWise)."""
    shape = [1, 3, 4, 4]
    return _model(
        [helper.make_node("Sum", ["a", "b", "c"], ["y"], name="sum3")],
        [_io("a", shape), _io("b", shape), _io("c", shape)],
        [_io("y", shape)],
    )


def identity_dropout():
    """Identity and Dropout around a Relu: nothing they do survives inference."""
    nodes = [
        helper.make_node("Identity", ["x"], ["a"], name="identity"),
        helper.make_node("Relu", ["a"], ["b"], name="relu"),
        helper.make_node("Dropout", ["b"], ["y"], name="dropout"),
    ]
    unused = numpy_helper.from_array(np.ones(1000, np.float32), "unused")
    return _model(
        nodes,
        [_io("x", [1, 3, 8, 8])],
        [_io("y", [1, 3, 8, 8])],
        initializers=[unused],
    )


def constant_generator():
    """A 1 MB zero tensor made at run time: folding it would store it.

    Identity gives onnx-simplifier something to remove, so simplification
    still applies when the generator is kept.
    """
    shape = numpy_helper.from_array(np.array([256, 1024], np.int64), "shape")
    nodes = [
        helper.make_node("Identity", ["x"], ["x1"], name="identity"),
        helper.make_node("ConstantOfShape", ["shape"], ["zeros"], name="zeros"),
        helper.make_node("Add", ["x1", "zeros"], ["y"], name="add"),
    ]
    return _model(
        nodes, [_io("x", [1, 1024])], [_io("y", [256, 1024])], initializers=[shape]
    )


def folded_eyelike():
    """EyeLike (not in WeChat's table) on a constant: folding removes it."""
    square = numpy_helper.from_array(np.zeros((3, 3), np.float32), "square")
    nodes = [
        helper.make_node("EyeLike", ["square"], ["eye"], name="eye"),
        helper.make_node("Add", ["x", "eye"], ["y"], name="add"),
    ]
    return _model(nodes, [_io("x", [3, 3])], [_io("y", [3, 3])], initializers=[square])


def float16_overflow():
    """y = h + (q - q) with q = (h * 1e5)^2: exact in float32, NaN in float16.

    q passes 65504, the largest float16 value, so float16 arithmetic makes
    it infinity and q - q NaN.
    """
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(
        (0.1 * rng.standard_normal((16, 16))).astype(np.float32), "w"
    )
    scale = numpy_helper.from_array(np.array([1e5], np.float32), "scale")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul"),
        helper.make_node("Mul", ["h", "scale"], ["a"], name="scaled"),
        helper.make_node("Mul", ["a", "a"], ["q"], name="square"),
        helper.make_node("Sub", ["q", "q"], ["zero"], name="zero"),
        helper.make_node("Add", ["h", "zero"], ["y"], name="add"),
    ]
    return _model(
        nodes, [_io("x", [1, 16])], [_io("y", [1, 16])], initializers=[weight, scale]
    )


def random_normal():
    """RandomNormal: becomes RandomStandardNormal, added to TensorFlow.js in 3.21."""
    nodes = [
        helper.make_node("RandomNormal", [], ["noise"], name="noise", shape=[1, 4]),
        helper.make_node("Add", ["x", "noise"], ["y"], name="add_noise"),
    ]
    return _model(nodes, [_io("x", [1, 4])], [_io("y", [1, 4])])


# ----- Structural hazards -----


def cycle():
    """Two nodes that read each other's output: not a DAG."""
    nodes = [
        helper.make_node("Add", ["x", "b"], ["a"], name="first"),
        helper.make_node("Relu", ["a"], ["b"], name="second"),
    ]
    return _model(nodes, [_io("x", [1, 4])], [_io("b", [1, 4])])


def dangling_input():
    """A node reading a tensor that nothing produces."""
    node = helper.make_node("Add", ["x", "ghost"], ["y"], name="reads_ghost")
    return _model([node], [_io("x", [1, 4])], [_io("y", [1, 4])])


def duplicate_names():
    """Two nodes writing one tensor, and two nodes sharing a name."""
    nodes = [
        helper.make_node("Relu", ["x"], ["y"], name="twin"),
        helper.make_node("Sigmoid", ["x"], ["y"], name="twin"),
    ]
    return _model(nodes, [_io("x", [1, 4])], [_io("y", [1, 4])])


def large_weights(megabytes: float, name="w"):
    """A MatMul with a constant weight of about ``megabytes`` MB."""
    columns = int(megabytes * 1048576 / 4 / 256)
    weight = numpy_helper.from_array(np.ones((256, columns), np.float32), name)
    node = helper.make_node("MatMul", ["x", name], ["y"], name="fc")
    return _model(
        [node], [_io("x", [1, 256])], [_io("y", [1, columns])], initializers=[weight]
    )


def nested_ifs(depth: int):
    """If nodes nested ``depth`` levels deep, each in the previous then-branch."""

    def leaf(level):
        node = helper.make_node("Identity", ["c"], [f"out{level}"], name=f"leaf{level}")
        return helper.make_graph(
            [node], f"leaf{level}", [], [_io(f"out{level}", [1], TensorProto.BOOL)]
        )

    inner = leaf(0)
    for level in range(1, depth + 1):
        node = helper.make_node(
            "If",
            ["c"],
            [f"out{level}"],
            name=f"if{level}",
            then_branch=inner,
            else_branch=leaf(level),
        )
        inner = helper.make_graph(
            [node], f"g{level}", [], [_io(f"out{level}", [1], TensorProto.BOOL)]
        )
    return _model(
        list(inner.node), [_io("c", [1], TensorProto.BOOL)], list(inner.output)
    )


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def deep_nesting_bytes(depth: int) -> bytes:
    """An ONNX model whose If nodes nest ``depth`` graphs deep, as raw bytes.

    Written field by field: onnx.helper itself cannot build (or copy) protobuf
    messages this deep.
    """
    graph = _field(2, b"innermost")  # GraphProto.name
    for level in range(depth):
        attribute = (
            _field(1, b"then_branch") + b"\xa0\x01\x05" + _field(6, graph)
        )  # AttributeProto: name, type = GRAPH (field 20), g
        node = (
            _field(4, b"If") + _field(3, f"if{level}".encode()) + _field(5, attribute)
        )
        graph = _field(1, node) + _field(2, f"g{level}".encode())
    opset = b"\x10\x0d"  # OperatorSetIdProto.version = 13
    return b"\x08\x08" + _field(7, graph) + _field(8, opset)  # ir_version 8


def tflite_bytes(
    opcode_index=0, tensor_index=1, buffer_index=1, builtin=None, shape=(1, 4)
):
    """A one-operator TFLite model whose indices can be pointed out of range.

    With the defaults the model is valid: two float32 tensors, one builtin
    ADD operator, and buffer 1 holding the second input's 16 bytes.
    ``builtin`` replaces ADD with another builtin operator code; ``shape`` is
    the declared shape of both tensors.
    """
    import flatbuffers
    import tflite

    b = flatbuffers.Builder(1024)

    def vector(start, items, add):
        start(b, len(items))
        for item in reversed(items):
            add(item)
        return b.EndVector()

    names = [b.CreateString("x"), b.CreateString("w")]
    tensors = []
    for i, name in enumerate(names):
        dims = vector(tflite.TensorStartShapeVector, list(shape), b.PrependInt32)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, dims)
        tflite.TensorAddType(b, tflite.TensorType.FLOAT32)
        tflite.TensorAddName(b, name)
        tflite.TensorAddBuffer(b, buffer_index if i else 0)
        tensors.append(tflite.TensorEnd(b))
    inputs = vector(tflite.OperatorStartInputsVector, [0, tensor_index], b.PrependInt32)
    outputs = vector(tflite.OperatorStartOutputsVector, [0], b.PrependInt32)
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, opcode_index)
    tflite.OperatorAddInputs(b, inputs)
    tflite.OperatorAddOutputs(b, outputs)
    operator = tflite.OperatorEnd(b)

    tensor_vec = vector(
        tflite.SubGraphStartTensorsVector, tensors, b.PrependUOffsetTRelative
    )
    op_vec = vector(
        tflite.SubGraphStartOperatorsVector, [operator], b.PrependUOffsetTRelative
    )
    sub_in = vector(tflite.SubGraphStartInputsVector, [0], b.PrependInt32)
    sub_out = vector(tflite.SubGraphStartOutputsVector, [0], b.PrependInt32)
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensor_vec)
    tflite.SubGraphAddOperators(b, op_vec)
    tflite.SubGraphAddInputs(b, sub_in)
    tflite.SubGraphAddOutputs(b, sub_out)
    subgraph = tflite.SubGraphEnd(b)

    code = tflite.BuiltinOperator.ADD if builtin is None else builtin
    tflite.OperatorCodeStart(b)
    # Codes above 127 live in BuiltinCode; the old byte field holds 127.
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
    tflite.OperatorCodeAddBuiltinCode(b, code)
    tflite.OperatorCodeAddVersion(b, 1)
    opcode = tflite.OperatorCodeEnd(b)

    data = vector(tflite.BufferStartDataVector, [0] * 16, b.PrependUint8)
    tflite.BufferStart(b)
    empty = tflite.BufferEnd(b)
    tflite.BufferStart(b)
    tflite.BufferAddData(b, data)
    weights = tflite.BufferEnd(b)

    subgraphs = vector(
        tflite.ModelStartSubgraphsVector, [subgraph], b.PrependUOffsetTRelative
    )
    opcodes = vector(
        tflite.ModelStartOperatorCodesVector, [opcode], b.PrependUOffsetTRelative
    )
    buffers = vector(
        tflite.ModelStartBuffersVector, [empty, weights], b.PrependUOffsetTRelative
    )
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddSubgraphs(b, subgraphs)
    tflite.ModelAddOperatorCodes(b, opcodes)
    tflite.ModelAddBuffers(b, buffers)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


CASES = {
    "constant_generator.onnx": constant_generator,
    "folded_eyelike.onnx": folded_eyelike,
    "float16_overflow.onnx": float16_overflow,
    "relu.onnx": relu,
    "relu_opset18.onnx": lambda: relu(opset=18),
    "gelu.onnx": gelu,
    "lppool.onnx": lppool,
    "transpose.onnx": transpose,
    "resize_rank3.onnx": resize_rank3,
    "custom_domain.onnx": custom_domain,
    "if_subgraph.onnx": if_subgraph,
    "int64_input.onnx": int64_input,
    "dynamic_input.onnx": dynamic_input,
    "shape_error.onnx": shape_error,
    "hardswish.onnx": hardswish,
    "clip.onnx": clip,
    "big_int64.onnx": big_int64,
    "mid_int64.onnx": mid_int64,
    "huge_activation.onnx": huge_activation,
    "dynamic_activation.onnx": dynamic_activation,
    "where_rank5.onnx": where_rank5,
    "nonzero.onnx": nonzero,
    "range.onnx": range_op,
    "two_inputs.onnx": two_inputs,
    "float16_weights.onnx": float16_weights,
    "random_normal.onnx": random_normal,
    "cycle.onnx": cycle,
    "dangling_input.onnx": dangling_input,
    "duplicate_names.onnx": duplicate_names,
    "cost.onnx": cost_model,
    "liveness.onnx": liveness_model,
    "qdq_conv.onnx": qdq_conv,
    "build_metadata.onnx": build_metadata,
    "mish.onnx": mish,
    "layer_norm.onnx": layer_norm,
    "not.onnx": logical_not,
    "size.onnx": size_op,
    "sum3.onnx": sum3,
    "identity_dropout.onnx": identity_dropout,
}

# TFLite cases, written as raw flatbuffers.
TFLITE_CASES = {
    "gelu.tflite": lambda: tflite_bytes(builtin=150),  # BuiltinOperator.GELU
}


def save_external(model: onnx.ModelProto, folder: str, name: str, location: str) -> str:
    """Save with every initializer in the external file ``location``."""
    path = os.path.join(folder, name)
    onnx.save(
        model,
        path,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=location,
        size_threshold=0,
    )
    return path


def point_external_data(path: str, location: str) -> None:
    """Rewrite every external-data location of a saved model, as an attacker would."""
    model = onnx.load(path, load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(model, path)


def build_all(folder: str) -> dict[str, str]:
    """Write every case into ``folder``; return name -> path."""
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for name, make in CASES.items():
        path = os.path.join(folder, name)
        onnx.save(make(), path)
        paths[name] = path
    for name, make in TFLITE_CASES.items():
        path = os.path.join(folder, name)
        with open(path, "wb") as out:
            out.write(make())
        paths[name] = path
    return paths


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        description="Write every synthetic model the tests use into a folder."
    )
    parser.add_argument("folder", nargs="?", default="synthetic_models")
    for path in build_all(parser.parse_args().folder).values():
        print(path)
