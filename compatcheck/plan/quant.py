"""How a model is quantized, read from its operators and tensor types."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from compatcheck.model.graph import ModelGraph

# Forms, as engine profiles name them in `quantized_forms`.
FLOAT32 = "float32"
FLOAT16_WEIGHTS = "float16-weights"
QDQ = "qdq"
OPERATOR = "operator"
DYNAMIC = "dynamic"
FULL_INTEGER = "full-integer"
INTEGER_FLOAT_IO = "integer-float-io"
DYNAMIC_RANGE = "dynamic-range"

_QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}
_OPERATOR_OPS = {
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
    "QLinearAdd",
    "QLinearMul",
    "QLinearSigmoid",
    "QLinearLeakyRelu",
    "QLinearAveragePool",
    "QLinearGlobalAveragePool",
    "QLinearConcat",
    "QGemm",
}
_INTEGER = {"int8", "uint8", "int16", "int4", "uint4"}

DESCRIPTIONS = {
    FLOAT32: "not quantized: float32 weights and activations",
    FLOAT16_WEIGHTS: "float16 weights",
    QDQ: "int8 in QDQ form (QuantizeLinear/DequantizeLinear around float operators)",
    OPERATOR: "int8 in operator form (QLinearConv, MatMulInteger and the like)",
    DYNAMIC: "dynamic quantization: int8 weights, activations quantized at run time "
    "(DynamicQuantizeLinear)",
    FULL_INTEGER: "full-integer TFLite: 8-bit integer weights, activations, inputs "
    "and outputs",
    INTEGER_FLOAT_IO: "integer TFLite with float inputs and outputs (QUANTIZE and "
    "DEQUANTIZE at the edges)",
    DYNAMIC_RANGE: "dynamic-range TFLite: int8 weights, float activations",
}

TRADE_OFF = {
    FLOAT32: "full precision. int8 would make the weights about 4x smaller and can "
    "run faster where the engine has int8 kernels, at an accuracy cost only a test "
    "on your own data measures; float16 weights halve the size",
    FLOAT16_WEIGHTS: "half the weight bytes of float32; values keep about 3 "
    "significant digits, so check accuracy on your own data",
    QDQ: "8-bit values: about 4x smaller weights and faster integer kernels where "
    "the engine has them, at an accuracy cost you must measure on your own data",
}
_INT8_TRADE_OFF = TRADE_OFF[QDQ]
CHOICE = (
    "quantization trades accuracy for size and speed: choose it after measuring "
    "accuracy on your own data, not by default"
)


@dataclass(frozen=True)
class QuantState:
    form: str
    evidence: str

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.form]

    @property
    def trade_off(self) -> str:
        return TRADE_OFF.get(self.form, _INT8_TRADE_OFF)

    def to_dict(self) -> dict:
        return {
            "form": self.form,
            "description": self.description,
            "evidence": self.evidence,
            "trade_off": self.trade_off,
            "choice": CHOICE,
        }


def quantization_state(model: ModelGraph) -> QuantState:
    """The model's quantization form and what shows it."""
    if model.format == "tflite":
        return _tflite_state(model)
    return _onnx_state(model)


def _onnx_state(model: ModelGraph) -> QuantState:
    ops = Counter(op.op_type for op in model.ops.values() if op.domain == "ai.onnx")
    if ops["DynamicQuantizeLinear"]:
        return QuantState(DYNAMIC, _count(ops, {"DynamicQuantizeLinear"}))
    operator = _count(ops, _OPERATOR_OPS)
    if operator:
        return QuantState(OPERATOR, operator)
    qdq = _count(ops, _QDQ_OPS)
    if qdq:
        return QuantState(QDQ, qdq)
    return _weight_state(model)


def _tflite_state(model: ModelGraph) -> QuantState:
    edges = [*model.inputs, *model.outputs]
    activations = [
        model.tensors[name]
        for op in model.ops.values()
        if not op.scope
        for name in op.outputs
        if name in model.tensors
    ]
    quantized = [t for t in activations if t.quantization and t.dtype in _INTEGER]
    if edges and activations and all(t.dtype in _INTEGER for t in edges):
        if len(quantized) == len(activations):
            return QuantState(
                FULL_INTEGER,
                f"inputs, outputs and all {len(activations)} activations are "
                f"{_types(edges)}",
            )
    if quantized and len(quantized) * 2 >= len(activations):
        return QuantState(
            INTEGER_FLOAT_IO,
            f"{len(quantized)} of {len(activations)} activations are quantized "
            f"integers; inputs and outputs are {_types(edges)}",
        )
    int_weights = [w for w in model.weights if w.dtype in ("int8", "uint8")]
    if int_weights and not quantized:
        return QuantState(
            DYNAMIC_RANGE,
            f"{len(int_weights)} int8 weight tensor(s) feed float operators",
        )
    return _weight_state(model)


def _weight_state(model: ModelGraph) -> QuantState:
    by_type: Counter[str] = Counter()
    for weight in model.weights:
        by_type[weight.dtype] += weight.byte_size
    if by_type["float16"] > by_type["float32"]:
        return QuantState(
            FLOAT16_WEIGHTS,
            f"{by_type['float16']} bytes of float16 weights, "
            f"{by_type['float32']} of float32",
        )
    return QuantState(FLOAT32, "no quantization operators or integer activations")


def _count(ops: Counter, names: set[str]) -> str:
    found = sorted((name, ops[name]) for name in names if ops[name])
    return ", ".join(f"{count} {name}" for name, count in found)


def _types(tensors) -> str:
    return "/".join(sorted({t.dtype for t in tensors}))
