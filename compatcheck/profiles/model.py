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
    since: str = ""


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
    # Set for engines described by a shared engine profile (TensorFlow.js,
    # Paddle.js, ByteNN): the profile, and the release usable on this host.
    spec: EngineSpec | None = None
    version: Fact | None = None
    requires: tuple[Fact, ...] = ()
    risks: tuple[Fact, ...] = ()
    min_base_library: Fact | None = None
    outputs_by: Fact | None = None
    quantized_forms: Fact | None = None
    # A documented timing of a reference model, and that model's MACs.
    speed_reference: Fact | None = None
    reference_macs: int = 0
    # Session option name -> its default value, as documented.
    options: dict[str, Fact] = field(default_factory=dict)

    def accepts(self, model_format: str) -> bool:
        return self.formats.known and model_format in self.formats.value

    @property
    def backend_label(self) -> str:
        """Where the engine computes by default, for route chains."""
        if self.spec is not None and self.spec.backend:
            return self.spec.backend
        return "cpu" if "cpu" in self.backends else ""

    def fact(self, key: str) -> Fact | None:
        """A runtime fact of the shared engine profile, if any."""
        return self.spec.facts.get(key) if self.spec is not None else None


@dataclass(frozen=True)
class OpSpec:
    """One operator of a shared engine profile's table."""

    name: str
    since: str = ""
    kernel: str = "gpu"
    is_async: bool = False
    max_rank: int | None = None
    note: str = ""


@dataclass
class EngineSpec:
    """A shared engine profile: operator table and runtime facts."""

    id: str
    title: str
    path: str
    format: str
    namespace: str
    backend: str
    sources: dict[str, dict]
    facts: dict[str, Fact]
    table: Fact
    unlisted: Fact
    ops: dict[str, OpSpec]
    checked_as: str = ""

    @property
    def table_known(self) -> bool:
        return self.table.known


@dataclass(frozen=True)
class Conversion:
    """What one source operator becomes, and when."""

    fact: Fact
    ops: tuple[str, ...] = ()
    refused: str = ""
    unknown: str = ""
    input_rank: tuple[int, ...] = ()
    output_rank: int | None = None
    attributes: tuple[tuple[str, tuple], ...] = ()
    int_inputs: tuple[tuple[int, tuple[int, ...]], ...] = ()
    constant_inputs: tuple[int, ...] = ()
    scalar_inputs: tuple[int, ...] = ()
    input_dtypes: tuple[str, ...] = ()
    min_version: int | None = None
    creates_rank: int | None = None

    @property
    def conditional(self) -> bool:
        return bool(
            self.input_rank
            or self.output_rank is not None
            or self.attributes
            or self.int_inputs
            or self.constant_inputs
            or self.scalar_inputs
            or self.input_dtypes
            or self.min_version is not None
        )


@dataclass
class Converter:
    """A conversion tool between two model formats."""

    id: str
    title: str
    path: str
    from_format: str
    to_format: str
    reads: str
    domains: tuple[str, ...]
    writes: str
    command: Fact
    sources: dict[str, dict]
    table: Fact
    unlisted: Fact
    map: dict[str, tuple[Conversion, ...]]
    opset: Fact | None = None
    accepts_ops_of: str = ""
    other_paths: Fact | None = None
    unlisted_by_domain: dict[str, Fact] = field(default_factory=dict)
    quantized_tensor_ops: tuple[str, ...] = ()


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
    # The host's JavaScript API object (wx, my ...); empty when not given.
    api_namespace: str = ""
    # model_encryption, when the profile states it.
    security: dict[str, Fact] = field(default_factory=dict)

    def engine(self, engine_id: str) -> Engine | None:
        return next((e for e in self.engines if e.id == engine_id), None)
