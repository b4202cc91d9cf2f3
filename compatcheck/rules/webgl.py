"""Rules for engines that compute in WebGL textures (TensorFlow.js, Paddle.js).

They read the runtime facts of the shared engine profile and check the
predicted converted model: tensor ranks and sizes, integer exactness,
float16 weights widened to float32, asynchronous and CPU-bound operators,
and the number of inputs.
"""

from __future__ import annotations

import math
from collections import defaultdict

from compatcheck.findings import Severity
from compatcheck.model.dtypes import element_count
from compatcheck.model.graph import CREATES_RANK, OpNode
from compatcheck.rules.base import Context, rule
from compatcheck.rules.operators import where

# Inputs that carry shapes, axes or bounds rather than data. A converter
# turns these into attributes or clamps them, so their integer values do not
# reach the engine as tensor data (for example Slice ends of 2**63-1).
SHAPE_INPUTS = {
    "Reshape": {1},
    "Slice": {1, 2, 3, 4},
    "Unsqueeze": {1},
    "Squeeze": {1},
    "Expand": {1},
    "Tile": {1},
    "Pad": {1, 3},
    "Resize": {1, 2, 3},
    "Upsample": {1},
    "ConstantOfShape": {0},
    "Split": {1},
    "TopK": {1},
    "OneHot": {1},
    "CumSum": {1},
    "Range": {0, 1, 2},
    "ReduceSum": {1},
    "ReduceMean": {1},
    "ReduceMax": {1},
    "ReduceMin": {1},
    "ReduceProd": {1},
    "ReduceL1": {1},
    "ReduceL2": {1},
    "ReduceSumSquare": {1},
    "ReduceLogSumExp": {1},
    "RESHAPE": {1},
    "STRIDED_SLICE": {1, 2, 3},
    "SLICE": {1, 2},
    "PAD": {1},
    "PADV2": {1},
    "MIRROR_PAD": {1},
    "MEAN": {1},
    "SUM": {1},
    "REDUCE_MAX": {1},
    "REDUCE_MIN": {1},
    "REDUCE_PROD": {1},
    "TRANSPOSE": {1},
    "EXPAND_DIMS": {1},
    "TILE": {1},
    "RESIZE_BILINEAR": {1},
    "RESIZE_NEAREST_NEIGHBOR": {1},
    "SPACE_TO_BATCH_ND": {1, 2},
    "BATCH_TO_SPACE_ND": {1, 2},
}
INT32_MAX = 2**31 - 1
SHOWN = 3


def _spec_ops(ctx: Context):
    """(operator, its entry in the engine's table) for the converted model."""
    spec = ctx.engine.spec
    if spec is None or not spec.table_known:
        return
    for op in ctx.model.ops.values():
        entry = spec.ops.get(op.op_type)
        if entry is not None:
            yield op, entry


def _rank(ctx: Context, op: OpNode) -> int | None:
    ranks = [
        len(info.shape)
        for name in (*op.inputs, *op.outputs)
        if name and (info := ctx.model.tensors.get(name)) and info.shape is not None
    ]
    if CREATES_RANK in op.attrs:
        ranks.append(op.attrs[CREATES_RANK])
    return max(ranks) if ranks else None


