"""Operators rewritten as older, more widely supported ones.

Each decomposition computes the same function as the operator it replaces,
up to floating-point rounding; verification measures the difference. The
ops a decomposition emits are listed in ``emits`` so the fixer can check
them against the target engine before using it. Decompositions are written
for the opset the model has when they run (the fixer converts the opset
afterwards), so Reduce axes are attributes below opset 18 and inputs from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper


class CannotDecompose(Exception):
    """This node cannot be rewritten (an attribute or output it uses)."""


@dataclass
class Builder:
    """Makes unique names and typed constants for one model.

    Constants are Constant nodes, not initializers: below IR version 4 an
    initializer must also be a graph input, and a Constant works in every
    graph and subgraph. ``take_constants`` hands them to the caller, which
    puts them before the nodes that read them.
    """

    opset: int
    dtypes: dict[str, int]
    ranks: dict[str, int]
    _count: int = 0
    _constants: list = field(default_factory=list)

    def name(self, base: str) -> str:
        self._count += 1
        return f"{base}__cc{self._count}"

    def constant(self, base: str, value, elem_type: int) -> str:
        """A scalar (or 1-D) constant of the given ONNX element type."""
        name = self.name(base)
        dtype = helper.tensor_dtype_to_np_dtype(elem_type)
        tensor = numpy_helper.from_array(np.array(value, dtype=dtype), name)
        self._constants.append(
            helper.make_node("Constant", [], [name], name=name, value=tensor)
        )
        return name

    def take_constants(self) -> list[onnx.NodeProto]:
        taken, self._constants = self._constants, []
        return taken

    def dtype_of(self, tensor: str) -> int:
        if tensor not in self.dtypes:
            raise CannotDecompose(f"the element type of {tensor!r} is unknown")
        return self.dtypes[tensor]

    def rank_of(self, tensor: str) -> int:
        if tensor not in self.ranks:
            raise CannotDecompose(f"the rank of {tensor!r} is unknown")
        return self.ranks[tensor]

    def reduce_mean(self, source: str, axes: list[int], out: str) -> onnx.NodeProto:
        """ReduceMean over ``axes`` keeping dimensions, in this opset's form."""
        if self.opset >= 18:
            axes_name = self.constant("axes", axes, onnx.TensorProto.INT64)
            return helper.make_node(
                "ReduceMean", [source, axes_name], [out], keepdims=1, name=out
            )
        return helper.make_node("ReduceMean", [source], [out], axes=axes, keepdims=1)


Decomposer = Callable[[onnx.NodeProto, Builder], list[onnx.NodeProto]]


@dataclass(frozen=True)
class Decomposition:
    op_type: str
    emits: tuple[str, ...]
    build: Decomposer

    @property
    def doc(self) -> str:
        return " ".join((self.build.__doc__ or "").split())


def _node(op: str, inputs: list[str], output: str, **attrs) -> onnx.NodeProto:
    return helper.make_node(op, inputs, [output], name=output, **attrs)


def gelu(node: onnx.NodeProto, b: Builder) -> list[onnx.NodeProto]:
    """Gelu: 0.5 * x * (1 + erf(x / sqrt(2))); with approximate="tanh",
    0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))."""
    x, (y,) = node.input[0], node.output
    t = b.dtype_of(x)
    approximate = _attr(node, "approximate", b"none")
    if approximate == b"tanh":
        cube = [
            _node("Mul", [x, x], b.name("x2")),
        ]
        cube.append(_node("Mul", [cube[-1].output[0], x], b.name("x3")))
        inner = [
            _node(
                "Mul", [cube[-1].output[0], b.constant("c", 0.044715, t)], b.name("k")
            ),
        ]
        inner.append(_node("Add", [x, inner[-1].output[0]], b.name("s")))
        scale = b.constant("c", math.sqrt(2 / math.pi), t)
        inner.append(_node("Mul", [inner[-1].output[0], scale], b.name("u")))
        inner.append(_node("Tanh", [inner[-1].output[0]], b.name("th")))
        core = [*cube, *inner]
    else:
        root = b.constant("c", math.sqrt(2.0), t)
        core = [_node("Div", [x, root], b.name("xs"))]
        core.append(_node("Erf", [core[-1].output[0]], b.name("erf")))
    tail = [_node("Add", [core[-1].output[0], b.constant("one", 1.0, t)], b.name("p"))]
    tail.append(_node("Mul", [x, tail[-1].output[0]], b.name("xp")))
    tail.append(_node("Mul", [tail[-1].output[0], b.constant("half", 0.5, t)], y))
    return [*core, *tail]


