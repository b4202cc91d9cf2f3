"""Rules about the model file itself, whatever the engine."""

from __future__ import annotations

from collections import defaultdict

from compatcheck.findings import Severity
from compatcheck.rules.base import Context, rule


@rule("CC001", "analysis-incomplete", Severity.INFO, "platform")
def analysis_incomplete(ctx: Context):
    """
    What it checks:
        Whether compatcheck could analyse the whole model. Today this means
        ONNX shape inference: when it fails, intermediate tensor shapes are
        unknown.

    Why it breaks:
        Nothing breaks on the phone because of this, but checks that depend
        on tensor ranks (which engine row a Conv or Resize maps to) fall back
        to assuming the common case, so their verdicts are less certain.

    Example:
        A model whose Reshape target shape is computed at run time from an
        input may stop ONNX shape inference. After
        ``onnxsim model.onnx fixed.onnx --overwrite-input-shape 1,3,224,224``
        every shape is known.

    Fix:
        Fix the input shapes (see CC401) or simplify the model so that shape
        inference succeeds. Nothing is changed automatically.

    Limitations:
        Only the reason ONNX gives is shown; it can be terse.
    """
    for note in ctx.model.notes:
        yield analysis_incomplete.finding(
            note,
            "fix the input shapes or simplify the model (onnxsim) so that every "
            "shape can be inferred; rank-dependent verdicts assume the common case",
        )


@rule("CC003", "graph-structure", Severity.ERROR, "platform", also=(Severity.WARNING,))
def graph_structure(ctx: Context):
    """
    What it checks:
        That the operator graph is a graph a runtime can execute: no cycle,
        no node reading a tensor that nothing produces (and that is not a
        graph input or initializer), no tensor produced twice in one graph,
        and no node name used twice.

    Why it breaks:
        A runtime sorts the nodes and runs them once each; a cycle or a
        dangling input stops session creation ("create session fail"), and a
        tensor written twice makes the result depend on the order.

    Example:
        Two nodes that each read the other's output form a cycle and fail;
        a graph exported by torch.onnx.export passes.

    Fix:
        Export the model again; graph surgery that rewired tensors by hand
        is the usual cause. ``onnx.checker.check_model(path, full_check=True)``
        names the first problem too.

    Limitations:
        For TFLite only cycles and duplicate outputs are checked: tensors
        without a producer are legitimate there (variable tensors).
    """
    model = ctx.model
    if model.graph is None:
        return
    # The same for every platform: worked out once per model.
    if "structure" not in model.shared:
        model.shared["structure"] = [
            *_cycles(model),
            *_dangling(model),
            *_duplicates(model),
        ]
    yield from model.shared["structure"]


def _cycles(model):
    nodes = _find_cycle(model.graph)
    if not nodes:
        return
    yield graph_structure.finding(
        f"the graph has a cycle through {len(nodes)} node(s); no runtime can order "
        "them",
        "export the model again; break the loop with a Loop or Scan operator if "
        "it is meant to iterate",
        nodes=nodes,
    )


def _find_cycle(graph) -> list[str]:
    """Nodes on one cycle, or nothing for a DAG (a linear-time check first)."""
    import networkx as nx

    if nx.is_directed_acyclic_graph(graph):
        return []
    return list(dict.fromkeys(edge[0] for edge in nx.find_cycle(graph)))


def _dangling(model):
    if model.declared is None:
        return
    missing: dict[str, list[str]] = defaultdict(list)
    for op in model.ops.values():
        produced = {key for _, _, key in model.graph.in_edges(op.node_id, keys=True)}
        for name in op.inputs:
            if name and name not in produced and name not in model.declared:
                missing[name].append(op.node_id)
    produced = {out for op in model.ops.values() for out in op.outputs if out}
    for output in model.outputs:
        if output.name not in produced and output.name not in model.declared:
            missing[output.name].append(f"graph output {output.name}")
    for name, nodes in sorted(missing.items()):
        yield graph_structure.finding(
            f"tensor {name!r} is read by {len(nodes)} node(s) but no node produces "
            "it and it is not a graph input or initializer",
            "export the model again, or add the missing producer or initializer",
            nodes=nodes,
        )


def _duplicates(model):
    producers: dict[tuple, list[str]] = defaultdict(list)
    names: dict[tuple, list[str]] = defaultdict(list)
    for op in model.ops.values():
        for out in op.outputs:
            if out:
                producers[(op.scope, out)].append(op.node_id)
        names[(op.scope, op.name)].append(op.node_id)
    for (_, tensor), nodes in sorted(producers.items()):
        if len(nodes) > 1:
            yield graph_structure.finding(
                f"tensor {tensor!r} is produced by {len(nodes)} nodes; each tensor "
                "must have one producer",
                "rename the outputs so that each node writes its own tensor",
                nodes=nodes,
            )
    for (_, name), nodes in sorted(names.items()):
        if len(nodes) > 1:
            yield graph_structure.finding(
                f"{len(nodes)} nodes share the name {name!r}; findings tell them "
                f"apart as {', '.join(nodes[:3])}",
                "give every node a unique name when exporting",
                nodes=nodes,
                severity=Severity.WARNING,
            )


