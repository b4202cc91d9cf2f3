"""Rules about operators: does the engine have each one, and on which backend."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from compatcheck.findings import Severity
from compatcheck.model.graph import ModelGraph, OpNode
from compatcheck.profiles.model import Engine, Fact, OpMapping
from compatcheck.rules.base import Context, rule

# Standard ONNX rewrites for operators that mini-program engines lack. Each
# uses only operators of the ai.onnx domain.
REWRITES = {
    "Gelu": "write Gelu as x * 0.5 * (1 + Erf(x / sqrt(2))) (Div, Erf, Add, Mul)",
    "Mish": "write Mish as x * Tanh(Softplus(x))",
    "LogSoftmax": "write LogSoftmax as Log(Softmax(x))",
    "Not": "write Not as Equal(x, false) or Xor(x, true)",
    "Sign": "write Sign as Where(Greater(x, 0), 1, Where(Less(x, 0), -1, 0))",
    "Round": "write Round as Floor(x + 0.5) (halves round up, unlike ONNX's "
    "half-to-even)",
    "Mod": "write a float Mod as Sub(a, Mul(Floor(Div(a, b)), b))",
    "Size": "write Size as ReduceProd(Shape(x))",
    "Celu": "write Celu as Max(0, x) + Min(0, alpha * (Exp(x / alpha) - 1))",
    "Einsum": "write the Einsum as MatMul with Transpose and Reshape",
    "If": "export with the branch condition fixed so that one branch remains, "
    "or run the branch logic in JavaScript",
    "Loop": "unroll the loop at export time for a fixed trip count",
    "Scan": "unroll the scan at export time for a fixed sequence length",
    "Resize": "Unsqueeze to a 4-D NCHW tensor, Resize, then Squeeze",
    "HardSwish": "write HardSwish as x * HardSigmoid(x) with alpha 1/6 and beta 0.5",
    # TFLite builtins, for conversions out of TFLite.
    "HARD_SWISH": "write hard-swish as x * relu6(x + 3) / 6 in the source model",
    "GELU": "write GELU as 0.5 * x * (1 + tanh(0.7978846 * (x + 0.044715 * x^3))) "
    "in the source model (MUL, ADD, TANH)",
}


# Rewrites that only one conversion tool needs, by (tool id, operator).
TOOL_REWRITES = {
    ("tf2onnx", "HARD_SWISH"): "convert with --opset 14, where tf2onnx writes "
    "HardSwish (outside WeChat's known range 8-13), or write hard-swish as "
    "x * relu6(x + 3) / 6 in the source model",
}


def rewrite_for(op_type: str, tool: str = "") -> str | None:
    """A standard rewrite for an operator, specific to a tool where one is."""
    return TOOL_REWRITES.get((tool, op_type)) or REWRITES.get(op_type)


@dataclass(frozen=True)
class Resolution:
    """How one node fares on an engine."""

    status: str  # "supported", "unsupported", "unknown", or "other-domain"
    fact: Fact | None = None
    mapping: OpMapping | None = None
    reason: str = ""
    rank_unknown: bool = False


def resolve(model: ModelGraph, engine: Engine, op: OpNode) -> Resolution:
    """Find the engine row a node maps to, checking the mapping's conditions."""
    if op.calls_function or op.domain not in engine.op_domains:
        return Resolution("other-domain")
    mappings = engine.op_map.get(op.op_type)
    if not mappings:
        return Resolution(
            engine.unlisted.value,
            engine.unlisted,
            reason="it matches no operator of the engine's table",
        )
    failures = []
    for mapping in mappings:
        verdict, why = _conditions(model, op, mapping)
        if verdict is not False:
            verdict, why = _release(engine, op, mapping, verdict)
        if verdict is False:
            failures.append(why)
            continue
        status = "unknown" if mapping.row == "unknown" else "supported"
        return Resolution(
            status,
            mapping.fact,
            mapping,
            mapping.fact.note,
            rank_unknown=verdict is None,
        )
    return Resolution("unsupported", mappings[0].fact, reason="; ".join(failures))


def _release(
    engine: Engine, op: OpNode, m: OpMapping, verdict: bool | None
) -> tuple[bool | None, str]:
    """An operator newer than the engine release usable on this host fails."""
    version = engine.version
    if not m.since or version is None or not version.known:
        return verdict, ""
    if _release_key(str(version.value)) >= _release_key(m.since):
        return verdict, ""
    return False, (
        f"{op.op_type} first appears in release {m.since}, and this host "
        f"uses {version.value}"
    )


