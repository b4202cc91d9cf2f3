"""Element types under one naming scheme for ONNX and TFLite."""

from __future__ import annotations

import math

# Canonical dtype name -> bits per element.
BITS: dict[str, int] = {
    "bool": 8,
    "int4": 4,
    "uint4": 4,
    "int8": 8,
    "uint8": 8,
    "int16": 16,
    "uint16": 16,
    "int32": 32,
    "uint32": 32,
    "int64": 64,
    "uint64": 64,
    "float16": 16,
    "bfloat16": 16,
    "float32": 32,
    "float64": 64,
    "complex64": 64,
    "complex128": 128,
    "float8e4m3fn": 8,
    "float8e4m3fnuz": 8,
    "float8e5m2": 8,
    "float8e5m2fnuz": 8,
    "float8e8m0": 8,
    "float4e2m1": 4,
}

_ONNX_RENAMES = {"float": "float32", "double": "float64", "": "undefined"}


def onnx_dtype_name(onnx_name: str) -> str:
    """``TensorProto.DataType`` name (``FLOAT``) -> canonical name (``float32``)."""
    lowered = onnx_name.lower()
    return _ONNX_RENAMES.get(lowered, lowered)


def tflite_dtype_name(tflite_name: str) -> str:
    """TFLite ``TensorType`` name (``FLOAT32``) -> canonical name."""
    return tflite_name.lower()


def element_count(shape: tuple) -> int | None:
    """Number of elements of a fully known shape; None if any dim is unknown.

    Negative dimensions count as unknown. Python integers do not overflow,
    so absurd dimensions give a large number, never a wrong one.
    """
    count = 1
    for dim in shape:
        if not isinstance(dim, int) or dim < 0:
            return None
        count *= dim
    return count


def byte_size(dtype: str, shape: tuple) -> int | None:
    """Bytes needed to store a tensor, or None when it cannot be known."""
    count = element_count(shape)
    bits = BITS.get(dtype)
    if count is None or bits is None:
        return None
    return math.ceil(count * bits / 8)