@rule(
    "CC002",
    "external-data-unsafe",
    Severity.ERROR,
    "platform",
    also=(Severity.WARNING,),
)
def external_data_unsafe(ctx: Context):
    """
    What it checks:
        ONNX tensors stored in external data files: the location must be a
        relative path inside the model's folder that names an existing file,
        and the offset and length must lie within that file.

    Why it breaks:
        A mini program loads one ``.onnx`` file from its user data folder; an
        external data file that is missing, outside the folder or shorter
        than the model says makes session creation fail. A location that
        points outside the folder is also how malicious models read other
        files, so compatcheck never opens such a path.

    Example:
        ``location: ../../secrets/weights.bin`` fails; ``location:
        model.onnx.data`` next to ``model.onnx`` passes.

    Fix:
        Save the model with its weights embedded:
        ``onnx.save(onnx.load("model.onnx"), "single.onnx")`` (models under
        2 GB), which is also what a mini program needs.

    Limitations:
        Only sizes are checked; the bytes in the external file are not read.
        Well-formed external data is a warning: no engine documents whether
        it reads it.
    """
    by_problem: dict[str, list[str]] = defaultdict(list)
    for ref in ctx.model.external_data:
        if ref.problem:
            by_problem[f"location {ref.location!r} {ref.problem}"].append(ref.tensor)
    safe = [ref.tensor for ref in ctx.model.external_data if not ref.problem]
    if safe:
        files = sorted({ref.location for ref in ctx.model.external_data})
        yield external_data_unsafe.finding(
            f"the weights of {len(safe)} tensor(s) live in {', '.join(files)}, "
            "beside the model; mini-program engines are given one model file and "
            "none documents reading external data",
            "embed the weights in the .onnx file (onnx.save without "
            "save_as_external_data) before shipping it",
            nodes=safe,
            severity=Severity.WARNING,
        )
    for problem, tensors in sorted(by_problem.items()):
        yield external_data_unsafe.finding(
            f"external data of {len(tensors)} tensor(s): {problem}; "
            "compatcheck did not open it",
            "embed the weights in the .onnx file (onnx.save without "
            "save_as_external_data): a mini program loads a single file",
            nodes=tensors,
        )


@rule("CC202", "custom-operator", Severity.ERROR, "engine")
def custom_operator(ctx: Context):
    """
    What it checks:
        Operators outside the standard set: ONNX nodes in a domain other
        than ``ai.onnx`` (``com.microsoft``, ``ai.onnx.contrib``,
        ``ai.onnx.ml`` ...) that are not model-local functions, and TFLite
        custom operators, including Flex (select TensorFlow) operators.

    Why it breaks:
        Mini-program engines implement standard operators only and cannot
        load custom kernels; converters (tf2onnx, onnx2tf, X2Paddle) cannot
        translate them either. The session fails to load.

    Example:
        ``ai.onnx.contrib::GPT2Tokenizer`` or a TFLite ``FlexStringSplit``
        fails; tokenizing in JavaScript and feeding token ids passes.

    Fix:
        Re-export with standard operators only (``torch.onnx.export`` without
        custom symbolics; the TFLite converter with
        ``target_spec.supported_ops = [TFLITE_BUILTINS]``), or move the
        custom step (tokenizing, decoding images, post-processing) into
        JavaScript.

    Limitations:
        ``ai.onnx.ml`` is an official ONNX domain, but no mini-program engine
        is known to implement it, so it is reported here too. On a route with
        conversions, the conversion's own finding (CC210) reports these
        operators instead.
    """
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for op in ctx.model.ops.values():
        if op.calls_function or op.domain in _STANDARD_DOMAINS:
            continue
        groups[(op.domain, op.op_type)].append(op.where)
    for (domain, op_type), nodes in sorted(groups.items()):
        kind = {"custom": "TFLite custom", "flex": "TFLite Flex (select TF)"}.get(
            domain, f"ONNX {domain}"
        )
        what = (
            "is in the ONNX-ML domain, which no mini-program engine implements"
            if domain == "ai.onnx.ml"
            else "is not a standard operator"
        )
        yield custom_operator.finding(
            f"{kind} operator {op_type} {what} ({len(nodes)} node(s)); "
            f"{ctx.engine.title} does not implement it",
            _custom_fix(domain, op_type),
            nodes=nodes,
            op_type=op_type,
        )


# Operator namespaces of standard operators: ONNX, TFLite builtins, and the
# TensorFlow and Paddle operators a conversion predicts.
_STANDARD_DOMAINS = ("ai.onnx", "tflite", "tf", "paddle")


def _custom_fix(domain: str, op_type: str) -> str:
    if domain == "flex":
        return (
            "convert again with converter.target_spec.supported_ops = "
            "[tf.lite.OpsSet.TFLITE_BUILTINS], replacing the TensorFlow op, or do "
            "this step in JavaScript"
        )
    if domain == "custom":
        return (
            f"replace {op_type} with builtin operators before conversion, or run "
            "that step in JavaScript"
        )
    return (
        f"re-export without {domain} operators (standard ai.onnx only), or move "
        f"{op_type} out of the model into JavaScript"
    )
