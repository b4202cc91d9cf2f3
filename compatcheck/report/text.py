"""The report people read in a terminal."""

from __future__ import annotations

import shlex
import textwrap

from tabulate import tabulate

from compatcheck.findings import (
    Finding,
    PlatformResult,
    RouteResult,
    Severity,
    verdict_of,
)
from compatcheck.model.graph import ModelGraph
from compatcheck.plan import ModelPlan
from compatcheck.report import Report
from compatcheck.report.plan_text import model_plan_lines, platform_plan_lines

# Nodes listed per finding before the rest are counted; JSON lists all.
SHOWN_NODES = 3
SHOWN_UNVERIFIED = 3
# Other routes are summarised in one line each, cut to this width.
ROUTE_LINE = 110
_VERDICTS = {"pass": "PASS", "warn": "PASS WITH WARNINGS", "fail": "FAIL"}


def render_text(report: Report) -> str:
    """The whole report; control characters from model files are escaped."""
    blocks = []
    for model in report.models:
        results = [r for r in report.results if r.model == model.path]
        blocks.append(_model_block(model, results, report.plans.get(model.path)))
    for error in report.errors:
        blocks.append(f"{error.path}\n  error: {error.message}")
    if len({r.platform for r in report.results}) > 1:
        blocks.append(_matrix(report))
    blocks.append(_summary(report))
    return _printable("\n\n".join(blocks)) + "\n"


def _model_block(
    model: ModelGraph, results: list[PlatformResult], plan: ModelPlan | None
) -> str:
    lines = [f"{model.path}", f"  {_describe(model)}"]
    if plan is not None:
        lines += model_plan_lines(plan)
    for result in results:
        lines.append("")
        lines.append(_verdict_line(result))
        lines += _route_lines(result)
        if result.findings:
            lines.append(_indent(_table(result.findings)))
        lines += _fixable_line(model, result)
        if result.unverified:
            lines.append(_indent(_unverified(result.unverified)))
        if result.baselined:
            lines.append(f"    {result.baselined} finding(s) hidden by the baseline")
        if result.plan is not None:
            lines += platform_plan_lines(result.plan)
    return "\n".join(lines)


def _fixable_line(model: ModelGraph, result: PlatformResult) -> list[str]:
    """Point at ``compatcheck fix`` when a rule with a fix has a finding."""
    from compatcheck.rules import REGISTRY

    if model.format != "onnx":
        return []
    codes = sorted(
        {
            f.code
            for f in result.findings
            if f.severity is not Severity.INFO and REGISTRY[f.code].fixable
        }
    )
    if not codes:
        return []
    # An input whose proposed shape still has a "?" needs its size given.
    unsized = [
        name
        for f in result.findings
        if f.code == "CC401" and "?" in f.fix
        for name in f.nodes
    ]
    shapes = "".join(
        f" --input-shape {shlex.quote(name + '=DIMS')}" for name in unsized
    )
    return [
        f"    fixable: {', '.join(codes)} (preview: compatcheck fix {model.path} "
        f"-p {result.platform} --diff{shapes})"
    ]


def _describe(model: ModelGraph) -> str:
    if model.format == "onnx":
        version = (
            f"ONNX opset {model.opsets.get('ai.onnx', '-')}, IR {model.ir_version}"
        )
    else:
        version = f"TFLite schema {model.schema_version}"
    size = model.deploy_bytes / 1048576
    return f"{version}, {len(model.ops)} operators, {size:.2f} MB"


def _verdict_line(result: PlatformResult) -> str:
    errors, warnings = result.count(Severity.ERROR), result.count(Severity.WARNING)
    counts = f"{errors} error(s), {warnings} warning(s)"
    checked = "" if not result.unverified else ", unverified"
    return f"  {result.platform}: {_VERDICTS[result.verdict]} ({counts}{checked})"


