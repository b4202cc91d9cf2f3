"""Run the rules: one model against one platform profile."""

from __future__ import annotations

from compatcheck.findings import Finding, PlatformResult, Severity
from compatcheck.model.graph import ModelGraph
from compatcheck.profiles.model import Fact, Profile
from compatcheck.rules import Context, Options, all_rules


def check_model(
    model: ModelGraph, profile: Profile, options: Options | None = None
) -> PlatformResult:
    """Check ``model`` on ``profile``'s platform with the engine that fits best.

    Platform rules run once. Engine rules run for every engine that loads the
    model's format; the engine with the fewest errors, then warnings, wins.
    """
    options = options or Options()
    base = Context(model, profile, None, options)
    findings = _run(base, "platform")
    relied = list(base.relied_on)

    runs = []
    for engine in profile.engines:
        if engine.accepts(model.format):
            ctx = Context(model, profile, engine, options)
            runs.append((ctx, _run(ctx, "engine")))

    engine = None
    if runs:
        ctx, engine_findings = min(runs, key=lambda run: _score(run[1]))
        engine = ctx.engine
        findings += engine_findings
        relied += [f for f in ctx.relied_on if f not in relied]
    findings.sort(key=lambda f: (f.severity.rank, f.code, f.op_type, f.message))
    return PlatformResult(
        model=model.path,
        model_format=model.format,
        platform=profile.platform,
        platform_title=profile.title,
        engine=engine.id if engine else None,
        engine_title=engine.title if engine else None,
        findings=findings,
        unverified=sorted({_describe(f) for f in relied if not f.verified}),
    )


def _run(ctx: Context, scope: str) -> list[Finding]:
    found: list[Finding] = []
    for rule in all_rules():
        if rule.scope == scope:
            found.extend(rule.check(ctx))
    return found


def _score(findings: list[Finding]) -> tuple[int, int]:
    """Fewer errors first, then fewer warnings."""
    severities = [f.severity for f in findings]
    return severities.count(Severity.ERROR), severities.count(Severity.WARNING)


def _describe(fact: Fact) -> str:
    value = fact.value
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    elif isinstance(value, dict):
        value = "-".join(str(v) for v in value.values())
    return f"{fact.path} = {value} ({fact.confidence}, {fact.source})"
