"""Run the original and the fixed model with onnxruntime and compare outputs."""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

import numpy as np

# Largest difference allowed, relative to the largest magnitude of the
# original output: plain rewrites only reorder float arithmetic; float16
# keeps about three significant digits; int8 keeps about two.
TOLERANCES = {"safe": 1e-4, "float16": 1e-2, "int8": 1e-1}


class CannotVerify(Exception):
    """A model could not be run, or the inputs do not fit it.

    ``fixed_model`` is true when the original ran and the fixed one did not.
    """

    def __init__(self, message: str, fixed_model: bool = False):
        super().__init__(message)
        self.fixed_model = fixed_model


@dataclass
class OutputDiff:
    name: str
    max_abs: float
    max_rel: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.max_rel)) and self.max_rel <= self.tolerance

    def to_dict(self) -> dict:
        # JSON has no infinity: a NaN or infinity on one side only is null.
        return {
            "output": self.name,
            "max_abs_diff": self.max_abs if np.isfinite(self.max_abs) else None,
            "max_rel_diff": self.max_rel if np.isfinite(self.max_rel) else None,
            "tolerance": self.tolerance,
            "ok": self.ok,
        }


def random_inputs(
    contract_inputs, seed: int, count: int = 1
) -> list[dict[str, np.ndarray]]:
    """Seeded inputs of each input's feed shape and type.

    Floats are standard normal; integers are small (0 to 9) so that they
    are valid indices and lengths in most models; booleans are random.
    """
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        feeds = {}
        for tensor in contract_inputs:
            if tensor.feed_shape is None:
                raise CannotVerify(
                    f"the shape of input {tensor.name!r} is unknown; give "
                    "--input-shape or an --inputs file"
                )
            count = math.prod(tensor.feed_shape)
            if count > MAX_RANDOM_ELEMENTS:
                raise CannotVerify(
                    f"input {tensor.name!r} has {count:,} elements, more than "
                    f"{MAX_RANDOM_ELEMENTS:,} to make at random; give "
                    "--input-shape with a smaller size or an --inputs file"
                )
            feeds[tensor.name] = _values(rng, tensor.dtype, tensor.feed_shape)
        batches.append(feeds)
    return batches


def _values(rng, dtype: str, shape: list[int]) -> np.ndarray:
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(np.bool_)
    try:
        numpy_type = np.dtype(dtype)
    except TypeError:  # string, float8, int4 ...: numpy has no such type
        numpy_type = np.dtype(object)
    if numpy_type.kind == "f":
        return rng.standard_normal(shape).astype(numpy_type)
    if numpy_type.kind in "iu":
        return rng.integers(0, 10, shape).astype(numpy_type)
    raise CannotVerify(f"cannot make random {dtype} inputs; give an --inputs file")