@cache
def _release_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _conditions(model: ModelGraph, op: OpNode, m: OpMapping) -> tuple[bool | None, str]:
    """True when all conditions hold, False with a reason, None if rank unknown."""
    if m.max_inputs is None and not m.constant_inputs and m.input_rank is None:
        return True, ""
    present = [name for name in op.inputs if name]
    if m.max_inputs is not None and len(present) > m.max_inputs:
        return False, f"{len(present)} inputs, but {m.row} takes at most {m.max_inputs}"
    for position in m.constant_inputs:
        name = op.inputs[position] if position < len(op.inputs) else ""
        if name and name not in model.constants:
            return False, f"input {position} ({name}) must be a constant for {m.row}"
    if m.input_rank is None:
        return True, ""
    rank = model.input_rank(op)
    if rank is None:
        return None, ""
    if rank != m.input_rank:
        return (
            False,
            f"{m.row} needs a rank-{m.input_rank} input, this one has rank {rank}",
        )
    return True, ""


def _resolutions(ctx: Context) -> list[tuple[OpNode, Resolution]]:
    """Every node this engine's table covers, resolved once per context."""
    if "resolutions" not in ctx.memo:
        pairs = (
            (op, resolve(ctx.model, ctx.engine, op)) for op in ctx.model.ops.values()
        )
        ctx.memo["resolutions"] = [
            (op, r) for op, r in pairs if r.status != "other-domain"
        ]
    return ctx.memo["resolutions"]


@rule("CC200", "unsupported-operator", Severity.ERROR, "engine", fixable=True)
def unsupported_operator(ctx: Context):
    """
    What it checks:
        Every operator against the engine's operator table, including nodes
        inside If/Loop/Scan subgraphs and model-local functions. For WeChat,
        an activation, binary or unary operator counts only if its kind is
        on the page's Activation, Binary or Unary list, and rank-specific
        rows (Conv2D, Resize2D ...) must match the input's rank.

    Why it breaks:
        An engine that meets an operator it has no kernel for refuses the
        whole model; on WeChat this is the "create session fail" people see
        on the phone.

    Example:
        A model with ``Gelu`` or ``If`` nodes fails on WeChat; the same model
        with Gelu written as ``Erf``, ``Mul`` and ``Add`` and the If folded
        at export passes.

    Fix:
        Rewrite the operator with supported ones before or during export;
        the finding names a standard rewrite where one exists.

    Limitations:
        Attribute limits (pad modes, resize modes, group sizes) are not
        documented by the engines and are not checked. Operators that map to
        no row are treated as unsupported, which is how the profile's authors
        read the engine's page, not a vendor statement.
    """
    if ctx.engine.version is not None:
        ctx.rely(ctx.engine.version)
    groups: dict[str, list[tuple[OpNode, Resolution]]] = defaultdict(list)
    for op, res in _resolutions(ctx):
        ctx.rely(res.fact)
        if res.status == "unsupported":
            groups[op.op_type].append((op, res))
    for op_type, items in sorted(groups.items()):
        reasons = sorted({res.reason for _, res in items if res.reason})
        rewrite = REWRITES.get(op_type)
        fix = rewrite or (
            f"replace {op_type} with operators the engine supports before export"
        )
        yield unsupported_operator.finding(
            f"{op_type} is not supported by {ctx.engine.title} "
            f"({len(items)} node(s)): {'; '.join(reasons)}",
            fix,
            nodes=where(op for op, _ in items),
            op_type=op_type,
            fact=items[0][1].fact,
        )


