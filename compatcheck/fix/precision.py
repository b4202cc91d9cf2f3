"""Precision-changing fixes, applied only when asked for (--unsafe-fixes).

Both change the model's numbers: verification compares against the
original with wider tolerances, and the report gives the size change.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile

import numpy as np
import onnx

from compatcheck.fix.passes import Change, Refused


def to_float16(model: onnx.ModelProto) -> tuple[onnx.ModelProto, Change]:
    """float32 weights and computation in float16; inputs and outputs stay float32.

    Uses onnxruntime's converter (``onnxruntime.transformers.float16``).
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        converted = convert_float_to_float16(model, keep_io_types=True)
    except Exception as exc:  # the converter raises assorted types
        raise Refused(
            f"the float16 converter failed ({type(exc).__name__}: {exc})"
        ) from None
    return converted, Change(
        "float16",
        (),
        "stored weights and computed in float16 (inputs and outputs stay float32)",
        safe=False,
    )


def to_int8_qdq(
    model: onnx.ModelProto, calibration: list[dict[str, np.ndarray]]
) -> tuple[onnx.ModelProto, Change]:
    """int8 QuantizeLinear/DequantizeLinear pairs, calibrated on ``calibration``.

    Uses onnxruntime's static quantizer in QDQ format, the form WeChat's
    ``allowQuantize`` runs; weights are int8 per tensor, activations int8.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(calibration)

        def get_next(self):
            return next(self.items, None)

    with (
        tempfile.TemporaryDirectory(prefix="compatcheck-") as folder,
        _quiet_logging(),
    ):
        source = os.path.join(folder, "float.onnx")
        target = os.path.join(folder, "int8.onnx")
        onnx.save(model, source)
        try:
            quantize_static(
                source,
                target,
                Reader(),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                per_channel=False,
            )
        except Exception as exc:  # the quantizer raises assorted types
            raise Refused(
                f"onnxruntime's quantizer failed ({type(exc).__name__}: {exc})"
            ) from None
        quantized = onnx.load(target)
    return quantized, Change(
        "int8-qdq",
        ("CC420",),
        f"quantized to int8 in QDQ form, calibrated on {len(calibration)} input(s)",
        safe=False,
    )


@contextlib.contextmanager
def _quiet_logging():
    """The quantizer logs advice on the root logger; the report says enough."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)
