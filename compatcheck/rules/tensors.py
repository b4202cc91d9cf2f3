"""Rules about versions and the tensors that cross into JavaScript."""

from __future__ import annotations

import dataclasses
import json

from compatcheck.findings import Severity
from compatcheck.model.graph import TensorInfo, format_shape
from compatcheck.profiles.model import Fact
from compatcheck.rules.base import Context, rule

_DTYPE_FIXES = {
    "int64": "cast to int32 inside the model (a Cast right after the input, "
    "or before the output) and pass Int32Array data",
    "float16": "keep float32 at the boundary and cast inside the model",
    "float64": "export with float32 inputs and outputs",
    "bool": "use uint8 at the boundary and cast inside the model",
    "string": "tokenize or encode in JavaScript and pass numeric ids",
}


def _version_finding(
    ctx: Context, rule_obj, fact: Fact | None, version, what: str, fix: str
):
    if version is None or fact is None:
        return
    ctx.rely(fact)
    if not fact.known:
        return
    low, high = fact.value["min"], fact.value["max"]
    if low <= version <= high:
        return
    title = ctx.engine.title
    if fact.verified:
        message = f"{what} {version} is outside {low}-{high}, the range {title} loads"
        severity = Severity.ERROR
    else:
        message = (
            f"{what} {version} is outside {low}-{high}, the range {title} is known "
            f"to load; that range is not documented ({fact.note}), so the verdict "
            "is unverified"
        )
        severity = Severity.WARNING
    target = high if version > high else low
    yield rule_obj.finding(
        message, fix.format(target=target), fact=fact, severity=severity
    )


@rule(
    "CC300",
    "opset-out-of-range",
    Severity.WARNING,
    "engine",
    fixable=True,
    also=(Severity.ERROR,),
)
def opset_out_of_range(ctx: Context):
    """
    What it checks:
        The model's ai.onnx opset against the range the engine is known to
        load.

    Why it breaks:
        An engine built against older operator definitions may reject or
        misread operators whose inputs and attributes changed in later
        opsets (Resize, Split, Squeeze and Clip all did).

    Example:
        An opset 18 export warns on WeChat (known range 8-13); the same
        model converted to opset 13 passes.

    Fix:
        Export with ``torch.onnx.export(..., opset_version=13)``, or run
        ``compatcheck fix``: it tries onnx's version converter, which has no
        adapter for many downgrades, then checks every node against the
        opset 13 definitions, and runs both models to prove the result.

    Limitations:
        WeChat documents no range; 8-13 is what its official demos and
        exporter use, so this is a warning and the verdict is unverified.
    """
    if ctx.model.format == "onnx":
        version = ctx.model.opsets.get("ai.onnx")
        yield from _version_finding(
            ctx,
            opset_out_of_range,
            ctx.engine.opset,
            version,
            "opset",
            "export with opset_version={target}, or convert to opset {target} "
            "with compatcheck fix (verified by running both models)",
        )


@rule(
    "CC301",
    "ir-version-out-of-range",
    Severity.WARNING,
    "engine",
    also=(Severity.ERROR,),
)
def ir_version_out_of_range(ctx: Context):
    """
    What it checks:
        The model's ONNX IR version against the range the engine is known to
        load.

    Why it breaks:
        Newer IR versions add fields (for example local functions and new
        element types) that an older parser rejects.

    Example:
        With a known range of 3-8, an IR 10 model warns; an IR 8 model
        passes.

    Fix:
        Export with an older onnx package, or lower ``model.ir_version`` when
        the model uses nothing newer.

    Limitations:
        No mini-program engine documents its IR range; while the profile
        says unknown this rule only marks the verdict unverified.
    """
    if ctx.model.format == "onnx":
        yield from _version_finding(
            ctx,
            ir_version_out_of_range,
            ctx.engine.ir_version,
            ctx.model.ir_version,
            "IR version",
            "save the model with IR version {target} (an onnx release of that "
            "era, or model.ir_version = {target} when no newer feature is used)",
        )