def _route_lines(result: PlatformResult) -> list[str]:
    """The chosen route as a chain, then one line for each other route."""
    if result.route is None:
        lines = ["    route: none reaches an engine of this platform"]
    else:
        lines = [f"    route: {result.route.chain}"]
        lines += [f"      convert: {command}" for command in result.route.commands]
    others = [r for r in result.routes if r is not result.route]
    if others or result.unreachable:
        lines.append("    other routes:")
    for route in others:
        summary = _route_summary(route, result.platform_findings)
        lines.append(_cut(f"      {route.name}: {summary}"))
    for line in result.unreachable:
        lines.append(_cut(f"      {line}"))
    return lines


def _route_summary(route: RouteResult, shared: list[Finding]) -> str:
    """Verdict and counts as if this route were chosen, and its worst finding."""
    findings = [*shared, *route.findings]
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    verdict = verdict_of(findings)
    text = (
        f"{_VERDICTS[verdict].lower()}, {counts[Severity.ERROR]} error(s), "
        f"{counts[Severity.WARNING]} warning(s)"
    )
    worst = next((f for f in route.findings if f.severity is not Severity.INFO), None)
    if worst is not None:
        text += f"; {worst.code} {worst.message}"
    return text


# Names in a model are untrusted text: a terminal escape sequence in a node
# name must reach the screen as visible characters, not as a command.
_CONTROL = {
    c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), *range(0x7F, 0xA0)) if c != 0x0A
}


def _printable(text: str) -> str:
    return text.translate(_CONTROL)


def _cut(line: str) -> str:
    if len(line) <= ROUTE_LINE:
        return line
    indent = line[: len(line) - len(line.lstrip())]
    return indent + textwrap.shorten(
        line.strip(), ROUTE_LINE - len(indent), placeholder=" ..."
    )


def _matrix(report: Report) -> str:
    """Models as rows, platforms as columns: verdict and route of each pair."""
    platforms = list(dict.fromkeys(r.platform for r in report.results))
    rows = []
    for model in report.models:
        row = [model.path]
        for platform in platforms:
            result = next(
                r
                for r in report.results
                if r.model == model.path and r.platform == platform
            )
            route = result.route.name if result.route else "no route"
            row.append(f"{_VERDICTS[result.verdict]}\n{route}")
        rows.append(row)
    return "platform matrix (verdict, route used):\n" + tabulate(
        rows, headers=["model", *platforms], tablefmt="simple"
    )


def _table(findings: list[Finding]) -> str:
    rows = []
    for finding in findings:
        text = finding.message
        if finding.nodes:
            text += "\nnodes: " + _nodes(finding.nodes)
        rows.append([finding.severity.value, finding.code, text, finding.fix])
    return tabulate(
        rows,
        headers=["severity", "code", "finding", "fix"],
        tablefmt="simple",
        maxcolwidths=[None, None, 60, 44],
    )


def _nodes(nodes: list[str]) -> str:
    shown = ", ".join(nodes[:SHOWN_NODES])
    if len(nodes) > SHOWN_NODES:
        shown += f" (+{len(nodes) - SHOWN_NODES} more)"
    return shown


def _unverified(facts: list[str]) -> str:
    lines = [
        f"unverified: the verdict relies on {len(facts)} fact(s) that are unknown "
        "or not documented by the vendor:"
    ]
    lines += [f"  - {fact}" for fact in facts[:SHOWN_UNVERIFIED]]
    if len(facts) > SHOWN_UNVERIFIED:
        lines.append(f"  - ... {len(facts) - SHOWN_UNVERIFIED} more (--format json)")
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join(("    " + line).rstrip() for line in text.splitlines())


def _summary(report: Report) -> str:
    if not report.models:
        return f"no model checked: {len(report.errors)} file(s) could not be read"
    verdicts = [r.verdict for r in report.results]
    parts = [
        f"{verdicts.count(v)} {_VERDICTS[v].lower()}" for v in ("fail", "warn", "pass")
    ]
    text = (
        f"{len(report.models)} model(s) checked on "
        f"{len({r.platform for r in report.results})} platform(s): " + ", ".join(parts)
    )
    if report.errors:
        text += f"; {len(report.errors)} file(s) could not be read"
    return text
