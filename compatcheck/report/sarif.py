"""SARIF 2.1.0, for code scanning: one run, rule metadata, stable fingerprints.

Model files have no lines, so a result points at the model file and names
the nodes as logical locations; ``partialFingerprints`` carry the same
fingerprint baselines use, so a finding is tracked across runs and
re-exports of the model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

from compatcheck import __version__
from compatcheck.baseline import fingerprint
from compatcheck.findings import Finding, PlatformResult, Severity
from compatcheck.report import Report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def render_sarif(report: Report) -> str:
    from compatcheck.rules import all_rules

    rules = all_rules()
    index = {rule.code: i for i, rule in enumerate(rules)}
    results = [
        _result(result, finding, index)
        for result in report.results
        for finding in result.findings
    ]
    results += [
        _unreadable(error.path, error.message, len(rules)) for error in report.errors
    ]
    run = {
        "tool": {
            "driver": {
                "name": "compatcheck",
                "version": __version__,
                "rules": [*(_rule(rule) for rule in rules), UNREADABLE],
            }
        },
        "invocations": [{"executionSuccessful": not report.errors}],
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _rule(rule) -> dict:
    sections = rule.sections()
    help_text = "\n\n".join(f"{title}:\n{text}" for title, text in sections.items())
    help_markdown = "\n\n".join(
        f"**{title}**\n\n{text}" for title, text in sections.items()
    )
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": " ".join(sections["What it checks"].split())},
        "help": {"text": help_text, "markdown": help_markdown},
        "defaultConfiguration": {"level": _LEVELS[rule.severity]},
        "properties": {"scope": rule.scope, "fixable": rule.fixable},
    }


def _uri(path: str) -> str:
    """A URI reference for the model: relative and percent-encoded, or file://."""
    if os.path.isabs(path):
        return Path(path).as_uri()
    posix = path.replace(os.sep, "/")
    return quote(posix.encode("utf-8", "surrogateescape"), safe="/")


def _result(result: PlatformResult, finding: Finding, index: dict) -> dict:
    text = f"[{result.platform}] {finding.message}"
    if finding.fix:
        text += f". Fix: {finding.fix}"
    entry = {
        "ruleId": finding.code,
        "ruleIndex": index[finding.code],
        "level": _LEVELS[finding.severity],
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": _uri(result.model)}},
                "logicalLocations": [
                    {"fullyQualifiedName": node, "kind": "element"}
                    for node in finding.nodes
                ],
            }
        ],
        "partialFingerprints": {"compatcheck/v1": fingerprint(result, finding)},
        "properties": {
            "platform": result.platform,
            "route": result.route.chain if result.route else None,
            "opType": finding.op_type,
            "confidence": finding.confidence,
            "source": finding.source,
        },
    }
    if not finding.nodes:
        del entry["locations"][0]["logicalLocations"]
    return entry


# Not a rule of the registry: how SARIF reports a file compatcheck could not
# read (the other formats list such files under "errors").
UNREADABLE = {
    "id": "CC000",
    "name": "unreadable-model",
    "shortDescription": {"text": "A model file that could not be read"},
    "fullDescription": {
        "text": "The file is missing, empty, truncated, corrupt or not a model."
    },
    "help": {"text": "Export or download the model again; the message says why."},
    "defaultConfiguration": {"level": "error"},
}


def _unreadable(path: str, message: str, rule_index: int) -> dict:
    """A model that could not be read is an error result on its file."""
    return {
        "ruleId": "CC000",
        "ruleIndex": rule_index,
        "level": "error",
        "message": {"text": f"the model could not be read: {message}"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(path)}}}],
    }
