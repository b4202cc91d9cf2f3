"""Read an ONNX file without holding its weights in memory.

``onnx.load`` parses every weight byte into the protobuf object, so a model
with 500 MB of embedded weights costs at least 500 MB of memory. Here the
file is memory-mapped and walked at the protobuf wire level; tensor payloads
above a threshold are left out of the copy that is handed to ``onnx`` for
parsing, and only their sizes are kept. Pages holding skipped payloads are
never touched, so they are never read from disk.

Only the message fields that can contain tensors are descended into (see
``_CHILDREN``); every other field is copied as it is.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field

# Tensors whose data is at most this many bytes keep their values, so that
# shape constants, axes and small lookup tables stay readable for rules.
KEEP_DATA_BYTES = 64 * 1024

# Subgraph nesting deeper than this is refused with a clear message. The
# protobuf parser stops at 100 nested messages, and each subgraph level costs
# three (graph, node, attribute), so about 32 levels is the most any ONNX
# tool can read; no real model comes near.
MAX_SUBGRAPH_DEPTH = 24

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5

# message kind -> {field number: child message kind}, from onnx.proto.
_CHILDREN: dict[str, dict[int, str]] = {
    "model": {7: "graph", 25: "function"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "node": {5: "attribute"},
    "attribute": {
        5: "tensor",
        6: "graph",
        10: "tensor",
        11: "graph",
        22: "sparse",
        23: "sparse",
    },
    "function": {7: "node"},
    "sparse": {1: "tensor", 2: "tensor"},
}
_MODEL_FIELDS = {1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25, 26}
_TENSOR_DATA_FIELDS = {4, 5, 6, 7, 9, 10, 11}
_TENSOR_NAME_FIELD = 8


class WireError(Exception):
    """The bytes are not a well-formed protobuf message."""


class TooDeepError(WireError):
    """Well-formed, but subgraphs nest deeper than anything is parsed."""


@dataclass
class StrippedModel:
    """Serialized ModelProto with large tensor payloads removed."""

    data: bytes
    stripped_bytes: dict[str, int] = field(default_factory=dict)


def looks_like_onnx(buf: bytes | mmap.mmap) -> bool:
    """True when the top level parses as a ModelProto that has a graph."""
    try:
        fields = [f.number for f in _fields(buf, 0, len(buf))]
    except WireError:
        return False
    return 7 in fields and all(f in _MODEL_FIELDS for f in fields)


def strip_model(buf: bytes | mmap.mmap, keep: int = KEEP_DATA_BYTES) -> StrippedModel:
    """Copy a serialized ModelProto, leaving out tensor payloads above ``keep``."""
    result = StrippedModel(b"")
    walker = _Walker(buf, keep, result.stripped_bytes)
    result.data = walker.message(0, len(buf), "model", 0)
    return result


class _Walker:
    def __init__(self, buf: bytes | mmap.mmap, keep: int, sizes: dict) -> None:
        self.buf = buf
        self.keep = keep
        self.sizes = sizes

    def message(self, start: int, end: int, kind: str, depth: int) -> bytes:
        if kind == "tensor":
            return self.tensor(start, end)
        if kind == "graph":
            depth += 1
            # The main graph is depth 1; subgraphs nest below it.
            if depth - 1 > MAX_SUBGRAPH_DEPTH:
                raise TooDeepError(
                    f"its subgraphs are nested more than {MAX_SUBGRAPH_DEPTH} levels "
                    "deep; protobuf's parser (and so the engines) stop near 32 "
                    "levels, so flatten the control flow at export"
                )
        children = _CHILDREN[kind]
        parts: list[bytes] = []
        copy_from = start
        for f in _fields(self.buf, start, end):
            child = children.get(f.number)
            if child is None or f.wire != _LEN:
                continue
            parts.append(self.buf[copy_from : f.tag_start])
            body = self.message(f.body_start, f.body_end, child, depth)
            parts.append(_encode_varint(f.number << 3 | _LEN))
            parts.append(_encode_varint(len(body)))
            parts.append(body)
            copy_from = f.body_end
        parts.append(self.buf[copy_from:end])
        return b"".join(parts)

    def tensor(self, start: int, end: int) -> bytes:
        fields = list(_fields(self.buf, start, end))
        payload = sum(
            f.body_end - f.body_start for f in fields if f.number in _TENSOR_DATA_FIELDS
        )
        if payload <= self.keep:
            return self.buf[start:end]
        parts: list[bytes] = []
        name = ""
        copy_from = start
        for f in fields:
            if f.number == _TENSOR_NAME_FIELD:
                raw = bytes(self.buf[f.body_start : f.body_end])
                name = raw.decode("utf-8", "replace")
            if f.number in _TENSOR_DATA_FIELDS:
                parts.append(self.buf[copy_from : f.tag_start])
                copy_from = f.body_end
        parts.append(self.buf[copy_from:end])
        self.sizes[name] = self.sizes.get(name, 0) + payload
        return b"".join(parts)


@dataclass(frozen=True)
class _Field:
    number: int
    wire: int
    tag_start: int
    body_start: int
    body_end: int


def _fields(buf, start: int, end: int):
    """Yield each field of the message in ``buf[start:end]``."""
    pos = start
    while pos < end:
        tag_start = pos
        tag, pos = _read_varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise WireError(f"field number 0 at byte {pos}")
        if wire == _VARINT:
            _, body_end = _read_varint(buf, pos, end)
            body_start = pos
        elif wire == _LEN:
            length, body_start = _read_varint(buf, pos, end)
            body_end = body_start + length
        elif wire == _FIXED64:
            body_start, body_end = pos, pos + 8
        elif wire == _FIXED32:
            body_start, body_end = pos, pos + 4
        else:
            raise WireError(f"unsupported wire type {wire} at byte {pos}")
        if body_end > end:
            raise WireError(f"a field at byte {pos} runs past the end of its message")
        yield _Field(number, wire, tag_start, body_start, body_end)
        pos = body_end


def _read_varint(buf, pos: int, end: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= end:
            raise WireError(f"a number at byte {pos} runs past the end of the data")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise WireError(f"a number at byte {pos} is longer than 10 bytes")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)
