"""Markdown for a pull-request comment or a job summary."""

from __future__ import annotations

import re

from compatcheck.findings import PlatformResult, Severity
from compatcheck.report import Report

_VERDICTS = {"pass": "pass", "warn": "pass with warnings", "fail": "**fail**"}
# Findings listed per result before the rest are counted.
SHOWN_FINDINGS = 20


def render_markdown(report: Report) -> str:
    lines = [
        "## compatcheck",
        "",
        "| model | platform | verdict | route | errors | warnings |",
        "|---|---|---|---|---:|---:|",
    ]
    for result in report.results:
        route = result.route.chain if result.route else "no route"
        lines.append(
            f"| {_cell(result.model)} | {result.platform} | "
            f"{_VERDICTS[result.verdict]} | {_cell(route)} | "
            f"{result.count(Severity.ERROR)} | {result.count(Severity.WARNING)} |"
        )
    for error in report.errors:
        lines.append(f"| {_cell(error.path)} | - | **unreadable** | - | - | - |")
    for result in report.results:
        if any(f.severity is not Severity.INFO for f in result.findings):
            lines += ["", *_details(result)]
    return "\n".join(lines) + "\n"


def _details(result: PlatformResult) -> list[str]:
    findings = [f for f in result.findings if f.severity is not Severity.INFO]
    lines = [
        f"<details><summary>{_cell(result.model)} on {result.platform}: "
        f"{len(findings)} finding(s)</summary>",
        "",
        "| severity | code | finding | fix |",
        "|---|---|---|---|",
    ]
    for finding in findings[:SHOWN_FINDINGS]:
        text = finding.message
        if finding.nodes:
            text += f" (nodes: {', '.join(finding.nodes[:3])}"
            text += (
                f", +{len(finding.nodes) - 3} more)" if len(finding.nodes) > 3 else ")"
            )
        lines.append(
            f"| {finding.severity.value} | {finding.code} | {_cell(text)} | "
            f"{_cell(finding.fix)} |"
        )
    if len(findings) > SHOWN_FINDINGS:
        lines.append(f"| | | {len(findings) - SHOWN_FINDINGS} more | |")
    return [*lines, "", "</details>"]


def _cell(text: str) -> str:
    """Table-safe text: no line breaks, and | < > \\ shown as themselves."""
    text = re.sub(r"[\r\n\t\x00-\x1f]", " ", text)
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )
