"""The input and output contract: what the mini program feeds and reads."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from compatcheck.model.graph import Dim, IOMeta, ModelGraph, OpNode, TensorInfo

# ONNX operators whose image inputs are NCHW by the operator definition.
_NCHW_OPS = {
    "Conv",
    "ConvTranspose",
    "MaxPool",
    "AveragePool",
    "LpPool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "BatchNormalization",
    "InstanceNormalization",
    "QLinearConv",
    "ConvInteger",
    "DepthToSpace",
    "SpaceToDepth",
}
# Channel counts an image-like dimension usually has.
_CHANNELS = (1, 3, 4)


@dataclass
class TensorContract:
    """One graph input or output as the mini program sees it.

    ``feed_shape`` is the concrete shape to use (dynamic dimensions filled
    in), or None where a dimension has no value to propose; ``filled``
    says where each filled-in value came from.
    """

    name: str
    dtype: str
    shape: list[Dim] | None
    feed_shape: list[int] | None
    filled: list[str] = field(default_factory=list)
    layout: str = ""
    layout_reason: str = ""
    normalisation: dict | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "shape": self.shape,
            "feed_shape": self.feed_shape,
            "filled": list(self.filled),
            "layout": self.layout or None,
            "layout_reason": self.layout_reason,
            "normalisation": self.normalisation,
        }


@dataclass
class Contract:
    inputs: list[TensorContract]
    outputs: list[TensorContract]
    # Symbolic dimension name -> the size the plan uses for it.
    dim_values: dict[str, int]

    def to_dict(self) -> dict:
        return {
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
        }


def io_contract(model: ModelGraph, given: dict[str, tuple[int, ...]]) -> Contract:
    """Inputs with the shapes to feed, outputs with the shapes they come back in.

    ``given`` holds the user's ``--input-shape`` values by input name.
    """
    consumers = _consumers(model)
    dim_values: dict[str, int] = {}
    inputs = []
    for tensor in model.inputs:
        feed, filled = _feed_shape(tensor, given.get(tensor.name), model)
        _learn_dims(tensor, feed, dim_values)
        layout, reason = _layout(model, tensor, _readers(tensor.name, consumers))
        inputs.append(
            TensorContract(
                name=tensor.name,
                dtype=tensor.dtype,
                shape=_shown(tensor),
                feed_shape=feed,
                filled=filled,
                layout=layout,
                layout_reason=reason,
                normalisation=_normalisation(model.io_meta.get(tensor.name)),
            )
        )
    outputs = [
        TensorContract(
            name=tensor.name,
            dtype=tensor.dtype,
            shape=_shown(tensor),
            feed_shape=resolve_shape(tensor.display_shape, dim_values),
            normalisation=_normalisation(model.io_meta.get(tensor.name)),
        )
        for tensor in model.outputs
    ]
    return Contract(inputs, outputs, dim_values)


def resolve_shape(
    shape: tuple[Dim, ...] | list[Dim] | None, dim_values: dict[str, int]
) -> list[int] | None:
    """The shape with symbolic dimensions replaced, or None if any stays open."""
    if shape is None:
        return None
    resolved = []
    for dim in shape:
        if isinstance(dim, int) and dim >= 0:
            resolved.append(dim)
        elif isinstance(dim, str) and dim in dim_values:
            resolved.append(dim_values[dim])
        else:
            return None
    return resolved


def _shown(tensor: TensorInfo) -> list[Dim] | None:
    shape = tensor.display_shape
    return list(shape) if shape is not None else None


def _feed_shape(
    tensor: TensorInfo, given: tuple[int, ...] | None, model: ModelGraph
) -> tuple[list[int] | None, list[str]]:
    """Concrete sizes for every dimension, and where each guess came from."""
    if given:
        return list(given), ["every dimension from --input-shape"]
    shape = tensor.display_shape
    if shape is None:
        return None, ["the rank is unknown: give --input-shape"]
    meta = model.io_meta.get(tensor.name)
    size = meta.default_size if meta is not None else None
    feed: list[int] = []
    filled: list[str] = []
    for index, dim in enumerate(shape):
        if isinstance(dim, int) and dim > 0:
            feed.append(dim)
            continue
        value, why = _fill(tensor, index, size)
        if value is None:
            filled.append(f"dimension {index} ({_dim_name(dim)}): give --input-shape")
            return None, filled
        feed.append(value)
        filled.append(f"dimension {index} ({_dim_name(dim)}) = {value}: {why}")
    return feed, filled


def _fill(
    tensor: TensorInfo, index: int, size: tuple[int, int] | None
) -> tuple[int | None, str]:
    if index == 0:
        return 1, "one item per run (batch)"
    rank = len(tensor.shape or ())
    if size is not None and rank == 4:
        # The metadata's default image size, for the height and width axes
        # of an NHWC tensor (the TFLite layout).
        if index == 1:
            return size[1], "default image height in the model metadata"
        if index == 2:
            return size[0], "default image width in the model metadata"
    stored = tensor.shape[index] if tensor.shape else None
    if tensor.signature is not None and isinstance(stored, int) and stored > 0:
        return stored, "the size stored in the model for this dynamic dimension"
    return None, ""


def _dim_name(dim: Dim) -> str:
    if isinstance(dim, str):
        return dim
    return "unknown" if dim is None else str(dim)


def _learn_dims(
    tensor: TensorInfo, feed: list[int] | None, dim_values: dict[str, int]
) -> None:
    shape = tensor.display_shape
    if feed is None or shape is None or len(shape) != len(feed):
        return
    for dim, size in zip(shape, feed, strict=True):
        if isinstance(dim, str):
            dim_values.setdefault(dim, size)


def _consumers(model: ModelGraph) -> dict[str, list[OpNode]]:
    found: dict[str, list[OpNode]] = {}
    for op in model.ops.values():
        if op.scope:
            continue
        for name in op.inputs:
            found.setdefault(name, []).append(op)
    return found


# Operators that keep the element order, so the layout is their reader's:
# a float16 model casts its float32 input, a QDQ model quantizes it.
_SAME_ORDER = {"Cast", "Identity", "QuantizeLinear", "DequantizeLinear"}


def _readers(name: str, consumers: dict[str, list[OpNode]]) -> list[OpNode]:
    """The operators that read ``name``, looking through order-keeping ones."""
    found: list[OpNode] = []
    pending, seen = [name], {name}
    while pending:
        for op in consumers.get(pending.pop(0), []):
            found.append(op)
            if op.op_type in _SAME_ORDER:
                fresh = [o for o in op.outputs[:1] if o not in seen]
                seen.update(fresh)
                pending.extend(fresh)
    return found


def _layout(
    model: ModelGraph, tensor: TensorInfo, consumers: list[OpNode]
) -> tuple[str, str]:
    """The likely memory layout of an image-like input, and the evidence."""
    shape = tensor.display_shape
    if shape is None or len(shape) not in (3, 4):
        rank = "unknown rank" if shape is None else f"rank {len(shape)}"
        return "", f"{rank}: not an image tensor"
    if model.format == "tflite" and len(shape) == 4:
        return "NHWC", "TFLite image operators take NHWC"
    for op in consumers:
        if op.op_type == "Transpose" and op.attrs.get("perm") == (0, 3, 1, 2):
            return "NHWC", f"{op.name} transposes it to NCHW (perm 0,3,1,2)"
        if op.op_type in _NCHW_OPS:
            layout = "NCHW" if len(shape) == 4 else "NCW"
            return layout, f"it feeds {op.op_type} {op.name!r}, which takes {layout}"
    if len(shape) == 4:
        return _layout_from_dims(shape)
    return "", "no image operator reads it"


def _layout_from_dims(shape: tuple[Dim, ...]) -> tuple[str, str]:
    second, last = shape[1], shape[3]
    if second in _CHANNELS and last not in _CHANNELS:
        return "NCHW", f"dimension 1 is {second}, a channel count (a guess)"
    if last in _CHANNELS and second not in _CHANNELS:
        return "NHWC", f"dimension 3 is {last}, a channel count (a guess)"
    return "", "no image operator reads it and the sizes do not tell"


def _normalisation(meta: IOMeta | None) -> dict | None:
    """What the model says about value ranges and preprocessing, if anything."""
    if meta is None:
        return None
    found: dict = {"source": meta.source}
    pairs = (
        ("mean", meta.mean),
        ("std", meta.std),
        ("min", meta.value_min),
        ("max", meta.value_max),
    )
    for key, values in pairs:
        if values and all(math.isfinite(v) for v in values):
            found[key] = list(values)
        elif values:  # NaN or infinity: no value to normalise with
            found.setdefault("not_finite", []).append(key)
    if meta.color_space:
        found["color_space"] = meta.color_space
    if meta.properties:
        found["properties"] = dict(meta.properties)
    if meta.description:
        found["description"] = meta.description
    return found if len(found) > 1 else None
