"""Rewrites of an ONNX ModelProto, each tied to the rules it resolves.

A pass edits the model in place and returns what it changed, or raises
``Refused`` with the reason it cannot. Passes never decide whether a change
is acceptable: verification (running both models) does.
"""

from __future__ import annotations

import contextlib
import os
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass, field

import onnx
from onnx import helper

from compatcheck.fix.decompose import DECOMPOSITIONS, Builder, CannotDecompose
from compatcheck.model.dtypes import onnx_dtype_name
from compatcheck.model.graph import ModelGraph, OpNode, node_path
from compatcheck.profiles.model import Engine

# Canonical dtype name (float32) -> ONNX element type.
ELEM_TYPES = {
    onnx_dtype_name(name): value
    for name, value in onnx.TensorProto.DataType.items()
    if name != "UNDEFINED"
}
# Types an engine cannot exchange -> the type to exchange instead.
EXCHANGE = {
    "int64": "int32",
    "uint64": "uint32",
    "float16": "float32",
    "bfloat16": "float32",
    "float64": "float32",
    "bool": "uint8",
    "int16": "int32",
    "uint16": "int32",
}


class Refused(Exception):
    """A fix that cannot be applied, with the reason."""


@dataclass
class Change:
    """One applied fix: its id, the rules it resolves, and what it did."""

    fix: str
    codes: tuple[str, ...]
    summary: str
    safe: bool = True
    nodes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "fix": self.fix,
            "codes": list(self.codes),
            "summary": self.summary,
            "safe": self.safe,
            "nodes": list(self.nodes),
        }


