"""What a rule is, and the context it checks."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from compatcheck.config import Policy
from compatcheck.findings import Finding, Severity
from compatcheck.model.graph import ModelGraph
from compatcheck.profiles.model import Engine, Fact, Profile

if TYPE_CHECKING:
    from compatcheck.routes import Gap, Route

# Sections every rule docstring must have; `compatcheck explain` prints them.
DOC_SECTIONS = ("What it checks", "Why it breaks", "Example", "Fix", "Limitations")


@dataclass
class Options:
    """User choices that change what rules check."""

    backend: str | None = None
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    engine: str | None = None
    # Which findings are reported and how severe (configuration, --select).
    policy: Policy = field(default_factory=lambda: Policy())


@dataclass
class Context:
    """Everything a rule may read. Rules never print; they return findings."""

    model: ModelGraph
    profile: Profile
    engine: Engine | None
    options: Options
    # Platform scope: every route found. Engine scope: the route being
    # checked, what its conversions could not convert, and the user's model
    # (``model`` is then the predicted converted one).
    routes: list[Route] = field(default_factory=list)
    route: Route | None = None
    gaps: list[Gap] = field(default_factory=list)
    source: ModelGraph | None = None
    # Facts the verdict depends on, by identity, in the order first relied on.
    _relied: dict[int, Fact] = field(default_factory=dict, repr=False)
    # Results several rules share (per model and engine), computed once.
    memo: dict = field(default_factory=dict)

    def rely(self, fact: Fact | None) -> None:
        """Record that a verdict depends on ``fact`` (shown when unverified)."""
        if fact is not None:
            self._relied.setdefault(id(fact), fact)

    @property
    def relied_on(self) -> list[Fact]:
        return list(self._relied.values())


@dataclass(frozen=True)
class Rule:
    """A declared check: stable code, name, default severity and scope.

    ``scope`` is ``"platform"`` for checks of the host (size, format) and
    ``"engine"`` for checks run once per engine that loads the model.
    ``also`` holds the other severities the rule gives in milder or graver
    cases; a finding of any severity not declared is refused.
    """

    code: str
    name: str
    severity: Severity
    scope: str
    fixable: bool
    check: Callable[[Context], Iterable[Finding]]
    also: tuple[Severity, ...] = ()

    @property
    def levels(self) -> tuple[Severity, ...]:
        """Every severity the rule gives, the gravest first."""
        order = (Severity.ERROR, Severity.WARNING, Severity.INFO)
        return tuple(s for s in order if s is self.severity or s in self.also)

    @property
    def severities(self) -> str:
        """The default severity and the others the rule gives: "warning (also info)"."""
        others = [s.value for s in self.levels if s is not self.severity]
        text = self.severity.value
        return f"{text} (also {', '.join(others)})" if others else text

    @property
    def doc(self) -> str:
        """The docstring as users read it: code in single backticks."""
        return (self.check.__doc__ or "").strip().replace("``", "`")

    @property
    def summary(self) -> str:
        """The first sentence of "What it checks", on one line."""
        text = " ".join(self.sections().get("What it checks", "").split())
        depth = 0
        for index, char in enumerate(text):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and char in ".:" and text[index + 1 : index + 2] in (" ", ""):
                return text[:index]
        return text

    def sections(self) -> dict[str, str]:
        """The docstring split into its titled sections."""
        found: dict[str, list[str]] = {}
        current = None
        for line in self.doc.splitlines():
            stripped = line.strip()
            if stripped.rstrip(":") in DOC_SECTIONS and stripped.endswith(":"):
                current = stripped.rstrip(":")
                found[current] = []
            elif current is not None:
                found[current].append(line)
        return {k: _dedent("\n".join(v)) for k, v in found.items()}

    def finding(
        self,
        message: str,
        fix: str,
        *,
        nodes: list[str] | None = None,
        op_type: str = "",
        fact: Fact | None = None,
        severity: Severity | None = None,
        key: str = "",
    ) -> Finding:
        if severity is not None and severity not in self.levels:
            raise ValueError(f"{self.code} does not declare severity {severity.value}")
        return Finding(
            code=self.code,
            rule=self.name,
            severity=severity or self.severity,
            message=message,
            fix=fix,
            nodes=list(nodes or []),
            op_type=op_type,
            confidence=fact.confidence if fact else "",
            source=fact.url if fact else "",
            key=key,
        )


def _dedent(text: str) -> str:
    return textwrap.dedent(text).strip()


REGISTRY: dict[str, Rule] = {}


def rule(
    code: str,
    name: str,
    severity: Severity,
    scope: str,
    fixable: bool = False,
    also: tuple[Severity, ...] = (),
):
    """Register the decorated function as a rule; duplicate codes are refused."""

    def register(check: Callable[[Context], Iterable[Finding]]) -> Rule:
        if code in REGISTRY or any(r.name == name for r in REGISTRY.values()):
            raise ValueError(f"rule {code} ({name}) is registered twice")
        declared = Rule(code, name, severity, scope, fixable, check, also)
        REGISTRY[code] = declared
        return declared

    return register
