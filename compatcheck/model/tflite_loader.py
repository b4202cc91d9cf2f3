"""TFLite flatbuffer -> ModelGraph.

The flatbuffer is read in place from the memory-mapped file: buffers are
measured through their vector length and never copied.
"""

from __future__ import annotations

import struct

import numpy as np
import tflite

from compatcheck.errors import ModelFormatError
from compatcheck.model.dtypes import byte_size, tflite_dtype_name
from compatcheck.model.graph import (
    MAX_KEPT_VALUES,
    IOMeta,
    ModelGraph,
    OpNode,
    TensorInfo,
    Weight,
    build_graph,
    node_path,
)
from compatcheck.model.tflite_metadata import (
    METADATA_NAME,
    MetadataError,
    read_metadata,
)

_TYPE_NAMES = {
    value: tflite_dtype_name(name)
    for name, value in vars(tflite.TensorType).items()
    if not name.startswith("_")
}
_CUSTOM_CODE = 32
# Integer buffers up to this size are read for their values (shapes, axes,
# indices); larger ones are only measured.
_MAX_READ_BYTES = 65536
# A metadata buffer holds text and a few numbers; larger ones are refused.
_MAX_METADATA_BYTES = 16 * 1024 * 1024
_INT_NUMPY = {
    "int64": "<i8",
    "int32": "<i4",
    "int16": "<i2",
    "int8": "i1",
    "uint8": "u1",
    "uint16": "<u2",
    "uint32": "<u4",
    "uint64": "<u8",
}


class _Corrupt(Exception):
    """An index or offset in the flatbuffer points outside its table."""


def load_tflite(path: str, data, file_size: int) -> ModelGraph:
    """Build the graph model of a TFLite flatbuffer whose bytes are ``data``.

    The caller has checked the TFL3 file identifier.
    """
    try:
        return _Reader(path, data, file_size).read()
    except _Corrupt as exc:
        raise ModelFormatError(path, f"corrupt TFLite file: {exc}") from None
    except (
        IndexError,
        struct.error,
        ValueError,
        TypeError,
        OverflowError,
        UnicodeDecodeError,
    ) as exc:
        raise ModelFormatError(
            path,
            f"truncated or corrupt TFLite file ({type(exc).__name__}: {exc}); "
            "convert the model again",
        ) from None