@rule(
    "CC400",
    "io-dtype",
    Severity.ERROR,
    "engine",
    fixable=True,
    also=(Severity.WARNING,),
)
def io_dtype(ctx: Context):
    """
    What it checks:
        The element type of every graph input and output against the types
        the engine can exchange with JavaScript (WeChat: uint8, int8,
        uint32, int32, float32), and that they are tensors at all.

    Why it breaks:
        The JavaScript side builds tensors from typed arrays of the listed
        types only; an int64 token-id input or a float16 output has no way
        across, and sequence or map outputs (ZipMap) are not tensors.

    Example:
        Silero VAD's ``sr`` input is int64 and fails; with a Cast from int32
        inside the model it passes.

    Fix:
        Keep the boundary to the listed types and cast inside the model.

    Limitations:
        Only the graph boundary is checked; whether int64 inside the graph
        is handled is not documented. For ByteNN, whose types are not
        documented, TensorFlow.js's types are the bound and a type outside
        them is a warning. Types a converter or engine changes on
        its own (TensorFlow.js turns int64 into int32) are checked after the
        change.
    """
    fact = ctx.engine.io_dtypes
    if fact is None:
        return
    ctx.rely(fact)
    severity = None
    if not fact.known:
        # An engine whose model starts as another engine's (ByteNN from
        # TensorFlow.js) cannot take types that engine's format cannot.
        fact, severity = _upper_bound(ctx), Severity.WARNING
        if fact is None:
            return
    boundary = [("input", t) for t in ctx.model.inputs]
    boundary += [("output", t) for t in ctx.model.outputs]
    mapping = ctx.engine.fact("dtype_map")
    changed = mapping.value if mapping is not None else {}
    for role, tensor in boundary:
        if tensor.dtype in changed:
            ctx.rely(mapping)
            tensor = dataclasses.replace(tensor, dtype=changed[tensor.dtype])
        problem = _dtype_problem(tensor, fact.value)
        if problem:
            yield io_dtype.finding(
                f"{role} {tensor.name!r} {problem}; {ctx.engine.title} exchanges "
                f"only {', '.join(fact.value)}",
                _DTYPE_FIXES.get(
                    tensor.dtype,
                    "change the boundary type inside the "
                    "model to one of the listed types",
                ),
                nodes=[tensor.name],
                fact=fact,
                severity=severity,
            )


def _upper_bound(ctx: Context):
    spec = ctx.engine.spec
    if spec is None or not spec.checked_as:
        return None
    from compatcheck.profiles.library import engine_specs

    bound = engine_specs()[spec.checked_as].facts.get("io_dtypes")
    if bound is not None:
        ctx.rely(bound)
    return bound


def _dtype_problem(tensor: TensorInfo, allowed: list[str]) -> str:
    if tensor.kind == "unknown":
        return "has no type"
    if tensor.kind != "tensor":
        return f"is a {tensor.dtype}, not a tensor"
    if tensor.dtype not in allowed:
        return f"is {tensor.dtype}"
    return ""


@rule("CC401", "dynamic-input", Severity.WARNING, "engine", fixable=True)
def dynamic_input(ctx: Context):
    """
    What it checks:
        Graph inputs with symbolic, unknown or negative dimensions, against
        the engine's stance on dynamic shapes.

    Why it breaks:
        WeChat's engine plans memory for one typical input size: a model
        with dynamic axes needs ``typicalShape`` at session creation.
        WebGL engines recompile shaders for each new shape.

    Example:
        ``input: [batch_size, 1, 224, 224]`` warns and the finding shows the
        ``typicalShape`` to pass; ``[1, 1, 224, 224]`` passes.

    Fix:
        Pass the shown ``typicalShape`` when creating the session, or fix
        the dimensions at export (``dynamic_axes`` left out of
        ``torch.onnx.export``). ``--input-shape NAME=1x3x224x224`` fills in
        the sizes the report cannot guess.

    Limitations:
        Batch-like first dimensions are proposed as 1; other dynamic
        dimensions need the user's value.
    """
    fact = ctx.engine.dynamic_shapes
    if fact is None:
        return
    ctx.rely(fact)
    if fact.value == "supported":
        return
    for tensor in ctx.model.inputs:
        if not tensor.is_dynamic:
            continue
        proposal = _typical_shape(tensor, ctx.options.input_shapes.get(tensor.name))
        shown = _dynamic_dims(tensor)
        fix = (
            "create the session with typicalShape: "
            f"{{{json.dumps(tensor.name)}: {proposal}}}"
            if fact.value == "typical-shape"
            else f"export with a fixed shape such as {proposal}"
        )
        if "?" in str(proposal):
            fix += " (replace each ? with the size you feed, or give --input-shape)"
        stance = (
            ""
            if fact.value in ("typical-shape", "fixed-only")
            else f" ({ctx.engine.title}: {fact.value})"
        )
        yield dynamic_input.finding(
            f"input {tensor.name!r} has {shown}{stance}",
            fix,
            nodes=[tensor.name],
            fact=fact,
        )


def _dynamic_dims(tensor: TensorInfo) -> str:
    """Which dimensions are open, in words: "dynamic dimension 0 (batch) in ..."."""
    shape = tensor.display_shape
    if shape is None:
        return "an unknown rank"
    # A name tells what the dimension is; "?" (some exporters write it as
    # the name) and -1 tell nothing more than the shape shows.
    open_dims = [
        f"{i} ({d})" if isinstance(d, str) and d != "?" else str(i)
        for i, d in enumerate(shape)
        if not (isinstance(d, int) and d > 0)
    ]
    shown = format_shape(shape)
    return f"dynamic dimension(s) {', '.join(open_dims)} in shape {shown}"


def _typical_shape(tensor: TensorInfo, given: tuple[int, ...] | None) -> str:
    if given:
        return "[" + ", ".join(str(d) for d in given) + "]"
    shape = tensor.display_shape
    if shape is None:
        return "[?]"
    dims = []
    for index, dim in enumerate(shape):
        if isinstance(dim, int) and dim > 0:
            dims.append(str(dim))
        elif index == 0:
            dims.append("1")
        else:
            dims.append("?")
    return "[" + ", ".join(dims) + "]"
