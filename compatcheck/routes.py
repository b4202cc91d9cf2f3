"""Routes: the conversions that carry a model to an engine, and their output.

A route is a chain of conversion tools ending at an engine that loads the
last tool's format (no tools when the engine loads the model as it is).
Converting predicts, operator by operator, what the tool would write: each
predicted operator remembers the node of the user's model it came from, so
every finding names nodes the user can find. What the tool cannot convert
becomes a gap.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from compatcheck.model.graph import CREATES_RANK, ModelGraph, OpNode
from compatcheck.profiles.library import converters, engine_specs
from compatcheck.profiles.model import Conversion, Converter, Engine, Fact, Profile

# Routes longer than this are not worth proposing to anyone.
MAX_CONVERSIONS = 3

FORMAT_TITLES = {
    "onnx": "ONNX",
    "tflite": "TFLite",
    "tfjs-graph-model": "TensorFlow.js graph model",
    "tfjs-layers-model": "TensorFlow.js layers model",
    "paddlejs": "Paddle.js model",
    "bytenn": "ByteNN model",
}

# ONNX attribute defaults that conversion conditions test.
_ONNX_DEFAULTS = {
    ("Resize", "mode"): "nearest",
    ("Upsample", "mode"): "nearest",
    ("Conv", "group"): 1,
    ("ConvTranspose", "group"): 1,
}


@dataclass(frozen=True)
class Route:
    """Conversion tools applied in order, then the engine that loads the result."""

    steps: tuple[Converter, ...]
    engine: Engine

    def chain(self, model_path: str, backend: str | None = None) -> str:
        """``model.tflite -> tf2onnx -> ONNX -> wx.createInferenceSession (cpu)``."""
        parts = [os.path.basename(model_path)]
        for step in self.steps:
            parts += [step.id, FORMAT_TITLES.get(step.to_format, step.to_format)]
        where = backend or self.engine.backend_label
        parts.append(f"{self.engine.title}" + (f" ({where})" if where else ""))
        return " -> ".join(parts)


@dataclass
class Gap:
    """Operators a conversion tool cannot convert, or whose outcome is unknown."""

    converter: Converter
    status: str  # "unsupported" or "unknown"
    op: OpNode
    reason: str
    fact: Fact


def find_routes(model_format: str, profile: Profile) -> list[Route]:
    """Every route from ``model_format`` to an engine of the profile.

    Shorter routes come first; a route never visits a format twice.
    """
    tools = list(converters().values())
    routes: list[Route] = []
    frontier: list[tuple[str, tuple[Converter, ...]]] = [(model_format, ())]
    for _ in range(MAX_CONVERSIONS + 1):
        following = []
        for fmt, steps in frontier:
            routes += [Route(steps, e) for e in profile.engines if e.accepts(fmt)]
            seen = {model_format, *(s.to_format for s in steps)}
            following += [
                (tool.to_format, (*steps, tool))
                for tool in tools
                if tool.from_format == fmt and tool.to_format not in seen
            ]
        frontier = following
    return routes


def convert(model: ModelGraph, tool: Converter) -> tuple[ModelGraph, list[Gap]]:
    """Predict what ``tool`` writes for ``model``, and what it cannot convert."""
    ops: list[OpNode] = []
    gaps: list[Gap] = []
    for op in model.ops.values():
        made = _convert_op(model, op, tool)
        if isinstance(made, Gap):
            gaps.append(made)
        else:
            ops += made
    converted = dataclasses.replace(
        model,
        format=tool.to_format,
        graph=None,
        ops={op.node_id: op for op in ops},
        opsets=_opsets(tool),
        ir_version=None,
        producer=tool.title,
        notes=[],
    )
    return converted, gaps


def _convert_op(model: ModelGraph, op: OpNode, tool: Converter) -> list[OpNode] | Gap:
    """The operators ``tool`` writes for one source node, or why it cannot."""
    if op.domain not in tool.domains:
        return Gap(tool, "unsupported", op, _foreign(op, tool), tool.unlisted)
    entries = tool.map.get(op.op_type)
    if entries is None and tool.accepts_ops_of:
        # A tool that passes operators through: the upstream engine's table
        # says what can be there at all.
        accepted = engine_specs()[tool.accepts_ops_of]
        if op.op_type in accepted.ops:
            return [_predict(op, op.op_type, 0, tool)]
        reason = f"{accepted.title} has no {op.op_type} operator"
        return Gap(tool, "unsupported", op, reason, accepted.unlisted)
    if entries is None:
        verdict = tool.unlisted_by_domain.get(op.domain, tool.unlisted)
        reason = verdict.note or "the tool does not list it"
        return Gap(tool, verdict.value, op, reason, verdict)

    entry = next(
        (e for e in entries if not e.conditional or _holds(model, op, e)), None
    )
    if entry is None:
        reason = "no conversion of the tool fits this node"
        return Gap(tool, "unknown", op, reason, entries[0].fact)
    if entry.refused:
        return Gap(tool, "unsupported", op, entry.refused, entry.fact)
    if entry.unknown:
        return Gap(tool, "unknown", op, entry.unknown, entry.fact)

    names = list(entry.ops)
    if tool.quantized_tensor_ops and _touches_quantized(model, op):
        names += [n for n in tool.quantized_tensor_ops if n not in names]
    made = [_predict(op, name, i, tool) for i, name in enumerate(names)]
    if entry.creates_rank is not None:
        for item in made:
            item.attrs = {**item.attrs, CREATES_RANK: entry.creates_rank}
    return made


def _touches_quantized(model: ModelGraph, op: OpNode) -> bool:
    for name in (*op.inputs, *op.outputs):
        info = model.tensors.get(name) if name else None
        if info is not None and info.quantization is not None:
            return True
    return False


def _foreign(op: OpNode, tool: Converter) -> str:
    if op.domain in ("custom", "flex"):
        return f"it is a TFLite {op.domain} operator: {tool.unlisted.note}"
    domain = op.domain or "(no domain)"
    return f"it belongs to the {domain} domain, which {tool.id} does not read"


def _opsets(tool: Converter) -> dict[str, int]:
    if tool.writes == "onnx" and tool.opset is not None and tool.opset.known:
        return {"ai.onnx": tool.opset.value}
    return {}


def _predict(op: OpNode, op_type: str, index: int, tool: Converter) -> OpNode:
    """A predicted operator that keeps the source node's tensors.

    The tensor lists are shared with the source node, never modified.
    """
    domain = "ai.onnx" if tool.writes == "onnx" else tool.writes
    return OpNode(
        node_id=f"{op.node_id} [{index}:{op_type}]",
        name=op.name,
        op_type=op_type,
        domain=domain,
        inputs=op.inputs,
        outputs=op.outputs,
        scope=op.scope,
        attrs=op.attrs,
        origin=op.where,
    )


def _holds(model: ModelGraph, op: OpNode, entry: Conversion) -> bool:
    """Whether every condition of a conversion entry holds for ``op``."""
    return _shape_holds(model, op, entry) and _values_hold(model, op, entry)


def _shape_holds(model: ModelGraph, op: OpNode, entry: Conversion) -> bool:
    """Version, rank, element type and attribute conditions."""
    if entry.min_version is not None and (op.version or 1) < entry.min_version:
        return False
    if entry.input_rank and model.input_rank(op) not in entry.input_rank:
        return False
    if entry.input_dtypes:
        info = model.tensors.get(_input(op, 0))
        if info is None or info.dtype not in entry.input_dtypes:
            return False
    if entry.output_rank is not None and _output_rank(model, op) != entry.output_rank:
        return False
    for name, allowed in entry.attributes:
        if op.attrs.get(name, _ONNX_DEFAULTS.get((op.op_type, name))) not in allowed:
            return False
    return True


def _values_hold(model: ModelGraph, op: OpNode, entry: Conversion) -> bool:
    """Conditions on constant inputs and their values."""
    for position in entry.constant_inputs:
        if _input(op, position) not in model.constants:
            return False
    for position in entry.scalar_inputs:
        name = _input(op, position)
        info = model.tensors.get(name)
        if name not in model.constants or info is None or info.shape != ():
            return False
    for position, allowed in entry.int_inputs:
        name = _input(op, position)
        if not name:
            continue  # an absent optional input takes its default
        values = model.int_values.get(name)
        if values is None or any(v not in allowed for v in values):
            return False
    return True


def _input(op: OpNode, position: int) -> str:
    return op.inputs[position] if position < len(op.inputs) else ""


def _output_rank(model: ModelGraph, op: OpNode) -> int | None:
    if not op.outputs or not op.outputs[0]:
        return None
    info = model.tensors.get(op.outputs[0])
    return None if info is None or info.shape is None else len(info.shape)