@rule("CC201", "operator-support-unknown", Severity.WARNING, "engine", fixable=True)
def operator_support_unknown(ctx: Context):
    """
    What it checks:
        Operators whose support nobody has documented: the engine's page has
        no list of the kinds a row covers (for example WeChat's pooling
        kinds, so LpPool is unknown).

    Why it breaks:
        It may not: the verdict for these nodes is unverified, and the model
        can still fail to load on the phone.

    Example:
        ``LpPool`` on WeChat gives this warning; ``MaxPool`` does not.

    Fix:
        Replace the operator with a documented one, or test on a real phone
        before release.

    Limitations:
        Whether support is unknown is read from the profile; a profile that
        lists an operator as supported without evidence hides it.
    """
    spec = ctx.engine.spec
    if spec is not None and not spec.table_known:
        yield from _table_unknown(ctx)
        return
    groups: dict[str, list[OpNode]] = defaultdict(list)
    fact_for: dict[str, Fact | None] = {}
    for op, res in _resolutions(ctx):
        if res.status == "unknown":
            groups[op.op_type].append(op)
            fact_for[op.op_type] = res.fact
    for op_type, ops in sorted(groups.items()):
        fact = fact_for[op_type]
        why = f" ({fact.note})" if fact and fact.note else ""
        yield operator_support_unknown.finding(
            f"support for {op_type} on {ctx.engine.title} is not documented"
            f"{why}; {len(ops)} node(s) are unverified",
            f"replace {op_type} with a documented operator, or test the model "
            "on a real phone before release",
            nodes=where(ops),
            op_type=op_type,
            fact=fact,
        )


def _table_unknown(ctx: Context):
    """One finding for an engine whose operator table is not public."""
    table = ctx.engine.spec.table
    ctx.rely(table)
    types = sorted({op.op_type for op in ctx.model.ops.values()})
    if not types:
        return
    shown = ", ".join(types[:8]) + (
        f" (+{len(types) - 8} more)" if len(types) > 8 else ""
    )
    count = (
        "the one operator type"
        if len(types) == 1
        else f"all {len(types)} operator types"
    )
    yield operator_support_unknown.finding(
        f"{ctx.engine.title} publishes no operator table ({table.note}); "
        f"{count} of the converted model are unverified: {shown}",
        f"test the converted model with {ctx.engine.title} on a real phone, and "
        "ask the platform for its operator list",
        fact=table,
    )


def where(ops) -> list[str]:
    """The user's nodes behind ``ops``, each once, in order."""
    return list(dict.fromkeys(op.where for op in ops))


@rule("CC203", "backend-fallback", Severity.WARNING, "engine")
def backend_fallback(ctx: Context):
    """
    What it checks:
        With ``--backend`` (for WeChat: ``ios-npu``, the ``allowNPU``
        option), which supported operators have no kernel on that backend.

    Why it breaks:
        The engine's table shows those operators on the CPU only. Whether
        the engine then runs them on the CPU (slower, with copies between
        backends) or fails is not documented.

    Example:
        ``Transpose`` (WeChat row Permute) and ``Slice`` have no iOS NPU
        tick; a model of Conv, Relu and Add runs entirely on the NPU.

    Fix:
        Replace the listed operators with ones the backend runs (Reshape
        instead of a Transpose that only moves unit dimensions), or accept
        the CPU fallback and measure on a phone.

    Limitations:
        The backend columns of WeChat's page are the only source; GPU
        columns describe backends that are not open to developers yet.
    """
    backend_name = ctx.options.backend
    if not backend_name or backend_name not in ctx.engine.backends:
        return
    backend = ctx.engine.backends[backend_name]
    ctx.rely(backend.available)
    if backend.available.value is False:
        note = f": {backend.available.note}" if backend.available.note else ""
        yield backend_fallback.finding(
            f"backend {backend_name} is not available on {ctx.engine.title}{note}",
            "drop the backend option; the model runs on the CPU",
            fact=backend.available,
        )
        return
    groups: dict[str, list[OpNode]] = defaultdict(list)
    for op, res in _resolutions(ctx):
        if (
            res.status == "supported"
            and backend_name not in ctx.engine.rows[res.mapping.row]
        ):
            groups[f"{op.op_type} (row {res.mapping.row})"].append(op)
    if not groups:
        return
    total = sum(len(v) for v in groups.values())
    summary = ", ".join(f"{k} x{len(v)}" for k, v in sorted(groups.items()))
    option = f" ({backend.option})" if backend.option else ""
    yield backend_fallback.finding(
        f"{total} node(s) have no {backend_name} kernel{option} and fall back to "
        f"the CPU or fail (not documented which): {summary}",
        "replace these operators with ones the backend runs, or measure the "
        "CPU fallback on a real phone",
        nodes=where(op for ops in groups.values() for op in ops),
        fact=ctx.engine.table,
    )
