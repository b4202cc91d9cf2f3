"""Validated profile data -> typed Profile."""

from __future__ import annotations

from compatcheck.errors import ProfileError
from compatcheck.profiles.library import engine_specs
from compatcheck.profiles.model import (
    Backend,
    Engine,
    EngineSpec,
    Fact,
    OpMapping,
    Profile,
)


def build_profile(path: str, data: dict) -> Profile:
    sources = data["sources"]
    facts = _FactMaker(sources)
    specs = engine_specs()
    for index, raw in enumerate(data["engines"]):
        if "engine" in raw and raw["engine"] not in specs:
            raise ProfileError(
                path,
                f"engines[{index}].engine: {raw['engine']!r} is not a shared "
                f"engine profile; use one of: {', '.join(sorted(specs))}",
            )
    return Profile(
        platform=data["platform"],
        title=data["title"],
        path=path,
        researched=data["researched"],
        aliases=tuple(data.get("aliases", [])),
        notes=data.get("notes", ""),
        sources=sources,
        limits={k: facts(f"limits.{k}", v) for k, v in data["limits"].items()},
        engines=[
            _build_engine(facts, f"engines.{e['id']}", e) for e in data["engines"]
        ],
        api_namespace=data.get("api_namespace", ""),
        security={
            k: facts(f"security.{k}", v) for k, v in data.get("security", {}).items()
        },
    )


class _FactMaker:
    def __init__(self, sources: dict) -> None:
        self.sources = sources

    def __call__(self, path: str, raw: dict, value=None) -> Fact:
        source = raw["source"]
        return Fact(
            path=path,
            value=raw["value"] if value is None else value,
            confidence=raw["confidence"],
            source=source,
            url=self.sources[source]["url"],
            note=raw.get("note", ""),
        )


def _build_engine(facts: _FactMaker, where: str, raw: dict) -> Engine:
    def optional(key: str) -> Fact | None:
        return facts(f"{where}.{key}", raw[key]) if key in raw else None

    spec = engine_specs()[raw["engine"]] if "engine" in raw else None
    if "formats" in raw:
        formats = facts(f"{where}.formats", raw["formats"])
    else:
        formats = Fact(
            f"{spec.id}.format",
            [spec.format],
            spec.table.confidence,
            spec.table.source,
            spec.table.url,
        )
    engine = Engine(
        id=raw["id"],
        title=raw["title"],
        status=facts(f"{where}.status", raw["status"]),
        formats=formats,
        io_dtypes=optional("io_dtypes"),
        dynamic_shapes=optional("dynamic_shapes"),
        opset=optional("opset"),
        ir_version=optional("ir_version"),
        backends={
            name: Backend(
                name,
                facts(f"{where}.backends.{name}.available", b["available"]),
                b.get("option", ""),
            )
            for name, b in raw.get("backends", {}).items()
        },
    )
    engine.min_base_library = optional("min_base_library")
    engine.outputs_by = optional("outputs_by")
    engine.quantized_forms = optional("quantized_forms")
    engine.speed_reference = optional("speed_reference")
    engine.reference_macs = raw.get("speed_reference", {}).get("macs", 0)
    engine.options = {
        name: facts(f"{where}.options.{name}", option)
        for name, option in raw.get("options", {}).items()
    }
    if "operator_table" in raw:
        _add_operators(facts, where, raw, engine)
    if spec is not None:
        engine.version = optional("version")
        engine.risks = tuple(
            facts(f"{where}.risks[{i}]", r) for i, r in enumerate(raw.get("risks", []))
        )
        engine.requires = tuple(
            facts(f"{where}.requires[{i}]", r)
            for i, r in enumerate(raw.get("requires", []))
        )
        _add_spec(engine, spec)
    return engine


def _add_spec(engine: Engine, spec: EngineSpec) -> None:
    """Give an engine the operator table and facts of its shared profile."""
    engine.spec = spec
    engine.io_dtypes = engine.io_dtypes or spec.facts.get("io_dtypes")
    engine.dynamic_shapes = engine.dynamic_shapes or spec.facts.get("dynamic_dims")
    engine.outputs_by = engine.outputs_by or spec.facts.get("outputs_by")
    if spec.backend:
        engine.backends.setdefault(
            spec.backend,
            Backend(
                spec.backend,
                Fact(
                    f"{spec.id}.backend",
                    True,
                    spec.table.confidence,
                    spec.table.source,
                    spec.table.url,
                ),
            ),
        )
    if not spec.table_known:
        return
    engine.table = spec.table
    engine.op_format = spec.namespace
    engine.op_domains = (spec.namespace,)
    engine.unlisted = spec.unlisted
    for name, op in spec.ops.items():
        engine.rows[name] = (spec.backend,) if op.kernel != "cpu" else ("cpu",)
        engine.op_map[name] = (OpMapping(row=name, fact=spec.table, since=op.since),)


def _add_operators(facts: _FactMaker, where: str, raw: dict, engine: Engine) -> None:
    table = raw["operator_table"]
    engine.table = facts(f"{where}.operator_table", table, value="table")
    engine.rows = {r: tuple(s["backends"]) for r, s in table["rows"].items()}
    engine.row_kinds = {
        r: tuple(s["kinds"]) for r, s in table["rows"].items() if "kinds" in s
    }
    operators = raw.get("operators")
    if not operators:
        return
    engine.op_format = operators["format"]
    engine.op_domains = tuple(operators["domains"])
    engine.unlisted = facts(f"{where}.operators.unlisted", operators["unlisted"])
    for op, entries in operators["map"].items():
        entries = entries if isinstance(entries, list) else [entries]
        engine.op_map[op] = tuple(
            _mapping(facts, f"{where}.operators.map.{op}", e, table) for e in entries
        )


def _mapping(facts: _FactMaker, path: str, raw: dict, table: dict) -> OpMapping:
    # An entry without its own confidence inherits the operator table's.
    sourced = {
        "value": raw["row"],
        "confidence": raw.get("confidence", table["confidence"]),
        "source": raw.get("source", table["source"]),
        "note": raw.get("note", ""),
    }
    return OpMapping(
        row=raw["row"],
        fact=facts(path, sourced),
        kind=raw.get("kind", ""),
        input_rank=raw.get("input_rank"),
        max_inputs=raw.get("max_inputs"),
        constant_inputs=tuple(raw.get("constant_inputs", ())),
    )