def load_inputs(path: str) -> dict[str, np.ndarray]:
    """Arrays by input name from an .npz file (no pickled objects)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise CannotVerify(f"{path}: not a readable .npz file ({exc})") from None


# Random inputs stay below this many elements each (1 GiB of float32).
MAX_RANDOM_ELEMENTS = 2**28

# The largest finite float16 value; anything larger becomes infinity.
FLOAT16_MAX = 65504.0


@dataclass
class RangeProblem:
    """A float32 tensor of the original whose values float16 cannot hold."""

    tensor: str
    largest: float

    def to_dict(self) -> dict:
        return {"tensor": self.tensor, "largest": self.largest}


def float16_overflows(path: str, feeds: dict[str, np.ndarray]) -> list[RangeProblem]:
    """Tensors of the main graph that reach beyond float16's range on ``feeds``.

    onnxruntime on a CPU may compute float16 operators in float32 (where
    it has no float16 kernel), so comparing outputs there can miss an overflow
    that float16 arithmetic on a phone would meet. Running the original
    with every float tensor of the main graph as an output shows it.
    """
    import onnx

    model = onnx.load(path)
    typed = onnx.shape_inference.infer_shapes(model).graph.value_info
    float32 = onnx.TensorProto.FLOAT
    floats = {v.name: v for v in typed if v.type.tensor_type.elem_type == float32}
    shown = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for name in node.output:
            if name in floats and name not in shown:
                model.graph.output.append(floats[name])
                shown.add(name)
    values = _run(model.SerializeToString(), feeds, "the original model")
    problems = []
    for name, value in values.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            continue
        finite = np.abs(value[np.isfinite(value)])
        if finite.size and float(finite.max()) > FLOAT16_MAX:
            problems.append(RangeProblem(name, float(finite.max())))
    return sorted(problems, key=lambda p: -p.largest)


def runs(model: bytes, feeds: dict[str, np.ndarray]) -> bool:
    """Whether onnxruntime runs the serialized ``model`` on ``feeds``."""
    try:
        _run(model, feeds, "the model")
    except CannotVerify:
        return False
    return True


def compare(
    original: str, fixed: str, feeds: dict[str, np.ndarray], tolerance: float
) -> list[OutputDiff]:
    """Largest absolute and relative difference of each output of ``original``."""
    reference = _run(original, feeds, "the original model")
    result = _run(fixed, feeds, "the fixed model", fixed_model=True)
    diffs = []
    for name, expected in reference.items():
        if name not in result:
            raise CannotVerify(f"the fixed model has no output {name!r}")
        actual = result[name]
        if not isinstance(expected, np.ndarray):
            diffs.append(_diff_other(name, expected, actual, tolerance))
            continue
        if not isinstance(actual, np.ndarray) or actual.shape != expected.shape:
            raise CannotVerify(
                f"output {name!r} has shape {list(np.shape(actual))}, "
                f"the original {list(expected.shape)}"
            )
        diffs.append(_diff(name, expected, actual, tolerance))
    return diffs


def _diff_other(name: str, expected, actual, tolerance: float) -> OutputDiff:
    """A sequence of tensors compares item by item; a map only as equal."""
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) == len(actual) and all(
            isinstance(e, np.ndarray) and isinstance(a, np.ndarray)
            for e, a in zip(expected, actual, strict=True)
        ):
            items = [
                _diff(f"{name}[{i}]", e, a, tolerance)
                if e.shape == a.shape
                else OutputDiff(name, np.inf, np.inf, tolerance)
                for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            ]
            worst = max(items, key=lambda d: d.max_rel, default=None)
            return OutputDiff(
                name,
                worst.max_abs if worst else 0.0,
                worst.max_rel if worst else 0.0,
                tolerance,
            )
    if _equal(expected, actual):
        return OutputDiff(name, 0.0, 0.0, tolerance)
    raise CannotVerify(
        f"output {name!r} is a sequence or map, and the fixed model's differs; "
        "compare them on your own data"
    )


def _equal(one, other) -> bool:
    """Equality of nested lists, maps and arrays (arrays compare whole)."""
    if isinstance(one, np.ndarray) or isinstance(other, np.ndarray):
        return (
            isinstance(one, np.ndarray)
            and isinstance(other, np.ndarray)
            and (np.array_equal(one, other))
        )
    if isinstance(one, dict) and isinstance(other, dict):
        return one.keys() == other.keys() and all(_equal(one[k], other[k]) for k in one)
    if isinstance(one, list) and isinstance(other, list):
        return len(one) == len(other) and all(
            _equal(a, b) for a, b in zip(one, other, strict=True)
        )
    return one == other


def _diff(name: str, expected, actual, tolerance: float) -> OutputDiff:
    """Largest difference; a NaN or infinity on one side only is infinitely far."""
    if np.asarray(expected).dtype.kind not in "biuf":  # strings: equal or not
        gap = 0.0 if np.array_equal(expected, actual) else np.inf
        return OutputDiff(name, gap, gap, tolerance)
    a = np.asarray(expected, dtype=np.float64)
    b = np.asarray(actual, dtype=np.float64)
    if a.size == 0:
        return OutputDiff(name, 0.0, 0.0, tolerance)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(invalid="ignore"):
        gap = np.where(same, 0.0, np.abs(a - b))
    gap = np.where(np.isnan(gap), np.inf, gap)
    max_abs = float(gap.max())
    finite = np.abs(a[np.isfinite(a)])
    scale = float(finite.max()) if finite.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    return OutputDiff(name, max_abs, max_rel, tolerance)


def _run(
    path: str | bytes,
    feeds: dict[str, np.ndarray],
    what: str,
    fixed_model: bool = False,
) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    ort.set_default_logger_severity(4)
    options = ort.SessionOptions()
    options.log_severity_level = 4  # errors are reported, not logged
    try:
        session = ort.InferenceSession(
            path, options, providers=["CPUExecutionProvider"]
        )
        inputs = {}
        for spec in session.get_inputs():
            if spec.name not in feeds:
                raise CannotVerify(f"no value for input {spec.name!r} of {what}")
            inputs[spec.name] = _as_type(feeds[spec.name], spec.type)
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, inputs)
    except CannotVerify:
        raise
    except Exception as exc:  # onnxruntime raises its own exception types
        detail = textwrap.shorten(str(exc), 300, placeholder=" ...")
        raise CannotVerify(
            f"onnxruntime cannot run {what}: {detail}", fixed_model
        ) from None
    return dict(zip(names, values, strict=True))


_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}


def _as_type(value: np.ndarray, ort_type: str) -> np.ndarray:
    """The same values in the type this model's input takes (after a cast fix)."""
    numpy_type = _ORT_TYPES.get(ort_type)
    return value if numpy_type is None else value.astype(numpy_type)