class _Reader:
    def __init__(self, path: str, data, file_size: int) -> None:
        self.path = path
        self.data = data
        self.file_size = file_size
        root = struct.unpack_from("<I", data, 0)[0]
        if root + 4 > len(data):
            raise _Corrupt(f"root table offset {root} is beyond the file end")
        self.model = tflite.Model.GetRootAs(data, 0)
        self.ops: list[OpNode] = []
        self.tensors: dict[str, TensorInfo] = {}
        self.weights: list[Weight] = []
        self.constants: set[str] = set()
        self.int_values: dict[str, tuple[int, ...]] = {}
        self.opcodes = [
            self._opcode(i) for i in range(self.model.OperatorCodesLength())
        ]

    def read(self) -> ModelGraph:
        model = self.model
        if model.SubgraphsLength() == 0:
            raise _Corrupt("the model has no subgraph")
        names = [self._read_subgraph(i) for i in range(model.SubgraphsLength())]
        main = model.Subgraphs(0)
        inputs = [self.tensors[names[0][i]] for i in _ints(main.InputsAsNumpy())]
        outputs = [self.tensors[names[0][i]] for i in _ints(main.OutputsAsNumpy())]
        metadata, io_meta, notes = self._metadata(inputs, outputs)
        return ModelGraph(
            path=self.path,
            format="tflite",
            file_size=self.file_size,
            graph=build_graph(self.ops),
            ops={op.node_id: op for op in self.ops},
            tensors=self.tensors,
            inputs=inputs,
            outputs=outputs,
            weights=self.weights,
            constants=self.constants,
            int_values=self.int_values,
            schema_version=model.Version(),
            producer=_text(model.Description()),
            notes=notes,
            metadata=metadata,
            io_meta=io_meta,
        )

    def _metadata(self, inputs: list[TensorInfo], outputs: list[TensorInfo]):
        """Metadata entry names, and the TFLite metadata's text and processing.

        A metadata buffer that cannot be parsed is noted, not fatal: the
        graph itself is still sound.
        """
        entries: dict[str, str] = {}
        io_meta: dict[str, IOMeta] = {}
        notes: list[str] = []
        for i in range(self.model.MetadataLength()):
            entry = self.model.Metadata(i)
            name = _text(entry.Name()) or f"metadata {i}"
            entries[name] = ""
            if name != METADATA_NAME:
                continue
            try:
                parsed = read_metadata(self._buffer_bytes(entry.Buffer()))
            except MetadataError as exc:
                notes.append(f"{METADATA_NAME} could not be read: {exc}")
                continue
            entries.update({f"metadata {k}": v for k, v in parsed.info.items()})
            for tensors, metas in ((inputs, parsed.inputs), (outputs, parsed.outputs)):
                for tensor, meta in zip(tensors, metas, strict=False):
                    io_meta[tensor.name] = meta
        return entries, io_meta, notes

    def _buffer_bytes(self, index: int) -> bytes:
        size = self._buffer_size(index)
        if size > _MAX_METADATA_BYTES:
            raise MetadataError(f"{size} bytes is more than metadata can hold")
        buffer = self.model.Buffers(index)
        if buffer.Offset() > 1:
            return bytes(self.data[buffer.Offset() : buffer.Offset() + size])
        return buffer.DataAsNumpy().tobytes() if size else b""

    def _opcode(self, index: int) -> tuple[str, str, int]:
        code = self.model.OperatorCodes(index)
        builtin = max(code.DeprecatedBuiltinCode(), code.BuiltinCode())
        version = code.Version()
        if builtin == _CUSTOM_CODE:
            name = _text(code.CustomCode()) or "(unnamed custom op)"
            domain = "flex" if name.startswith("Flex") else "custom"
            return name, domain, version
        name = tflite.BUILTIN_OPCODE2NAME.get(builtin, f"BUILTIN_{builtin}")
        return name, "tflite", version

    def _read_subgraph(self, index: int) -> list[str]:
        sub = self.model.Subgraphs(index)
        scope: tuple[str, ...] = ()
        if index:
            scope = (
                f"subgraph {index}" + (f" ({_text(sub.Name())})" if sub.Name() else ""),
            )
        names = [self._read_tensor(sub, t, index) for t in range(sub.TensorsLength())]
        for j in range(sub.OperatorsLength()):
            self.ops.append(self._read_op(sub.Operators(j), j, scope, names))
        return names

    def _read_tensor(self, sub, index: int, sub_index: int) -> str:
        tensor = sub.Tensors(index)
        name = _text(tensor.Name()) or f"tensor_{index}"
        key = name if sub_index == 0 else f"subgraph {sub_index}:{name}"
        dtype = _TYPE_NAMES.get(tensor.Type(), f"type_{tensor.Type()}")
        shape = tuple(_ints(tensor.ShapeAsNumpy()))
        signature = tuple(_ints(tensor.ShapeSignatureAsNumpy())) or None
        if any(d < 0 for d in shape):
            raise _Corrupt(f"tensor {name!r} has a negative dimension {list(shape)}")
        size = self._buffer_size(tensor.Buffer())
        expected = byte_size(dtype, shape)
        if size and expected is not None and tensor.Sparsity() is None:
            if expected != size:
                raise _Corrupt(
                    f"constant {name!r} declares shape {list(shape)} of {dtype} "
                    f"({expected} bytes) but its buffer holds {size} bytes"
                )
        info = TensorInfo(
            key, dtype, shape, quantization=_quantization(tensor), signature=signature
        )
        self.tensors.setdefault(key, info)
        if size:
            int_range = None
            if dtype in _INT_NUMPY and size <= _MAX_READ_BYTES:
                int_range = self._read_ints(key, dtype, tensor.Buffer())
            self.weights.append(Weight(key, dtype, shape, size, int_range))
            self.constants.add(key)
        return key

    def _read_ints(self, key: str, dtype: str, index: int):
        buffer = self.model.Buffers(index)
        if buffer.Offset() > 1:
            start = buffer.Offset()
            raw = bytes(self.data[start : start + buffer.Size()])
        else:
            raw = buffer.DataAsNumpy().tobytes()
        numpy_type = np.dtype(_INT_NUMPY[dtype])
        if not raw or len(raw) % numpy_type.itemsize:
            return None
        values = np.frombuffer(raw, dtype=numpy_type)
        if values.size <= MAX_KEPT_VALUES:
            self.int_values[key] = tuple(int(v) for v in values)
        return int(values.min()), int(values.max())

    def _buffer_size(self, index: int) -> int:
        if index == 0:
            return 0
        if index >= self.model.BuffersLength():
            raise _Corrupt(
                f"a tensor refers to buffer {index} of {self.model.BuffersLength()}"
            )
        buffer = self.model.Buffers(index)
        size = buffer.Size() if buffer.Offset() > 1 else buffer.DataLength()
        if buffer.Offset() > 1 and buffer.Offset() + size > self.file_size:
            raise _Corrupt(f"buffer {index} ends beyond the file")
        return int(size)

    def _read_op(
        self, op, index: int, scope: tuple[str, ...], names: list[str]
    ) -> OpNode:
        opcode_index = op.OpcodeIndex()
        if opcode_index >= len(self.opcodes):
            raise _Corrupt(
                f"operator {index} uses op code {opcode_index} of {len(self.opcodes)}"
            )
        op_type, domain, version = self.opcodes[opcode_index]
        inputs = [self._tensor_name(names, i, index) for i in _ints(op.InputsAsNumpy())]
        outputs = [
            self._tensor_name(names, i, index) for i in _ints(op.OutputsAsNumpy())
        ]
        name = outputs[0] if outputs and outputs[0] else f"{op_type}_{index}"
        return OpNode(
            node_id=node_path(scope, f"{name} (op {index})"),
            name=name,
            op_type=op_type,
            domain=domain,
            inputs=inputs,
            outputs=outputs,
            scope=scope,
            version=version,
        )

    @staticmethod
    def _tensor_name(names: list[str], tensor: int, op_index: int) -> str:
        if tensor == -1:
            return ""
        if not 0 <= tensor < len(names):
            raise _Corrupt(
                f"operator {op_index} refers to tensor {tensor} of {len(names)}"
            )
        return names[tensor]


def _quantization(tensor) -> dict | None:
    quant = tensor.Quantization()
    if quant is None or quant.ScaleLength() == 0:
        return None
    return {
        "scale": [float(s) for s in quant.ScaleAsNumpy()[:4]],
        "zero_point": [int(z) for z in quant.ZeroPointAsNumpy()[:4]],
        "channels": quant.ScaleLength(),
        "axis": quant.QuantizedDimension(),
    }


def _ints(values) -> list[int]:
    """Flatbuffers returns 0 (not an empty array) for a missing vector."""
    if isinstance(values, int):
        return []
    return [int(v) for v in values]


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw else ""
