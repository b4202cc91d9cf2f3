"""Typed, read-only views of a validated platform profile."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UNKNOWN = "unknown"

# How sure a fact is, from most to least.
CONFIDENCE_ORDER = ("documented", "vendor-doc-mirror", "community", "inferred")


@dataclass(frozen=True)
class Fact:
    """One sourced statement about a platform or engine."""

    path: str
    value: Any
    confidence: str
    source: str
    url: str
    note: str = ""

    @property
    def known(self) -> bool:
        return self.value != UNKNOWN

    @property
    def verified(self) -> bool:
        """True when the vendor says so (directly or through a faithful copy)."""
        return self.known and self.confidence in ("documented", "vendor-doc-mirror")

    def cite(self) -> str:
        """Short citation for reports: confidence and source id."""
        return f"{self.confidence}, {self.source}"


@dataclass(frozen=True)
class OpMapping:
    """How one model operator maps to an engine row, and when."""

    row: str
    fact: Fact
    kind: str = ""
    input_rank: int | None = None
    max_inputs: int | None = None
    constant_inputs: tuple[int, ...] = ()


@dataclass(frozen=True)
class Backend:
    name: str
    available: Fact
    option: str = ""


@dataclass
class Engine:
    """An inference engine offered on a platform."""

    id: str
    title: str
    status: Fact
    formats: Fact
    convert_from: dict[str, Fact] = field(default_factory=dict)
    io_dtypes: Fact | None = None
    dynamic_shapes: Fact | None = None
    opset: Fact | None = None
    ir_version: Fact | None = None
    backends: dict[str, Backend] = field(default_factory=dict)
    rows: dict[str, tuple[str, ...]] = field(default_factory=dict)
    row_kinds: dict[str, tuple[str, ...]] = field(default_factory=dict)
    table: Fact | None = None
    op_format: str = ""
    op_domains: tuple[str, ...] = ()
    unlisted: Fact | None = None
    op_map: dict[str, tuple[OpMapping, ...]] = field(default_factory=dict)

    def accepts(self, model_format: str) -> bool:
        return self.formats.known and model_format in self.formats.value


@dataclass
class Profile:
    """A platform: its limits and engines, every fact with its source."""

    platform: str
    title: str
    path: str
    researched: str
    aliases: tuple[str, ...]
    notes: str
    sources: dict[str, dict]
    limits: dict[str, Fact]
    engines: list[Engine]

    def engine(self, engine_id: str) -> Engine | None:
        return next((e for e in self.engines if e.id == engine_id), None)
