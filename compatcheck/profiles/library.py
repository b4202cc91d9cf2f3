"""Shared engine profiles and conversion tools.

Engines used on several hosts (TensorFlow.js, Paddle.js, ByteNN) live in
``platform_profiles/engines/``; conversion tools (onnx2tf, X2Paddle,
tf2onnx ...) in ``platform_profiles/converters/``. Platform profiles name
engines by id; routes chain converters until an engine loads the result.
"""

from __future__ import annotations

from functools import cache

from compatcheck.errors import ProfileError
from compatcheck.profiles.model import (
    Conversion,
    Converter,
    EngineSpec,
    Fact,
    OpSpec,
)
from compatcheck.profiles.validate import validate_document


def _documents(folder: str, kind: str) -> list[tuple[str, dict]]:
    # Imported here: the profiles package imports this module.
    from compatcheck.profiles import _read_yaml, profile_dir

    found = []
    for path in sorted((profile_dir() / folder).glob("*.yaml")):
        data = _read_yaml(str(path))
        validate_document(str(path), data, kind)
        found.append((str(path), data))
    return found


@cache
def engine_specs() -> dict[str, EngineSpec]:
    """Every shipped engine profile by id."""
    specs: dict[str, EngineSpec] = {}
    for path, data in _documents("engines", "engine_profile"):
        _unique(path, "engine", data["engine"], specs)
        specs[data["engine"]] = _build_engine(path, data)
    for spec in specs.values():
        if spec.checked_as and spec.checked_as not in specs:
            raise ProfileError(
                spec.path,
                f"operators.checked_as: {spec.checked_as!r} is not an engine "
                f"profile; use one of: {', '.join(sorted(specs))}",
            )
    return specs


@cache
def converters() -> dict[str, Converter]:
    """Every shipped conversion tool by id."""
    specs = engine_specs()
    found: dict[str, Converter] = {}
    for path, data in _documents("converters", "converter_profile"):
        _unique(path, "converter", data["converter"], found)
        accepts = data.get("accepts_ops_of", "")
        if accepts and accepts not in specs:
            raise ProfileError(
                path,
                f"accepts_ops_of: {accepts!r} is not an engine profile; use one "
                f"of: {', '.join(sorted(specs))}",
            )
        found[data["converter"]] = _build_converter(path, data)
    return found


def _unique(path: str, key: str, value: str, seen: dict) -> None:
    if value in seen:
        raise ProfileError(path, f"{key}: {value!r} is already defined elsewhere")


def _fact(sources: dict, where: str, raw: dict, value=None) -> Fact:
    return Fact(
        path=where,
        value=raw["value"] if value is None else value,
        confidence=raw["confidence"],
        source=raw["source"],
        url=sources[raw["source"]]["url"],
        note=raw.get("note", ""),
    )


def _build_engine(path: str, data: dict) -> EngineSpec:
    sources = data["sources"]
    name = data["engine"]
    operators = data["operators"]
    table_value = operators.get("value", "table")
    return EngineSpec(
        id=name,
        title=data["title"],
        path=path,
        format=data["format"],
        namespace=data["op_namespace"],
        backend=data.get("backend", ""),
        sources=sources,
        facts={
            key: _fact(sources, f"{name}.facts.{key}", raw)
            for key, raw in data["facts"].items()
        },
        table=_fact(sources, f"{name}.operators", operators, table_value),
        unlisted=_fact(sources, f"{name}.operators.unlisted", operators["unlisted"]),
        ops={
            op: OpSpec(
                name=op,
                since=spec.get("since", ""),
                kernel=spec.get("kernel", "gpu"),
                is_async=spec.get("async", False),
                max_rank=spec.get("max_rank"),
                note=spec.get("note", ""),
            )
            for op, spec in operators.get("ops", {}).items()
        },
        checked_as=operators.get("checked_as", ""),
    )


def _build_converter(path: str, data: dict) -> Converter:
    sources = data["sources"]
    name = data["converter"]
    operators = data["operators"]
    table = _fact(sources, f"{name}.operators", operators, "table")
    mapping = {}
    for op, raw in operators["map"].items():
        entries = (
            raw if isinstance(raw, list) and raw and isinstance(raw[0], dict) else [raw]
        )
        mapping[op] = tuple(
            _conversion(sources, f"{name}.operators.map.{op}", entry, operators)
            for entry in entries
        )
    other = operators.get("other_paths")
    return Converter(
        id=name,
        title=data["title"],
        path=path,
        from_format=data["from"],
        to_format=data["to"],
        reads=data["reads"]["namespace"],
        domains=tuple(data["reads"]["domains"]),
        writes=data["writes"],
        command=_fact(sources, f"{name}.command", data["command"]),
        sources=sources,
        table=table,
        unlisted=_fact(sources, f"{name}.operators.unlisted", operators["unlisted"]),
        map=mapping,
        opset=_fact(sources, f"{name}.opset", data["opset"])
        if "opset" in data
        else None,
        accepts_ops_of=data.get("accepts_ops_of", ""),
        other_paths=_fact(sources, f"{name}.operators.other_paths", other)
        if other
        else None,
        unlisted_by_domain={
            domain: _fact(sources, f"{name}.operators.unlisted_by_domain.{domain}", raw)
            for domain, raw in operators.get("unlisted_by_domain", {}).items()
        },
        quantized_tensor_ops=tuple(data.get("quantized_tensor_ops", ())),
    )


def _conversion(sources: dict, where: str, raw, table: dict) -> Conversion:
    if isinstance(raw, list):  # the short form: just the produced operators
        raw = {"ops": raw}
    sourced = {
        "value": raw.get("refused") or raw.get("unknown") or "converted",
        "confidence": raw.get("confidence", table["confidence"]),
        "source": raw.get("source", table["source"]),
        "note": raw.get("note", ""),
    }
    rank = raw.get("input_rank")
    return Conversion(
        fact=_fact(sources, where, sourced),
        ops=tuple(raw.get("ops", ())),
        refused=raw.get("refused", ""),
        unknown=raw.get("unknown", ""),
        input_rank=(rank,) if isinstance(rank, int) else tuple(rank or ()),
        output_rank=raw.get("output_rank"),
        attributes=tuple(
            (k, tuple(v)) for k, v in sorted(raw.get("attributes", {}).items())
        ),
        int_inputs=tuple(
            (int(k), tuple(v)) for k, v in sorted(raw.get("int_inputs", {}).items())
        ),
        constant_inputs=tuple(raw.get("constant_inputs", ())),
        scalar_inputs=tuple(raw.get("scalar_inputs", ())),
        input_dtypes=tuple(raw.get("input_dtypes", ())),
        creates_rank=raw.get("creates_rank"),
        min_version=raw.get("min_version"),
    )