def hard_swish(node: onnx.NodeProto, b: Builder) -> list[onnx.NodeProto]:
    """HardSwish: x * HardSigmoid(x) with alpha 1/6 and beta 0.5, which is
    x * max(0, min(1, x / 6 + 0.5)) as the operator defines it."""
    x, (y,) = node.input[0], node.output
    gate = b.name("gate")
    return [
        helper.make_node(
            "HardSigmoid", [x], [gate], name=gate, alpha=1.0 / 6.0, beta=0.5
        ),
        _node("Mul", [x, gate], y),
    ]


def mish(node: onnx.NodeProto, b: Builder) -> list[onnx.NodeProto]:
    """Mish: x * tanh(softplus(x))."""
    x, (y,) = node.input[0], node.output
    soft, tanh = b.name("softplus"), b.name("tanh")
    return [
        _node("Softplus", [x], soft),
        _node("Tanh", [soft], tanh),
        _node("Mul", [x, tanh], y),
    ]


def layer_normalization(node: onnx.NodeProto, b: Builder) -> list[onnx.NodeProto]:
    """LayerNormalization: (x - mean) / sqrt(var + epsilon) * scale + bias, the
    mean and variance taken over the axes from ``axis`` to the last. Only the
    first output (Y) may be used."""
    if len([o for o in node.output if o]) > 1:
        raise CannotDecompose("its Mean or InvStdDev output is used")
    x, scale = node.input[0], node.input[1]
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else ""
    (y,) = node.output[:1]
    t = b.dtype_of(x)
    rank = b.rank_of(x)
    axis = _attr(node, "axis", -1)
    axes = list(range(axis % rank, rank))
    epsilon = _attr(node, "epsilon", 1e-5)
    mean, diff, square, var = (b.name(n) for n in ("mean", "diff", "sq", "var"))
    shifted, std, normal = b.name("veps"), b.name("std"), b.name("norm")
    nodes = [
        b.reduce_mean(x, axes, mean),
        _node("Sub", [x, mean], diff),
        _node("Mul", [diff, diff], square),
        b.reduce_mean(square, axes, var),
        _node("Add", [var, b.constant("eps", epsilon, t)], shifted),
        _node("Sqrt", [shifted], std),
        _node("Div", [diff, std], normal),
    ]
    if bias:
        scaled = b.name("scaled")
        nodes += [
            _node("Mul", [normal, scale], scaled),
            _node("Add", [scaled, bias], y),
        ]
    else:
        nodes.append(_node("Mul", [normal, scale], y))
    return nodes


def logical_not(node: onnx.NodeProto, b: Builder) -> list[onnx.NodeProto]:
    """Not: x xor true."""
    true = b.constant("true", True, onnx.TensorProto.BOOL)
    return [_node("Xor", [node.input[0], true], node.output[0])]


def size(node: onnx.NodeProto, b: Builder) -> list[onnx.NodeProto]:
    """Size: the product of Shape(x), as a scalar int64 (ReduceProd over all
    axes, keepdims 0)."""
    shape = b.name("shape")
    return [
        _node("Shape", [node.input[0]], shape),
        _node("ReduceProd", [shape], node.output[0], keepdims=0),
    ]


def n_ary_sum(node: onnx.NodeProto, b: Builder) -> list[onnx.NodeProto]:
    """Sum of n inputs: a chain of n - 1 two-input Adds (same broadcasting)."""
    inputs = [i for i in node.input if i]
    if len(inputs) < 2:
        return [_node("Identity", inputs, node.output[0])]
    nodes, current = [], inputs[0]
    for index, other in enumerate(inputs[1:], start=1):
        out = node.output[0] if index == len(inputs) - 1 else b.name("sum")
        nodes.append(_node("Add", [current, other], out))
        current = out
    return nodes


def _attr(node: onnx.NodeProto, name: str, default):
    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


DECOMPOSITIONS = {
    d.op_type: d
    for d in (
        Decomposition("Gelu", ("Div", "Erf", "Add", "Mul", "Tanh"), gelu),
        Decomposition("HardSwish", ("HardSigmoid", "Mul"), hard_swish),
        Decomposition("Mish", ("Softplus", "Tanh", "Mul"), mish),
        Decomposition(
            "LayerNormalization",
            ("ReduceMean", "Sub", "Mul", "Add", "Sqrt", "Div"),
            layer_normalization,
        ),
        Decomposition("Not", ("Xor",), logical_not),
        Decomposition("Size", ("Shape", "ReduceProd"), size),
        Decomposition("Sum", ("Add",), n_ary_sum),
    )
}
