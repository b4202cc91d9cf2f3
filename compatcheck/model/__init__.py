"""Loading models: recognise the format from the content, then parse it.

``load_model`` is the only entry point the rest of compatcheck uses. It never
writes anything and opens nothing but the model file itself (external data
files are measured with ``stat``, not opened).
"""

from __future__ import annotations

import mmap
import os
import zipfile

from compatcheck.errors import ModelFormatError
from compatcheck.model.graph import ModelGraph, OpNode, TensorInfo, Weight

__all__ = ["ModelGraph", "OpNode", "TensorInfo", "Weight", "load_model", "sniff"]

# Larger than any model a mini program could download (the largest documented
# single-download limit is 200 MB), with a wide margin; bigger files are
# refused before any byte is read.
MAX_MODEL_BYTES = 4 * 1024**3

TO_ONNX_FROM_PYTORCH = (
    "export it to ONNX first: torch.onnx.export(model, example_input, "
    "'model.onnx', opset_version=13)"
)
TO_TFLITE_FROM_TF = (
    "convert it first, to TFLite with "
    "tf.lite.TFLiteConverter.from_saved_model(DIR).convert() or to ONNX with "
    "'python -m tf2onnx.convert --saved-model DIR --output model.onnx'"
)
TO_TFLITE_FROM_KERAS = (
    "convert it first, to TFLite with "
    "tf.lite.TFLiteConverter.from_keras_model(model).convert()"
)
_NOT_A_MODEL = "is not a model compatcheck can read; give an ONNX or a TFLite file"
_JSON = (
    "is a JSON file (a TensorFlow.js or Paddle.js model.json?); compatcheck "
    "reads the ONNX or TFLite model it was converted from"
)


def load_model(path: str) -> ModelGraph:
    """Parse the model at ``path``; raise ``ModelFormatError`` for anything else."""
    if os.path.isdir(path):
        raise ModelFormatError(path, _describe_folder(path))
    if not os.path.exists(path):
        raise ModelFormatError(path, "file not found")
    if not os.path.isfile(path):
        raise ModelFormatError(path, "is not a regular file")
    size = os.path.getsize(path)
    if size == 0:
        raise ModelFormatError(
            path, "is empty (0 bytes); the download or export failed"
        )
    if size > MAX_MODEL_BYTES:
        raise ModelFormatError(
            path,
            f"is {size} bytes, larger than any model compatcheck accepts "
            f"({MAX_MODEL_BYTES} bytes)",
        )
    try:
        with (
            open(path, "rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data,
        ):
            return _load_bytes(path, data, size)
    except OSError as exc:
        raise ModelFormatError(path, f"cannot be read ({exc.strerror})") from None


def _load_bytes(path: str, data, size: int) -> ModelGraph:
    kind = sniff(path, data)
    if kind == "tflite":
        from compatcheck.model.tflite_loader import load_tflite

        return load_tflite(path, data, size)
    if kind == "onnx":
        from compatcheck.model.onnx_loader import load_onnx

        return load_onnx(path, data, size)
    raise ModelFormatError(path, kind)


def looks_like_model(path: str) -> bool:
    """True when a regular file's content is a TFLite or ONNX model.

    Only top-level fields are read, so this is cheap on large files; FIFOs
    and devices are never opened (reading one could block forever).
    """
    from compatcheck.model.onnx_wire import looks_like_onnx

    try:
        if not os.path.isfile(path) or os.path.getsize(path) < 8:
            return False
        with (
            open(path, "rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data,
        ):
            return data[4:8] == b"TFL3" or looks_like_onnx(data)
    except (OSError, ValueError):
        return False


def sniff(path: str, data) -> str:
    """Return ``"onnx"``, ``"tflite"``, or a sentence saying what the file is."""
    head = bytes(data[:16])
    if head[4:8] == b"TFL3":
        return "tflite"
    if head.startswith(b"PK\x03\x04"):
        return _describe_zip(path)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "is a Keras HDF5 model; " + TO_TFLITE_FROM_KERAS
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "is a pickled PyTorch checkpoint; " + TO_ONNX_FROM_PYTORCH
    if head.lstrip()[:1] in (b"{", b"["):
        return _JSON

    from compatcheck.model.onnx_wire import looks_like_onnx

    extension = os.path.splitext(path)[1].lower()
    if looks_like_onnx(data) or extension == ".onnx":
        return "onnx"
    return _describe_by_extension(extension)


def _describe_by_extension(extension: str) -> str:
    if extension in (".pt", ".pth", ".ckpt"):
        return "looks like a PyTorch checkpoint; " + TO_ONNX_FROM_PYTORCH
    if extension == ".bin":
        return (
            "is a .bin file, not an ONNX or TFLite model (PyTorch weights, "
            "TensorFlow.js weight shards and OpenVINO weights use this name); "
            "give the model file"
        )
    if extension == ".pb":
        return "is a TensorFlow GraphDef or SavedModel protobuf; " + TO_TFLITE_FROM_TF
    if extension == ".tflite":
        return "is not a valid TFLite file (the TFL3 identifier is missing)"
    if extension in (".pdmodel", ".pdiparams"):
        return (
            "is a Paddle model; compatcheck reads ONNX: convert it with "
            "paddle2onnx first"
        )
    return _NOT_A_MODEL


def _describe_zip(path: str) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return "is a damaged zip archive, not a model compatcheck can read"
    if any(n.endswith("data.pkl") for n in names):
        return "is a PyTorch checkpoint (zip); " + TO_ONNX_FROM_PYTORCH
    if any(n.endswith("saved_model.pb") for n in names):
        return "is a zipped TensorFlow SavedModel; unzip it and " + TO_TFLITE_FROM_TF
    if "config.json" in names and any(n.endswith(".h5") for n in names):
        return "is a Keras model archive; " + TO_TFLITE_FROM_KERAS
    return "is a zip archive, not a model compatcheck can read"


def _describe_folder(path: str) -> str:
    entries = set(os.listdir(path))
    if "saved_model.pb" in entries:
        return "is a TensorFlow SavedModel folder; " + TO_TFLITE_FROM_TF
    if "model.json" in entries:
        return (
            "is a TensorFlow.js or Paddle.js model folder; compatcheck reads the "
            "ONNX or TFLite model it was converted from"
        )
    return "is a folder; give the model file itself"
