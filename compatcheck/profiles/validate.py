"""Profile validation: the JSON schema, then references between sections.

Every problem is reported with the profile file and the key path where it
sits, for example ``engines[0].opset.value: expected an integer``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

from compatcheck.errors import ProfileError

_SCHEMA_PATH = Path(__file__).with_name("schema.yaml")


@lru_cache(maxsize=1)
def profile_schema() -> dict:
    """The profile JSON schema (it also documents every key)."""
    return yaml.safe_load(_SCHEMA_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=4)
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = profile_schema()
    if kind != "platform":
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{kind}"}
    return jsonschema.Draft202012Validator(schema)


def validate_profile(path: str, data: dict) -> None:
    """Raise ProfileError naming the first problem found, by key path."""
    validate_document(path, data, "platform")
    seen: dict[str, int] = {}
    for index, engine in enumerate(data["engines"]):
        if engine["id"] in seen:
            raise ProfileError(
                path,
                f"engines[{index}].id: {engine['id']!r} is already the id of "
                f"engines[{seen[engine['id']]}]; engine ids must be unique",
            )
        seen[engine["id"]] = index
        _check_engine(path, f"engines[{index}]", engine)


def validate_document(path: str, data: dict, kind: str) -> None:
    """Validate a platform, engine_profile or converter_profile document."""
    errors = sorted(_validator(kind).iter_errors(data), key=_error_order)
    if errors:
        error = errors[0]
        raise ProfileError(path, f"{_key_path(error.absolute_path)}: {_explain(error)}")
    _check_sources(path, data)


def _error_order(error: jsonschema.ValidationError) -> tuple:
    return (len(error.absolute_path), [str(p) for p in error.absolute_path])


def _key_path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "(top level)"


def _explain(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        hint = f"; expected one of: {', '.join(allowed)}" if allowed else ""
        return f"unknown key {', '.join(map(repr, extra))}{hint}"
    if error.validator == "required":
        return error.message.replace("is a required property", "is missing")
    if error.validator == "oneOf":
        options = " or ".join(_describe(s) for s in error.validator_value)
        return f"got {error.instance!r}; expected {options}"
    if error.validator == "enum":
        return f"got {error.instance!r}; expected one of {error.validator_value}"
    return error.message


def _describe(schema: dict) -> str:
    if "const" in schema:
        return repr(schema["const"])
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1].replace("_", " ")
    kind = schema.get("type", "value")
    if kind == "integer" and "minimum" in schema:
        return f"an integer >= {schema['minimum']}"
    return {
        "integer": "an integer",
        "array": "a list",
        "object": "a mapping",
        "string": "a string",
        "boolean": "true or false",
    }.get(kind, kind)


def _check_sources(path: str, data: dict) -> None:
    sources = set(data["sources"])
    for key_path, source in _source_refs(data, ""):
        if source not in sources:
            raise ProfileError(
                path,
                f"{key_path}.source: {source!r} is not in the sources table; "
                f"add it under 'sources' or use one of: {', '.join(sorted(sources))}",
            )


def _source_refs(node, key_path: str):
    if isinstance(node, dict):
        if isinstance(node.get("source"), str) and "confidence" in node:
            yield key_path, node["source"]
        for key, value in node.items():
            if key != "sources":
                yield from _source_refs(value, f"{key_path}.{key}".lstrip("."))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _source_refs(value, f"{key_path}[{index}]")


def _check_engine(path: str, where: str, engine: dict) -> None:
    if ("formats" in engine) == ("engine" in engine):
        raise ProfileError(
            path,
            f"{where}: give either 'formats' or 'engine' (a shared engine, which "
            "brings its own format), not both or neither",
        )
    for key in ("opset", "ir_version"):
        value = engine.get(key, {}).get("value")
        if isinstance(value, dict) and value["min"] > value["max"]:
            raise ProfileError(
                path,
                f"{where}.{key}.value: min {value['min']} is above max {value['max']}",
            )
    backends = set(engine.get("backends", {}))
    rows = engine.get("operator_table", {}).get("rows", {})
    for row, spec in rows.items():
        for backend in spec["backends"]:
            if backend not in backends:
                raise ProfileError(
                    path,
                    f"{where}.operator_table.rows.{row}: backend {backend!r} is not "
                    f"declared under {where}.backends",
                )
    mapping = engine.get("operators", {}).get("map", {})
    for op, entries in mapping.items():
        for entry in entries if isinstance(entries, list) else [entries]:
            if entry["row"] != "unknown" and entry["row"] not in rows:
                raise ProfileError(
                    path,
                    f"{where}.operators.map.{op}: row {entry['row']!r} is not in "
                    f"{where}.operator_table.rows",
                )