@rule("CC410", "rank-limit", Severity.ERROR, "engine")
def rank_limit(ctx: Context):
    """
    What it checks:
        The rank of every tensor an operator reads or writes against the
        highest rank its WebGL kernel supports: 6 in TensorFlow.js (4 for
        Select, Reverse, Cumsum and Cumprod, 5 for Tile), 4 in Paddle.js.

    Why it breaks:
        WebGL shaders index tensors with fixed-size coordinate types;
        TensorFlow.js throws "GPU for rank N is not yet supported" and
        Paddle.js pads every shape to 4-D.

    Example:
        A Where on rank-5 tensors fails on TensorFlow.js; the same Where
        after a Reshape to rank 4 passes.

    Fix:
        Reshape to fewer dimensions around the operator (merge batch-like
        axes) before export.

    Limitations:
        Ranks come from shape inference on the source model, plus the ranks
        a converter profile says its lowering creates (DepthToSpace through
        6-D tensors); other reshapes a conversion adds are not modelled. The
        Paddle.js limit is known for Transpose and assumed for other ops.
    """
    limit_fact = ctx.engine.fact("max_rank")
    if limit_fact is None or not limit_fact.known:
        return
    ctx.rely(limit_fact)
    groups: dict[tuple[str, int], list[OpNode]] = defaultdict(list)
    worst: dict[tuple[str, int], int] = {}
    for op, entry in _spec_ops(ctx):
        if entry.kernel not in ("gpu", "cpu-or-gpu"):
            continue  # no shader: the graph executor or the CPU handles it
        limit = entry.max_rank or limit_fact.value
        rank = _rank(ctx, op)
        if rank is not None and rank > limit:
            groups[(op.op_type, limit)].append(op)
            worst[(op.op_type, limit)] = max(rank, worst.get((op.op_type, limit), 0))
    for (op_type, limit), ops in sorted(groups.items()):
        yield rank_limit.finding(
            f"{op_type} on {ctx.engine.title} supports rank {limit} at most; "
            f"{len(ops)} node(s) use rank {worst[(op_type, limit)]}",
            "reshape to fewer dimensions around these nodes before export",
            nodes=where(ops),
            op_type=op_type,
            fact=limit_fact,
        )


@rule("CC411", "texture-size", Severity.ERROR, "engine")
def texture_size(ctx: Context):
    """
    What it checks:
        Every tensor with a known size (dynamic dimensions filled from
        ``--input-shape``) against the largest WebGL texture: a tensor must
        fit in one texture of at most MAX_TEXTURE_SIZE texels per side
        (TensorFlow.js packs 4 values per texel, Paddle.js 1).

    Why it breaks:
        TensorFlow.js throws "Requested texture size ... greater than WebGL
        maximum on this browser / GPU"; the phone's GPU sets the limit.

    Example:
        A [1, 80, 1024, 1024] activation (84 M values) needs more than a
        4096 x 4096 packed texture and fails where the limit is 4096; at
        512 x 512 it passes.

    Fix:
        Feed a smaller input (tile the image), or reduce the channel count
        of the layer that produces the tensor.

    Limitations:
        The phone's MAX_TEXTURE_SIZE is not documented by any host; the
        profile's value (4096, what about 99% of devices offered in 2020) is
        a community figure, so the verdict is unverified. The texture
        layout is approximated by the element count.
    """
    side_fact = ctx.engine.fact("max_texture_size")
    per_texel = ctx.engine.fact("values_per_texel")
    if side_fact is None or per_texel is None or not side_fact.known:
        return
    ctx.rely(side_fact)
    ctx.rely(per_texel)
    capacity = side_fact.value * side_fact.value * per_texel.value
    too_big = [item for item in _tensor_sizes(ctx) if item[0] > capacity]
    if not too_big:
        return
    too_big.sort(key=lambda item: (-item[0], item[1]))
    shown = "; ".join(
        f"{name} {list(shape)} ({count:,} values, about "
        f"{math.ceil(math.sqrt(count / per_texel.value))} texels square)"
        for count, name, shape, _ in too_big[:SHOWN]
    )
    more = f" and {len(too_big) - SHOWN} more" if len(too_big) > SHOWN else ""
    limit = side_fact.value
    yield texture_size.finding(
        f"{len(too_big)} tensor(s) do not fit a {limit} x {limit} WebGL texture "
        f"on {ctx.engine.title}: {shown}{more}",
        "feed a smaller input (tile the image) or reduce the channels of the "
        "layers that produce these tensors",
        nodes=where(op for item in too_big for op in item[3]),
        fact=side_fact,
    )