def main_opset(model: onnx.ModelProto) -> int:
    return next(
        (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0
    )


# Decomposition ---------------------------------------------------------------


def decompose(
    model: onnx.ModelProto,
    source: ModelGraph,
    engine: Engine,
    flagged: set[str],
    target_opset: int | None,
) -> Change | None:
    """Replace flagged nodes, and nodes too new for ``target_opset``.

    Subgraphs (If branches, Loop bodies) are rewritten too; node ids follow
    the loader's naming, so the check's findings point at them. A node is
    rewritten only when every operator its decomposition emits is
    supported by ``engine``; otherwise it stays and the reason is given.
    """
    builder = Builder(main_opset(model), _dtypes(source), _ranks(source))
    rewrite = _Rewrite(source, engine, flagged, target_opset, builder)
    rewrite.graph(model.graph, ())
    if rewrite.problems and not rewrite.done:
        raise Refused("; ".join(rewrite.problems[:4]))
    if not rewrite.done:
        return None
    shown = ", ".join(f"{op} x{n}" for op, n in sorted(rewrite.done.items()))
    shown += " into " + ", ".join(
        f"{op} x{n}" for op, n in sorted(rewrite.emitted.items())
    )
    summary = f"decomposed {shown}"
    if rewrite.problems:
        summary += f" (not: {'; '.join(rewrite.problems[:4])})"
    return Change(
        "decompose", ("CC200", "CC201", "CC300"), summary, nodes=rewrite.where
    )


@dataclass
class _Rewrite:
    source: ModelGraph
    engine: Engine
    flagged: set[str]
    target: int | None
    builder: Builder
    done: Counter = field(default_factory=Counter)
    emitted: Counter = field(default_factory=Counter)
    where: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def graph(self, graph: onnx.GraphProto, scope: tuple[str, ...]) -> None:
        new_nodes: list[onnx.NodeProto] = []
        for index, node in enumerate(list(graph.node)):
            name = node.name or f"{node.op_type}_{index}"
            for attr in node.attribute:
                if attr.HasField("g"):
                    self.graph(attr.g, (*scope, f"{name}.{attr.name}"))
                for i, sub in enumerate(attr.graphs):
                    self.graph(sub, (*scope, f"{name}.{attr.name}[{i}]"))
            new_nodes += self.node(node, node_path(scope, name))
        del graph.node[:]
        graph.node.extend(new_nodes)

    def node(self, node: onnx.NodeProto, node_id: str) -> list[onnx.NodeProto]:
        from compatcheck.rules.operators import resolve

        wanted = node_id in self.flagged or _too_new(node, self.target)
        standard = node.domain in ("", "ai.onnx")
        recipe = DECOMPOSITIONS.get(node.op_type) if standard else None
        if not wanted or recipe is None:
            return [node]
        missing = [
            op
            for op in recipe.emits
            if resolve(self.source, self.engine, _probe(op, node)).status != "supported"
        ]
        try:
            if missing:
                raise CannotDecompose(
                    f"{self.engine.title} lacks {', '.join(missing)}, which it needs"
                )
            built = recipe.build(node, self.builder)
        except CannotDecompose as exc:
            self.builder.take_constants()
            self.problems.append(f"{node_id} ({node.op_type}): {exc}")
            return [node]
        built = [*self.builder.take_constants(), *built]
        self.done[node.op_type] += 1
        self.emitted.update(n.op_type for n in built if n.op_type != "Constant")
        self.where.append(node_id)
        return built


def _too_new(node: onnx.NodeProto, target: int | None) -> bool:
    if target is None or node.domain not in ("", "ai.onnx"):
        return False
    try:
        onnx.defs.get_schema(node.op_type, target, "")
    except onnx.defs.SchemaError:
        return True
    return False


def _probe(op_type: str, node: onnx.NodeProto) -> OpNode:
    """A stand-in node for asking the engine about an emitted operator."""
    return OpNode(
        node_id=node.name,
        name=node.name,
        op_type=op_type,
        domain="ai.onnx",
        inputs=list(node.input[:1]),
        outputs=[],
    )


def _dtypes(source: ModelGraph) -> dict[str, int]:
    return {
        name: ELEM_TYPES[t.dtype]
        for name, t in source.tensors.items()
        if t.dtype in ELEM_TYPES
    }


def _ranks(source: ModelGraph) -> dict[str, int]:
    return {
        name: len(t.shape) for name, t in source.tensors.items() if t.shape is not None
    }


# Opset -----------------------------------------------------------------------


def convert_opset(
    model: onnx.ModelProto, target: int
) -> tuple[onnx.ModelProto, Change]:
    """The model at ``target`` opset.

    The onnx version converter goes first. It has no adapter for many
    downgrades, even where an operator's newer version only accepts more
    types; then every node is checked against the target version's
    definition (same attributes, input and output counts in range) and the
    opset is relabelled if all fit and the checker accepts the result.
    Verification runs both models, which catches any change in meaning.
    """
    from onnx import version_converter

    before = main_opset(model)
    try:
        converted = version_converter.convert_version(model, target)
    except Exception as exc:  # the converter raises assorted types
        converter_error = _short(
            str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
        )
    else:
        return converted, Change(
            "convert-opset", ("CC300",), f"converted opset {before} -> {target}"
        )
    relabelled = _relabel(model, before, target, converter_error)
    return relabelled, Change(
        "convert-opset",
        ("CC300",),
        f"moved opset {before} -> {target}: every node's definition at opset "
        f"{target} takes it as it is (the onnx version converter refused: "
        f"{converter_error})",
    )


def _relabel(
    model: onnx.ModelProto, current: int, target: int, converter_error: str
) -> onnx.ModelProto:
    relabelled = onnx.ModelProto()
    relabelled.CopyFrom(model)
    problems = []
    for node in all_nodes(relabelled.graph):
        if node.domain not in ("", "ai.onnx"):
            continue
        problem = _fit(node, current, target)
        if problem:
            problems.append(problem)
    if problems:
        shown = "; ".join(sorted(set(problems))[:4])
        raise Refused(
            f"cannot take opset {current} to {target}: the onnx version converter "
            f"refused ({converter_error}), and {shown}"
        )
    for entry in relabelled.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = target
    try:
        # Type-checks every node against the target opset's definitions.
        onnx.shape_inference.infer_shapes(relabelled, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise Refused(
            f"cannot take opset {current} to {target}: the model is not valid "
            f"at opset {target} ({_short(str(exc))})"
        ) from None
    return relabelled


def _fit(node: onnx.NodeProto, current: int, target: int) -> str:
    """Make ``node`` read as the target version's definition, or say why not.

    An attribute the target version lacks is dropped when it holds the
    value the older definition behaves as (Reshape's allowzero=0).
    """
    try:
        new = onnx.defs.get_schema(node.op_type, target, "")
        old = onnx.defs.get_schema(node.op_type, current, "")
    except onnx.defs.SchemaError:
        return f"{node.op_type} does not exist at opset {target}"
    if new.since_version == old.since_version:
        return ""
    for attr in list(node.attribute):
        if attr.name in new.attributes:
            continue
        if not _is_default(attr, old):
            return f"{node.op_type} at opset {target} has no attribute {attr.name}"
        node.attribute.remove(attr)
    inputs = len(node.input)
    while inputs and not node.input[inputs - 1]:
        inputs -= 1
    if not new.min_input <= inputs <= new.max_input:
        takes = (
            f"{new.min_input}"
            if new.min_input == new.max_input
            else f"{new.min_input} to {new.max_input}"
        )
        return (
            f"{node.op_type} at opset {target} takes {takes} input(s), "
            f"this node has {inputs}"
        )
    if not new.min_output <= len(node.output) <= new.max_output:
        return f"{node.op_type} at opset {target} gives {new.max_output} output(s)"
    return ""


def _is_default(attr: onnx.AttributeProto, schema) -> bool:
    spec = schema.attributes.get(attr.name)
    if spec is None or not spec.default_value.name:
        return False
    default = helper.get_attribute_value(spec.default_value)
    return helper.get_attribute_value(attr) == default


def _clear_value_info(graph: onnx.GraphProto) -> None:
    del graph.value_info[:]
    for node in graph.node:
        for attr in node.attribute:
            for sub in (*([attr.g] if attr.HasField("g") else []), *attr.graphs):
                _clear_value_info(sub)


def all_nodes(graph: onnx.GraphProto):
    """Every node of ``graph`` and of the subgraphs its nodes hold."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            for sub in (*([attr.g] if attr.HasField("g") else []), *attr.graphs):
                yield from all_nodes(sub)


def _short(text: str) -> str:
    """The useful end of an onnx error message, on one line."""
    if "failed:" in text:
        text = text.split("failed:", 1)[1]
    # The version converter writes "No Adapter From Version $14 for Relu"
    # and "No Adapter To Version $17 for Pad".
    for way in ("From", "To"):
        text = text.replace(
            f"No Adapter {way} Version $", f"no adapter {way.lower()} version "
        )
    return textwrap.shorten(text, 160, placeholder=" ...")


# Input and output types ------------------------------------------------------


def cast_io(
    model: onnx.ModelProto, allowed: list[str], names: set[str], opset: int | None
) -> Change | None:
    """Give graph inputs/outputs in ``names`` a type the engine exchanges.

    An input keeps its name and takes the new type; a Cast right after it
    restores the type the graph computes in. An output's producer writes to
    a renamed tensor, and a Cast gives the graph output the new type. Values
    no cast can pass (sequences, maps, types without a partner) are left
    as they are and named in the summary. A model that imports no ai.onnx
    opset (ONNX-ML operators only) gets ``opset`` for its Casts.
    """
    graph = model.graph
    changed: list[str] = []
    problems: list[str] = []
    casts: dict[str, list[onnx.NodeProto]] = {"input": [], "output": []}
    for side, values in (("input", graph.input), ("output", graph.output)):
        for value in values:
            if value.name not in names:
                continue
            new, problem = _exchange(value, allowed)
            if new is None:
                problems.append(problem)
                continue
            old_type = _type_name(value)
            inner = f"{value.name}__cc_{old_type}"
            if side == "input":
                _rename_uses(graph, value.name, inner)
                cast = _cast(value.name, inner, inner, value.type.tensor_type.elem_type)
            else:
                _rename_producer(graph, value.name, inner)
                cast = _cast(inner, value.name, value.name, ELEM_TYPES[new])
            casts[side].append(cast)
            changed.append(f"{side} {value.name}: {old_type} -> {new}")
            value.type.tensor_type.elem_type = ELEM_TYPES[new]
    if not changed:
        if problems:
            raise Refused("; ".join(problems))
        return None
    if main_opset(model) == 0:
        if opset is None:
            raise Refused("the model imports no ai.onnx opset for the Casts it needs")
        model.opset_import.append(helper.make_opsetid("", opset))
    nodes = [*casts["input"], *graph.node, *casts["output"]]
    del graph.node[:]
    graph.node.extend(nodes)
    summary = "cast " + "; ".join(changed)
    if problems:
        summary += f" (not: {'; '.join(problems)})"
    return Change("cast-io", ("CC400",), summary)


def _cast(source: str, target: str, name: str, to: int) -> onnx.NodeProto:
    return helper.make_node("Cast", [source], [target], name=name, to=to)


def _type_name(value: onnx.ValueInfoProto) -> str:
    return onnx_dtype_name(
        onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type)
    )


def _exchange(value: onnx.ValueInfoProto, allowed: list[str]) -> tuple[str | None, str]:
    """The type to exchange ``value`` as, or None and the reason."""
    if not value.type.HasField("tensor_type"):
        return None, f"{value.name!r} is not a tensor; no cast can pass it"
    current = _type_name(value)
    new = EXCHANGE.get(current)
    if new is None or new not in allowed:
        return None, (
            f"{value.name!r} is {current}, and no cast gives a type the engine takes"
        )
    return new, ""


def _rename_uses(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Every read of ``old`` in the graph and its subgraphs now reads ``new``."""
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for attr in node.attribute:
            for sub in (*([attr.g] if attr.HasField("g") else []), *attr.graphs):
                if old not in {v.name for v in sub.input}:
                    _rename_uses(sub, old, new)


def _rename_producer(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
    _rename_uses(graph, old, new)
    for value in graph.value_info:
        if value.name == old:
            value.name = new


# Shapes ----------------------------------------------------------------------


def fix_input_shapes(
    model: onnx.ModelProto, shapes: dict[str, list[int]], dim_values: dict[str, int]
) -> Change | None:
    """Set every dimension of the given inputs, then infer shapes again."""
    changed = []
    for value in model.graph.input:
        shape = shapes.get(value.name)
        dims = value.type.tensor_type.shape.dim
        if shape is None or not value.type.HasField("tensor_type"):
            continue
        if len(dims) != len(shape):
            raise Refused(
                f"input {value.name!r} has rank {len(dims)}, not {len(shape)}"
            )
        before = [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in dims
        ]
        if before == shape:
            continue
        for dim, size in zip(dims, shape, strict=True):
            dim.Clear()
            dim.dim_value = size
        changed.append(f"{value.name} {before} -> {shape}")
    if not changed:
        return None
    for value in model.graph.output:
        for dim in value.type.tensor_type.shape.dim:
            size = dim_values.get(dim.dim_param) if dim.HasField("dim_param") else None
            if size is not None or dim.HasField("dim_param") or dim.dim_value < 0:
                # A size left open (a name, or -1 as some exporters write)
                # would contradict the one inference now finds.
                dim.Clear()
            if size is not None:
                dim.dim_value = size
    # Shapes recorded for the old sizes, in subgraphs too, would contradict
    # the new ones; inference fills them in again.
    _clear_value_info(model.graph)
    return Change(
        "fix-input-shape",
        ("CC401",),
        "fixed input shapes " + "; ".join(changed) + " (other sizes no longer load)",
    )


# Cleanup ---------------------------------------------------------------------


def simplify(model: onnx.ModelProto) -> tuple[onnx.ModelProto, Change | None]:
    """Fold constants and drop what does nothing (Identity, Dropout, unused
    initializers and nodes) with onnx-simplifier."""
    before = Counter(n.op_type for n in model.graph.node)
    before_inits = len(model.graph.initializer)
    simpler = _simplified(model, fold=True)
    how = "folded constants and "
    if _grows(model, simpler):
        # Folding can expand a small generator (ConstantOfShape, Expand,
        # Tile) into the large tensor it makes; keep the generator.
        simpler = _simplified(model, fold=False)
        how = "kept constant generators (folding would grow the model) and "
        if _grows(model, simpler):
            raise Refused(
                f"onnx-simplifier would grow the model from {model.ByteSize():,} "
                f"to {simpler.ByteSize():,} bytes"
            )
    after = Counter(n.op_type for n in simpler.graph.node)
    removed = before - after
    added = after - before
    if not removed and not added and len(simpler.graph.initializer) == before_inits:
        return model, None
    parts = []
    if removed:
        parts.append(
            "removed " + ", ".join(f"{op} x{n}" for op, n in sorted(removed.items()))
        )
    if added:
        parts.append(
            "added " + ", ".join(f"{op} x{n}" for op, n in sorted(added.items()))
        )
    dropped = before_inits - len(simpler.graph.initializer)
    if dropped > 0:
        parts.append(f"{dropped} initializer(s) fewer")
    return simpler, Change("simplify", ("CC200", "CC203"), how + "; ".join(parts))


# A simplified model may be this much larger (folded shapes and the like).
GROWTH_BYTES = 64 * 1024


def _grows(model: onnx.ModelProto, simpler: onnx.ModelProto) -> bool:
    return simpler.ByteSize() > model.ByteSize() * 1.1 + GROWTH_BYTES


@contextlib.contextmanager
def _silenced_stderr():
    """Keep what a library prints on stderr (onnx-simplifier prints whole
    tracebacks of the folds it gives up on) out of compatcheck's one line."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _simplified(model: onnx.ModelProto, fold: bool) -> onnx.ModelProto:
    """onnx-simplifier's result, without the settings it records in metadata."""
    import onnxsim

    try:
        with _silenced_stderr():
            simpler, ok = onnxsim.simplify(
                model,
                check_n=0,
                perform_optimization=True,
                skip_constant_folding=not fold,
            )
    except Exception as exc:  # onnxsim raises many types; any means "skip"
        raise Refused(
            f"onnx-simplifier failed ({type(exc).__name__}: {_short(str(exc))})"
        ) from None
    if not ok:
        raise Refused("onnx-simplifier could not validate its result")
    # Its own settings (onnxsim.*) say nothing about the model and would
    # read as build details in the metadata check.
    kept = [p for p in simpler.metadata_props if not p.key.startswith("onnxsim.")]
    del simpler.metadata_props[:]
    simpler.metadata_props.extend(kept)
    return simpler
