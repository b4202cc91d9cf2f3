"""Rules about the route itself: the conversions and the engine's terms."""

from __future__ import annotations

from collections import defaultdict

from compatcheck.findings import Severity
from compatcheck.rules.base import Context, rule
from compatcheck.rules.operators import rewrite_for


@rule("CC110", "engine-requirements", Severity.INFO, "engine")
def engine_requirements(ctx: Context):
    """
    What it checks:
        What the platform asks before the chosen engine can be used: a
        plugin to add, a WebGL canvas from some base library version, a
        whitelist application, an adapter to write. Each comes from the
        platform profile with its source.

    Why it breaks:
        A model that converts and loads still fails in production when the
        engine is only open to whitelisted apps (ByteNN outside the IDE
        preview) or needs a runtime piece nobody ships (tfjs on Alipay).

    Example:
        On Douyin, the ByteNN route lists the whitelist application; on
        WeChat, the native engine lists nothing.

    Fix:
        Plan the listed steps before converting the model.

    Limitations:
        Conditions are as documented; whether an application is granted is
        not something a file can show.
    """
    yield from _engine_facts(
        ctx,
        engine_requirements,
        ctx.engine.requires,
        " requires: ",
        "plan this before deploying through this engine",
    )


@rule("CC111", "engine-risk", Severity.WARNING, "engine")
def engine_risk(ctx: Context):
    """
    What it checks:
        Known hazards of the chosen engine on this platform, from the
        platform profile: an engine unmaintained for years, a platform with
        no official adapter for it, a community report of it failing.

    Why it breaks:
        A route that converts cleanly still depends on the engine working
        in the host's WebGL and JavaScript environment; unmaintained plugins
        miss fixes for newer base libraries and phones.

    Example:
        WeChat's TensorFlow.js plugin (unmaintained since 2021-08) warns;
        WeChat's native engine does not.

    Fix:
        Prefer a route without the hazard (``--engine`` to compare), or
        test on real phones of the oldest and newest kinds you support.

    Limitations:
        Hazards are as recorded in the profile; the list is not exhaustive.
    """
    yield from _engine_facts(
        ctx,
        engine_risk,
        ctx.engine.risks,
        ": ",
        "prefer a route without this hazard, or test on real phones before release",
    )


def _engine_facts(ctx: Context, rule_obj, facts, joiner: str, fix: str):
    """One finding per condition or hazard the platform records for the engine."""
    for fact in facts:
        ctx.rely(fact)
        yield rule_obj.finding(
            f"{ctx.engine.title}{joiner}{fact.value}",
            fix,
            fact=fact,
        )


def _gap_groups(ctx: Context, status: str):
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for gap in ctx.gaps:
        if gap.status == status:
            groups[(gap.converter.id, gap.op.op_type, gap.reason)].append(gap)
    for (_, op_type, reason), gaps in sorted(groups.items()):
        ctx.rely(gaps[0].fact)
        nodes = list(dict.fromkeys(gap.op.where for gap in gaps))
        yield gaps[0].converter, op_type, reason, nodes, gaps[0].fact


@rule("CC210", "conversion-unsupported", Severity.ERROR, "engine")
def conversion_unsupported(ctx: Context):
    """
    What it checks:
        Every operator against the conversion tools of the route: onnx2tf
        (ONNX to TensorFlow for TensorFlow.js), X2Paddle (ONNX to Paddle for
        Paddle.js), tf2onnx (TFLite to ONNX for WeChat), onnx2tf's TFLite
        importer, and Douyin's TensorFlow.js-to-ByteNN step. An operator the
        tool does not list, or lists as refused, stops the conversion.

    Why it breaks:
        The tool stops with an error ("unsupported op", "ModelIR->SavedModel
        exporter does not support some op types") or, worse, writes a model
        that the engine then refuses on the phone.

    Example:
        A ``Gelu`` node on the TensorFlow.js route fails: onnx2tf lowers it
        to the TFLite GELU builtin, for which its SavedModel exporter has no
        kernel. Written as ``Erf``, ``Mul`` and ``Add`` it converts.

    Fix:
        Rewrite the operator with ones the tool converts before exporting
        (the finding names a standard rewrite where one exists), or take a
        route without this tool.

    Limitations:
        The tools' attribute limits (pad modes, dilations, grouped
        transposed convolutions beyond those the profile lists) are not all
        checked.
    """
    for tool, op_type, reason, nodes, fact in _gap_groups(ctx, "unsupported"):
        fix = rewrite_for(op_type, tool.id) or (
            f"replace {op_type} with operators {tool.id} converts, or choose "
            "another route"
        )
        other = tool.other_paths
        if other is not None and other.known and op_type in other.value:
            fix += f"; {other.note}, including {op_type}"
        yield conversion_unsupported.finding(
            f"{tool.title} cannot convert {op_type} ({len(nodes)} node(s)): {reason}",
            fix,
            nodes=nodes,
            op_type=op_type,
            fact=fact,
        )


@rule("CC211", "conversion-unknown", Severity.WARNING, "engine")
def conversion_unknown(ctx: Context):
    """
    What it checks:
        Operators whose conversion nobody has established: the tool's
        behaviour for them is not documented (onnx2tf's If outside the
        patterns it lowers, X2Paddle's LRN), or the tool itself is not
        public (Douyin's ByteNN conversion).

    Why it breaks:
        It may not; the verdict for these nodes is unverified, and the
        conversion can still stop at them.

    Example:
        An ``If`` node on the TensorFlow.js route warns; a model without
        control flow does not.

    Fix:
        Run the conversion on a copy of the model and check that it
        finishes, or remove the operator before export.

    Limitations:
        Whether the outcome is unknown is read from the converter profile.
    """
    for tool, op_type, reason, nodes, fact in _gap_groups(ctx, "unknown"):
        yield conversion_unknown.finding(
            f"whether {tool.title} converts {op_type} is not known "
            f"({len(nodes)} node(s)): {reason}",
            f"run {tool.id} on the model and check that it finishes, or remove "
            f"{op_type} before export",
            nodes=nodes,
            op_type=op_type,
            fact=fact,
        )