def _tensor_sizes(ctx: Context) -> list[tuple[int, str, tuple, list[OpNode]]]:
    """(element count, name, shape, source operators) of every sized tensor.

    Predicted operators keep their source node's tensors, so this is worked
    out once on the source model and shared by every route.
    """
    source = ctx.source or ctx.model
    key = ("tensor sizes", tuple(sorted(ctx.options.input_shapes.items())))
    if key in source.shared:
        return source.shared[key]
    sizes = _dimension_values(ctx)
    users: dict[str, list[OpNode]] = defaultdict(list)
    for op in source.ops.values():
        for name in (*op.inputs, *op.outputs):
            if name:
                users[name].append(op)
    found = []
    for name, ops in users.items():
        info = source.tensors.get(name)
        if info is None or info.shape is None:
            continue
        shape = tuple(sizes.get(d, d) if isinstance(d, str) else d for d in info.shape)
        count = element_count(shape)
        if count is not None:
            found.append((count, name, shape, ops))
    source.shared[key] = found
    return found


def _dimension_values(ctx: Context) -> dict[str, int]:
    """Symbolic dimension name -> size, from the user's --input-shape."""
    values: dict[str, int] = {}
    model = ctx.source or ctx.model
    for tensor in model.inputs:
        given = ctx.options.input_shapes.get(tensor.name)
        if not given or tensor.shape is None or len(tensor.shape) != len(given):
            continue
        for dim, size in zip(tensor.shape, given, strict=True):
            if isinstance(dim, str):
                values[dim] = size
    return values


@rule(
    "CC412",
    "integer-precision",
    Severity.ERROR,
    "engine",
    also=(Severity.WARNING, Severity.INFO),
)
def integer_precision(ctx: Context):
    """
    What it checks:
        Integer constants that reach the engine as data (not shapes, axes
        or slice bounds) against what it stores: TensorFlow.js turns int64
        into int32 and keeps numbers in float32 textures, exact only up to
        2**24; Paddle.js writes every parameter as float32.

    Why it breaks:
        Nothing fails to load; the numbers are silently wrong. An int64
        value beyond int32 wraps; a value beyond 2**24 (16,777,216) rounds
        to a neighbouring float.

    Example:
        A Gather whose index table holds ids up to 30,000,000 gives wrong
        rows on TensorFlow.js; ids below 16,777,216 are exact.

    Fix:
        Keep integer data below 2**24, or move the arithmetic that needs
        large integers into JavaScript.

    Limitations:
        Only constants stored in the model whose bytes were read (at most
        64 KiB each) are checked; values computed at run time are not.
        Wrapping beyond int32 is an error, rounding beyond 2**24 a warning,
        and values beyond 2048, exact only where the phone renders to
        float32 textures, a note.
    """
    mapping = ctx.engine.fact("dtype_map")
    exact = ctx.engine.fact("exact_integer_limit")
    half = ctx.engine.fact("half_float_exact_limit")
    if mapping is None or exact is None or not exact.known:
        return
    source = ctx.source or ctx.model
    if "data uses" not in source.shared:
        source.shared["data uses"] = _data_uses(source)
    data_uses = source.shared["data uses"]
    for weight in source.weights:
        if weight.int_range is None or weight.name not in data_uses:
            continue
        low, high = weight.int_range
        largest = max(abs(low), abs(high))
        nodes = where(data_uses[weight.name])
        stored = mapping.value.get(weight.dtype, weight.dtype)
        if stored == "int32" and largest > INT32_MAX:
            ctx.rely(mapping)
            yield integer_precision.finding(
                f"{weight.dtype} constant {weight.name!r} holds values up to "
                f"{largest:,}; {ctx.engine.title} stores it as int32, so they "
                "wrap and are silently wrong",
                "keep the values within int32 (and below 2**24 for exactness), or "
                "do this arithmetic in JavaScript",
                nodes=nodes,
                fact=mapping,
            )
        elif largest > exact.value:
            ctx.rely(exact)
            yield integer_precision.finding(
                f"{weight.dtype} constant {weight.name!r} holds values up to "
                f"{largest:,}, beyond {exact.value:,} (2**24): {ctx.engine.title} "
                "keeps numbers in 32-bit floats, which round them",
                "keep integer data below 2**24, or do this arithmetic in JavaScript",
                nodes=nodes,
                fact=exact,
                severity=Severity.WARNING,
            )
        elif half is not None and largest > half.value:
            ctx.rely(half)
            yield integer_precision.finding(
                f"{weight.dtype} constant {weight.name!r} holds values up to "
                f"{largest:,}: exact with float32 textures, but on phones that "
                f"fall back to half floats only values up to {half.value:,} are",
                "test on a phone without float32 render targets, or keep integer "
                f"data below {half.value:,}",
                nodes=nodes,
                fact=half,
                severity=Severity.INFO,
            )


