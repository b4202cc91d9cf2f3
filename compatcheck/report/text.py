"""The report people read in a terminal."""

from __future__ import annotations

from tabulate import tabulate

from compatcheck.findings import Finding, PlatformResult, Severity
from compatcheck.model.graph import ModelGraph
from compatcheck.report import Report

# Nodes listed per finding before the rest are counted; JSON lists all.
SHOWN_NODES = 3
SHOWN_UNVERIFIED = 3
_VERDICTS = {"pass": "PASS", "warn": "PASS WITH WARNINGS", "fail": "FAIL"}


def render_text(report: Report) -> str:
    blocks = []
    for model in report.models:
        results = [r for r in report.results if r.model == model.path]
        blocks.append(_model_block(model, results))
    for error in report.errors:
        blocks.append(f"{error.path}\n  error: {error.message}")
    blocks.append(_summary(report))
    return "\n\n".join(blocks) + "\n"


def _model_block(model: ModelGraph, results: list[PlatformResult]) -> str:
    lines = [f"{model.path}", f"  {_describe(model)}"]
    for result in results:
        lines.append("")
        lines.append(_verdict_line(result))
        if result.findings:
            lines.append(_indent(_table(result.findings)))
        if result.unverified:
            lines.append(_indent(_unverified(result.unverified)))
    return "\n".join(lines)


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
    via = f"via {result.engine_title}" if result.engine_title else "no engine loads it"
    errors, warnings = result.count(Severity.ERROR), result.count(Severity.WARNING)
    counts = f"{errors} error(s), {warnings} warning(s)"
    checked = "" if not result.unverified else ", unverified"
    return (
        f"  {result.platform}: {_VERDICTS[result.verdict]} ({via}; {counts}{checked})"
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
