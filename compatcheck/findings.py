"""Findings and per-platform results: what rules return and formatters render."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compatcheck.plan import PlatformPlan


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
    # Identity for baselines and SARIF fingerprints when the message quotes
    # text from the model that may change between saves; empty otherwise.
    key: str = ""

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


def verdict_of(findings: list[Finding]) -> str:
    severities = {f.severity for f in findings}
    if Severity.ERROR in severities:
        return "fail"
    if Severity.WARNING in severities:
        return "warn"
    return "pass"


def _summary(findings: list[Finding]) -> dict[str, int]:
    return {s.value: sum(1 for f in findings if f.severity is s) for s in Severity}


@dataclass
class RouteResult:
    """One way to the phone: conversions, engine, and what they run into."""

    engine: str
    engine_title: str
    converters: list[str]
    chain: str
    findings: list[Finding]
    unverified: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return verdict_of(self.findings)

    @property
    def name(self) -> str:
        via = f" via {' + '.join(self.converters)}" if self.converters else ""
        return self.engine + via

    def score(self) -> tuple[int, int, int]:
        """Fewer errors, then fewer warnings, then fewer conversions."""
        counts = _summary(self.findings)
        return counts["error"], counts["warning"], len(self.converters)

    def to_dict(self) -> dict:
        return {
            "engine": self.engine,
            "converters": list(self.converters),
            "chain": self.chain,
            "commands": list(self.commands),
            "verdict": self.verdict,
            "verified": not self.unverified,
            "unverified_facts": list(self.unverified),
            "summary": _summary(self.findings),
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass
class PlatformResult:
    """The verdict for one model on one platform, through its best route."""

    model: str
    model_format: str
    platform: str
    platform_title: str
    findings: list[Finding]
    unverified: list[str] = field(default_factory=list)
    route: RouteResult | None = None
    routes: list[RouteResult] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    # The platform's own findings (sizes, no route), shared by every route.
    platform_findings: list[Finding] = field(default_factory=list)
    # Findings hidden because a baseline file records them.
    baselined: int = 0
    # What to do on this platform through the chosen route.
    plan: PlatformPlan | None = None

    @property
    def engine(self) -> str | None:
        return self.route.engine if self.route else None

    @property
    def engine_title(self) -> str | None:
        return self.route.engine_title if self.route else None

    @property
    def verdict(self) -> str:
        return verdict_of(self.findings)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    def to_dict(self) -> dict:
        route = self.route
        return {
            "model": self.model,
            "format": self.model_format,
            "platform": self.platform,
            "engine": self.engine,
            "route": {
                "engine": route.engine,
                "converters": list(route.converters),
                "chain": route.chain,
                "commands": list(route.commands),
            }
            if route
            else None,
            "verdict": self.verdict,
            "verified": not self.unverified,
            "unverified_facts": list(self.unverified),
            "summary": _summary(self.findings),
            "findings": [f.to_dict() for f in self.findings],
            "routes": [r.to_dict() for r in self.routes],
            "unreachable_engines": list(self.unreachable),
            "baselined": self.baselined,
            "plan": self.plan.to_dict() if self.plan else None,
        }