def _data_uses(model) -> dict[str, list[OpNode]]:
    """Constant name -> operators reading it as data (not a shape or axis)."""
    uses: dict[str, list[OpNode]] = defaultdict(list)
    for op in model.ops.values():
        skip = SHAPE_INPUTS.get(op.op_type, ())
        for position, name in enumerate(op.inputs):
            if name and position not in skip:
                uses[name].append(op)
    return uses


@rule("CC413", "half-float-widened", Severity.WARNING, "engine")
def float16_widened(ctx: Context):
    """
    What it checks:
        float16 weights on an engine that stores them as float32
        (TensorFlow.js's converter and Paddle.js both do).

    Why it breaks:
        The download doubles: a model halved for a 2 MB package is back
        over the limit after conversion, and the float16 saving is gone.

    Example:
        MediaPipe's face detector keeps 1 MB of float16 weights; on
        TensorFlow.js they become 2 MB of float32.

    Fix:
        Budget for the float32 size, or use an engine that keeps float16
        (WeChat's native engine with an ONNX model), or quantize to int8
        where the engine supports it.

    Limitations:
        Sizes are weight bytes; the converter's JSON and sharding overhead
        is not counted. The finding names the platform limits the widening
        crosses; the size rules (CC500-CC502) judge the file as given.
    """
    mapping = ctx.engine.fact("dtype_map")
    if mapping is None or mapping.value.get("float16") != "float32":
        return
    source = ctx.source or ctx.model
    half = [w for w in source.weights if w.dtype == "float16"]
    if not half:
        return
    ctx.rely(mapping)
    extra = sum(w.byte_size for w in half)
    total = source.deploy_bytes + extra
    over = [
        f"over the {what} ({fact.value / 1048576:.0f} MB)"
        for key, what in _SIZE_LIMITS
        if isinstance((fact := ctx.profile.limits[key]).value, int)
        and source.deploy_bytes <= fact.value < total
    ]
    yield float16_widened.finding(
        f"{len(half)} float16 weight tensor(s) ({extra / 1048576:.2f} MB) become "
        f"float32 on {ctx.engine.title}: the converted weights grow to about "
        f"{total / 1048576:.2f} MB" + (f", {' and '.join(over)}" if over else ""),
        "budget for the float32 size when planning the package or download, or "
        "use an engine that keeps float16",
        fact=mapping,
    )


# Limits a model can cross only because conversion widened its weights.
_SIZE_LIMITS = (
    ("main_package_bytes", "main package limit"),
    ("user_files_bytes", "user-file quota"),
    ("download_bytes", "download limit"),
)


