"""Read the TFLITE_METADATA buffer of a TFLite model.

The buffer is a flatbuffer of its own, described by ``metadata_schema.fbs``
in tensorflow/tflite-support. That package cannot share an environment with
current onnx (it pins protobuf below 4), so the few tables compatcheck needs
are read here by field number with the flatbuffers runtime. Field numbers
follow schema version 1.x (file identifier ``M001``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from flatbuffers import number_types as N
from flatbuffers.table import Table

from compatcheck.model.graph import IOMeta

METADATA_NAME = "TFLITE_METADATA"

# Field numbers of the tables read below.
_MODEL = {"name": 0, "description": 1, "version": 2, "subgraphs": 3, "author": 4}
_SUBGRAPH = {"inputs": 2, "outputs": 3}
_TENSOR = {"name": 0, "description": 1, "content": 3, "process_units": 4, "stats": 5}
_CONTENT = {"type": 0, "properties": 1}
_IMAGE = {"color_space": 0, "default_size": 1}
_UNIT = {"type": 0, "options": 1}
# ContentProperties and ProcessUnitOptions union members.
_IMAGE_PROPERTIES = 2
_NORMALIZATION = 1
_COLOR_SPACES = {0: "", 1: "RGB", 2: "GRAYSCALE"}


class MetadataError(Exception):
    """The metadata buffer is not a readable metadata flatbuffer."""


@dataclass
class TFLiteMetadata:
    """Model-level text and per-tensor processing, by input/output position."""

    info: dict[str, str] = field(default_factory=dict)
    inputs: list[IOMeta] = field(default_factory=list)
    outputs: list[IOMeta] = field(default_factory=list)


def read_metadata(buffer: bytes) -> TFLiteMetadata:
    """Parse a TFLITE_METADATA buffer; raise MetadataError when it is corrupt."""
    if len(buffer) < 8:
        raise MetadataError(f"{len(buffer)} bytes is too short")
    try:
        root = struct.unpack_from("<I", buffer, 0)[0]
        if root + 4 > len(buffer):
            raise MetadataError(f"root offset {root} is beyond the buffer")
        model = Table(buffer, root)
        found = TFLiteMetadata()
        for key in ("name", "description", "version", "author"):
            text = _string(model, _MODEL[key])
            if text:
                found.info[key] = text
        subgraphs = _tables(model, _MODEL["subgraphs"])
        if subgraphs:
            found.inputs = [
                _tensor(t) for t in _tables(subgraphs[0], _SUBGRAPH["inputs"])
            ]
            found.outputs = [
                _tensor(t) for t in _tables(subgraphs[0], _SUBGRAPH["outputs"])
            ]
        return found
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        raise MetadataError(str(exc) or type(exc).__name__) from None


def _tensor(table: Table) -> IOMeta:
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    for unit in _tables(table, _TENSOR["process_units"]):
        options = _union(unit, _UNIT["type"], _UNIT["options"], _NORMALIZATION)
        if options is not None:
            mean, std = _floats(options, 0), _floats(options, 1)
    stats = _table(table, _TENSOR["stats"])
    color, size = "", None
    content = _table(table, _TENSOR["content"])
    if content is not None:
        image = _union(
            content, _CONTENT["type"], _CONTENT["properties"], _IMAGE_PROPERTIES
        )
        if image is not None:
            color = _COLOR_SPACES.get(_byte(image, _IMAGE["color_space"]), "")
            size = _image_size(image)
    return IOMeta(
        name=_string(table, _TENSOR["name"]),
        description=_string(table, _TENSOR["description"]),
        mean=mean,
        std=std,
        value_max=_floats(stats, 0) if stats is not None else (),
        value_min=_floats(stats, 1) if stats is not None else (),
        color_space=color,
        default_size=size,
        source="TFLite metadata",
    )


def _slot(table: Table, number: int) -> int:
    return table.Offset(4 + 2 * number)


def _string(table: Table, number: int) -> str:
    offset = _slot(table, number)
    if not offset:
        return ""
    return table.String(offset + table.Pos).decode("utf-8", "replace")


def _byte(table: Table, number: int) -> int:
    offset = _slot(table, number)
    return table.Get(N.Uint8Flags, offset + table.Pos) if offset else 0


def _table(table: Table, number: int) -> Table | None:
    offset = _slot(table, number)
    if not offset:
        return None
    return Table(table.Bytes, table.Indirect(offset + table.Pos))


def _tables(table: Table, number: int) -> list[Table]:
    offset = _slot(table, number)
    if not offset:
        return []
    start, count = table.Vector(offset), table.VectorLen(offset)
    _check_span(table, start, count * 4)
    return [Table(table.Bytes, table.Indirect(start + 4 * i)) for i in range(count)]


def _floats(table: Table, number: int) -> tuple[float, ...]:
    offset = _slot(table, number)
    if not offset:
        return ()
    start, count = table.Vector(offset), table.VectorLen(offset)
    _check_span(table, start, count * 4)
    values = struct.unpack_from(f"<{count}f", table.Bytes, start)
    return tuple(round(v, 6) for v in values)


def _union(table: Table, type_number: int, value_number: int, wanted: int):
    """The union member table when the union holds member ``wanted``."""
    if _byte(table, type_number) != wanted:
        return None
    offset = _slot(table, value_number)
    if not offset:
        return None
    member = Table(bytearray(), 0)
    table.Union(member, offset)
    return member


def _image_size(image: Table) -> tuple[int, int] | None:
    size = _table(image, _IMAGE["default_size"])
    if size is None:
        return None
    width = _uint(size, 0)
    height = _uint(size, 1)
    return (width, height) if width and height else None


def _uint(table: Table, number: int) -> int:
    offset = _slot(table, number)
    return table.Get(N.Uint32Flags, offset + table.Pos) if offset else 0


def _check_span(table: Table, start: int, length: int) -> None:
    if start + length > len(table.Bytes):
        raise MetadataError(f"a vector at {start} runs past the buffer end")
