"""Run the rules: one model against one platform profile, over every route."""

from __future__ import annotations

from compatcheck.findings import Finding, PlatformResult, RouteResult
from compatcheck.model.graph import ModelGraph
from compatcheck.profiles.model import Engine, Fact, Profile
from compatcheck.routes import Route, convert, find_routes
from compatcheck.rules import Context, Options, all_rules


def check_model(
    model: ModelGraph, profile: Profile, options: Options | None = None
) -> PlatformResult:
    """Check ``model`` on ``profile``'s platform through the route that fits best.

    Platform rules (sizes, whether any route exists) run once. Every route
    (conversions, then an engine that loads their output) is checked with
    the engine rules on the predicted converted model; the route with the
    fewest errors, then warnings, then conversions wins.
    """
    options = options or Options()
    routes = [r for r in find_routes(model.format, profile) if _wanted(r, options)]
    base = Context(model, profile, None, options, routes=routes)
    findings = _run(base, "platform")
    platform_findings = sorted(findings, key=_order)

    checked = [_check_route(model, profile, route, options) for route in routes]
    best = min(checked, key=RouteResult.score) if checked else None
    relied = list(base.relied_on)
    if best is not None:
        findings += best.findings
    findings.sort(key=_order)
    unverified = sorted({_describe(f) for f in relied if not f.verified})
    if best is not None:
        unverified = sorted({*unverified, *best.unverified})
    result = PlatformResult(
        model=model.path,
        model_format=model.format,
        platform=profile.platform,
        platform_title=profile.title,
        findings=findings,
        unverified=unverified,
        route=best,
        routes=sorted(checked, key=RouteResult.score),
        unreachable=_unreachable(profile, routes, options),
        platform_findings=platform_findings,
    )
    _apply_policy(result, options)
    return result


def _wanted(route: Route, options: Options) -> bool:
    """--engine keeps routes to that engine; --backend, engines that offer it."""
    if options.engine is not None and options.engine not in engine_names(route.engine):
        return False
    return options.backend is None or options.backend in route.engine.backends


def engine_names(engine: Engine) -> set[str]:
    """Names ``--engine`` accepts for an engine: its id and its shared profile's."""
    names = {engine.id}
    if engine.spec is not None:
        names.add(engine.spec.id)
    return names


def _check_route(
    model: ModelGraph, profile: Profile, route: Route, options: Options
) -> RouteResult:
    current, gaps = model, []
    for step in route.steps:
        current, found = convert(current, step)
        gaps += found
    ctx = Context(
        current, profile, route.engine, options, route=route, gaps=gaps, source=model
    )
    for step in route.steps:
        ctx.rely(step.table)
    findings = sorted(_run(ctx, "engine"), key=_order)
    backend = options.backend if options.backend in route.engine.backends else None
    return RouteResult(
        engine=route.engine.id,
        engine_title=route.engine.title,
        converters=[step.id for step in route.steps],
        chain=route.chain(model.path, backend),
        findings=findings,
        unverified=sorted({_describe(f) for f in ctx.relied_on if not f.verified}),
        commands=[command for step in route.steps for command in _commands(step)],
    )


def _commands(converter) -> list[str]:
    """A converter's shell commands: its profile gives one or a list."""
    value = converter.command.value
    return [value] if isinstance(value, str) else list(value)


def _unreachable(profile: Profile, routes: list[Route], options: Options) -> list[str]:
    """Engines of the platform no route reaches, and what they load."""
    reached = {r.engine.id for r in routes}
    lines = []
    for engine in profile.engines:
        if engine.id in reached:
            continue
        if options.engine is not None and options.engine not in engine_names(engine):
            lines.append(f"{engine.id}: not selected (--engine {options.engine})")
            continue
        if options.backend is not None and options.backend not in engine.backends:
            lines.append(f"{engine.id}: has no {options.backend} backend (--backend)")
            continue
        if engine.formats.known:
            loads = f"loads {', '.join(engine.formats.value)}"
        else:
            loads = "the model formats it loads are unknown"
        lines.append(
            f"{engine.id}: {loads}; no known conversion reaches it "
            f"({engine.status.value})"
        )
    return lines


def _run(ctx: Context, scope: str) -> list[Finding]:
    found: list[Finding] = []
    for rule in all_rules():
        if rule.scope == scope:
            found.extend(rule.check(ctx))
    return found


def _apply_policy(result: PlatformResult, options: Options) -> None:
    """Select, ignore and re-grade findings once the route is chosen.

    The route is chosen on every finding, so hiding a code changes what is
    shown, not which way the model is deployed.
    """
    policy = options.policy

    def kept(findings: list[Finding]) -> list[Finding]:
        shown = (policy.apply(f, result.model) for f in findings)
        # Re-graded findings take the place of their new severity.
        return sorted((f for f in shown if f is not None), key=_order)

    result.findings = kept(result.findings)
    result.platform_findings = kept(result.platform_findings)
    for route in result.routes:
        route.findings = kept(route.findings)


def _order(finding: Finding) -> tuple:
    return (finding.severity.rank, finding.code, finding.op_type, finding.message)


def _describe(fact: Fact) -> str:
    value = fact.value
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    elif isinstance(value, dict):
        value = "-".join(str(v) for v in value.values())
    return f"{fact.path} = {value} ({fact.confidence}, {fact.source})"
