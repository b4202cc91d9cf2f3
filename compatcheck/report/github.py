"""GitHub Actions workflow commands that annotate the model files.

GitHub shows only the first annotations of each kind in a step, so errors
come first, then warnings, then notes; past the limit the rest are counted
in one summary line.
"""

from __future__ import annotations

from compatcheck.findings import Severity
from compatcheck.report import Report

# Annotations GitHub displays per step and kind (errors, warnings).
SHOWN_PER_LEVEL = 10
_COMMANDS = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "notice",
}


def render_github(report: Report) -> str:
    items = [
        (finding.severity.rank, result.model, result.platform, finding)
        for result in report.results
        for finding in result.findings
    ]
    items.sort(key=lambda i: (i[0], i[1], i[2], i[3].code, i[3].message))
    lines = [
        f"::error file={_property(e.path)},title=unreadable model::{_data(e.message)}"
        for e in report.errors[:SHOWN_PER_LEVEL]
    ]
    shown = {level: 0 for level in Severity}
    shown[Severity.ERROR] = len(lines)
    hidden = len(report.errors) - len(lines)
    for _, model, platform, finding in items:
        if shown[finding.severity] >= SHOWN_PER_LEVEL:
            hidden += 1
            continue
        shown[finding.severity] += 1
        title = f"{finding.code} {finding.rule} ({platform})"
        text = finding.message + (f". Fix: {finding.fix}" if finding.fix else "")
        if finding.nodes:
            text += f". Nodes: {', '.join(finding.nodes[:5])}"
            if len(finding.nodes) > 5:
                text += f" (+{len(finding.nodes) - 5} more)"
        lines.append(
            f"::{_COMMANDS[finding.severity]} file={_property(model)},"
            f"title={_property(title)}::{_data(text)}"
        )
    if hidden:
        lines.append(
            f"::notice title=compatcheck::{hidden} more finding(s) are not "
            "annotated; run compatcheck with --format text or json for all of them"
        )
    verdicts = [r.verdict for r in report.results]
    lines.append(
        f"compatcheck: {len(report.models)} model(s) on "
        f"{len({r.platform for r in report.results})} platform(s): "
        f"{verdicts.count('fail')} fail, {verdicts.count('warn')} warn, "
        f"{verdicts.count('pass')} pass"
        + (f", {len(report.errors)} unreadable" if report.errors else "")
    )
    return "\n".join(lines) + "\n"


def _data(text: str) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    # Other control characters (terminal escapes from a model's names) would
    # reach the CI log as they are: show them as \xNN.
    return "".join(
        c if c.isprintable() or c == "\t" else f"\\x{ord(c):02x}" for c in text
    )


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
