"""Run the rules: one model against one platform profile."""

from __future__ import annotations

from compatcheck.findings import Finding, PlatformResult, Severity
from compatcheck.model.graph import ModelGraph
from compatcheck.profiles.model import Engine, Fact, Profile
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

    best: tuple[tuple[int, int], Engine, list[Finding], list[Fact]] | None = None
    for engine in profile.engines:
        if not engine.accepts(model.format):
            continue
        ctx = Context(model, profile, engine, options)
        engine_findings = _run(ctx, "engine")
        score = (
            _count(engine_findings, Severity.ERROR),
            _count(engine_findings, Severity.WARNING),
        )
        if best is None or score < best[0]:
            best = (score, engine, engine_findings, ctx.relied_on)

    engine = None
    if best is not None:
        _, engine, engine_findings, engine_relied = best
        findings += engine_findings
        relied += [f for f in engine_relied if f not in relied]
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


def _count(findings: list[Finding], severity: Severity) -> int:
    return sum(1 for f in findings if f.severity is severity)


def _describe(fact: Fact) -> str:
    value = fact.value
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    elif isinstance(value, dict):
        value = "-".join(str(v) for v in value.values())
    return f"{fact.path} = {value} ({fact.confidence}, {fact.source})"