@rule("CC414", "async-execution", Severity.WARNING, "engine")
def async_execution(ctx: Context):
    """
    What it checks:
        Operators that TensorFlow.js only runs asynchronously: control flow
        (While, If, TensorList), dynamic-output operators (Where with one
        input, NonMaxSuppression) and hash tables.

    Why it breaks:
        ``model.execute()`` throws "... Please use model.executeAsync()
        instead"; code copied from a synchronous example fails on the phone.

    Example:
        An ONNX Loop converted by onnx2tf becomes a While: warns. A plain
        CNN does not.

    Fix:
        Call ``await model.executeAsync(inputs)``, or remove the control
        flow at export (fixed trip counts, folded branches).

    Limitations:
        Which TensorFlow ops a conversion emits is predicted from the
        converter profile.
    """
    fact = ctx.engine.fact("execute_async")
    groups: dict[str, list[OpNode]] = defaultdict(list)
    for op, entry in _spec_ops(ctx):
        if entry.is_async:
            groups[op.op_type].append(op)
    if not groups or fact is None:
        return
    ctx.rely(fact)
    ops = [op for items in groups.values() for op in items]
    names = ", ".join(f"{k} x{len(v)}" for k, v in sorted(groups.items()))
    yield async_execution.finding(
        f"the converted model needs asynchronous execution on "
        f"{ctx.engine.title}: {names}",
        f"{fact.value}, or remove the control flow at export",
        nodes=where(ops),
        fact=fact,
    )


@rule("CC415", "cpu-kernel", Severity.INFO, "engine")
def cpu_kernel(ctx: Context):
    """
    What it checks:
        Operators whose WebGL kernel reads the data back and computes on the
        CPU (TensorFlow.js: Range, Unique, NonMaxSuppression, TopK for small
        inputs ...; Paddle.js: multiclass_nms).

    Why it breaks:
        It does not fail; each such operator stalls the GPU pipeline with a
        read-back, which is slow on phones.

    Example:
        A TopK over 1000 scores runs on the CPU in TensorFlow.js.

    Fix:
        Move the step after the model (post-process in JavaScript), or
        accept the cost.

    Limitations:
        TopK's hand-off depends on run-time sizes; it is reported whenever
        present.
    """
    groups: dict[str, list[OpNode]] = defaultdict(list)
    for op, entry in _spec_ops(ctx):
        if entry.kernel in ("cpu", "cpu-or-gpu"):
            groups[op.op_type].append(op)
    if not groups:
        return
    ops = [op for items in groups.values() for op in items]
    names = ", ".join(f"{k} x{len(v)}" for k, v in sorted(groups.items()))
    yield cpu_kernel.finding(
        f"{len(ops)} operator(s) compute on the CPU inside {ctx.engine.title}: {names}",
        "move these steps into JavaScript post-processing, or accept the "
        "read-back cost",
        nodes=where(ops),
        fact=ctx.engine.spec.table,
    )


@rule("CC416", "input-count", Severity.ERROR, "engine")
def input_count(ctx: Context):
    """
    What it checks:
        The number of model inputs against what the engine can feed
        (Paddle.js: one image input).

    Why it breaks:
        paddlejs-converter rewires the first input to a tensor named
        ``image``; a second input is never fed and inference fails.

    Example:
        Silero VAD (audio, state and sample rate inputs) fails on
        Paddle.js; an image classifier with one input passes.

    Fix:
        Fold the extra inputs into constants at export, or pick another
        engine.

    Limitations:
        Only the count is checked; that the one input is an image is not.
    """
    fact = ctx.engine.fact("max_inputs")
    if fact is None or not fact.known:
        return
    ctx.rely(fact)
    inputs = (ctx.source or ctx.model).inputs
    if len(inputs) > fact.value:
        names = ", ".join(repr(t.name) for t in inputs)
        yield input_count.finding(
            f"the model has {len(inputs)} inputs ({names}); {ctx.engine.title} "
            f"feeds at most {fact.value}",
            "fold the extra inputs into constants at export, or choose another engine",
            nodes=[t.name for t in inputs],
            fact=fact,
        )
