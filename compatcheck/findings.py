"""Findings and per-platform results: what rules return and formatters render."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass
class Finding:
    """One problem, with where it is and what to do about it."""

    code: str
    rule: str
    severity: Severity
    message: str
    fix: str
    nodes: list[str] = field(default_factory=list)
    op_type: str = ""
    confidence: str = ""
    source: str = ""

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "fix": self.fix,
            "nodes": list(self.nodes),
            "op_type": self.op_type,
            "confidence": self.confidence,
            "source": self.source,
        }


@dataclass
class PlatformResult:
    """The verdict for one model on one platform."""

    model: str
    model_format: str
    platform: str
    platform_title: str
    engine: str | None
    engine_title: str | None
    findings: list[Finding]
    unverified: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        severities = {f.severity for f in self.findings}
        if Severity.ERROR in severities:
            return "fail"
        if Severity.WARNING in severities:
            return "warn"
        return "pass"

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "format": self.model_format,
            "platform": self.platform,
            "engine": self.engine,
            "verdict": self.verdict,
            "verified": not self.unverified,
            "unverified_facts": list(self.unverified),
            "summary": {s.value: self.count(s) for s in Severity},
            "findings": [f.to_dict() for f in self.findings],
        }
