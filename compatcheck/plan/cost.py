"""What a model costs: parameters, bytes on the wire, compute and memory."""

from __future__ import annotations

import gzip
import math
import os
from collections import Counter
from dataclasses import dataclass, field

from compatcheck.model.dtypes import BITS
from compatcheck.model.graph import MAX_KEPT_VALUES, ModelGraph, OpNode
from compatcheck.plan.contract import resolve_shape

# Files up to this size are compressed whole; larger ones are estimated
# from evenly spaced samples, which keeps a check of a 400 MB model quick.
EXACT_COMPRESSION_BYTES = 16 * 1024 * 1024
_SAMPLES = 16
_SAMPLE_BYTES = 256 * 1024
_CHUNK = 1024 * 1024
GZIP_LEVEL = 9
# Brotli quality 11 is about 70 times slower than 9 on float weights and
# saves under one percent more, measured on random float32 data.
BROTLI_QUALITY = 9

ASSUMPTIONS = (
    "MACs count the multiply-accumulates of convolutions, matrix products "
    "and recurrent cells, one batch, with the feed shapes of the contract; "
    "element-wise operators are not counted, and subgraph bodies count once",
    "peak memory walks the main graph in file order, keeps each tensor from "
    "the operator that writes it to the last one that reads it, and counts "
    "neither weights nor the engine's own workspace",
    "sizes after float16 or int8 conversion change float32 weights only",
)


@dataclass
class Cost:
    parameters: int
    weight_bytes: dict[str, int]
    file_bytes: int
    gzip_bytes: int
    brotli_bytes: int
    compression_exact: bool
    float16_bytes: int
    int8_bytes: int
    macs: dict[str, int]
    macs_unknown: list[str]
    peak_bytes: int
    peak_at: str
    peak_unknown: int
    assumptions: tuple[str, ...] = field(default=ASSUMPTIONS)

    @property
    def total_macs(self) -> int:
        return sum(self.macs.values())

    def to_dict(self) -> dict:
        return {
            "parameters": self.parameters,
            "weight_bytes": dict(sorted(self.weight_bytes.items())),
            "file_bytes": self.file_bytes,
            "gzip_bytes": self.gzip_bytes,
            "brotli_bytes": self.brotli_bytes,
            "compression_exact": self.compression_exact,
            "float16_weights_bytes": self.float16_bytes,
            "int8_weights_bytes": self.int8_bytes,
            "macs": self.total_macs,
            "macs_by_operator": dict(sorted(self.macs.items())),
            "macs_unknown_nodes": list(self.macs_unknown),
            "peak_activation_bytes": self.peak_bytes,
            "peak_at": self.peak_at,
            "peak_unknown_tensors": self.peak_unknown,
            "assumptions": list(self.assumptions),
        }


def model_cost(model: ModelGraph, dim_values: dict[str, int]) -> Cost:
    """Every cost figure of ``model``, with dynamic sizes taken from ``dim_values``."""
    by_dtype: Counter[str] = Counter()
    for weight in model.weights:
        by_dtype[weight.dtype] += weight.byte_size
    float32 = by_dtype.get("float32", 0)
    size = model.deploy_bytes
    gz, br, exact = compressed_sizes(_deploy_files(model))
    macs, unknown = count_macs(model, dim_values)
    peak, peak_at, peak_unknown = peak_activation(model, dim_values)
    return Cost(
        parameters=count_parameters(model),
        weight_bytes=dict(by_dtype),
        file_bytes=size,
        gzip_bytes=gz,
        brotli_bytes=br,
        compression_exact=exact,
        float16_bytes=size - float32 // 2,
        int8_bytes=size - float32 * 3 // 4,
        macs=macs,
        macs_unknown=unknown,
        peak_bytes=peak,
        peak_at=peak_at,
        peak_unknown=peak_unknown,
    )


def count_parameters(model: ModelGraph) -> int:
    """Elements of every stored constant except short integer ones.

    Short integer constants (at most MAX_KEPT_VALUES values of int32 or
    int64) are shapes, axes and indices, not learned values.
    """
    total = 0
    for weight in model.weights:
        count = math.prod(weight.shape)
        if weight.dtype in ("int32", "int64") and count <= MAX_KEPT_VALUES:
            continue
        total += count
    return total


def _deploy_files(model: ModelGraph) -> list[str]:
    files = [model.path]
    files += sorted({r.resolved for r in model.external_data if r.resolved and r.size})
    return files


def compressed_sizes(paths: list[str]) -> tuple[int, int, bool]:
    """gzip and brotli sizes of the files together, and whether they are exact."""
    import brotli

    total = sum(os.path.getsize(p) for p in paths)
    if total <= EXACT_COMPRESSION_BYTES:
        gz, br = _GzipCounter(), brotli.Compressor(quality=BROTLI_QUALITY)
        br_size = 0
        for chunk in _chunks(paths):
            gz.feed(chunk)
            br_size += len(br.process(chunk))
        return gz.finish(), br_size + len(br.finish()), True
    read = gz_out = br_out = 0
    for sample in _samples(paths, total):
        read += len(sample)
        gz_out += len(gzip.compress(sample, GZIP_LEVEL))
        br_out += len(brotli.compress(sample, quality=BROTLI_QUALITY))
    return round(total * gz_out / read), round(total * br_out / read), False


class _GzipCounter:
    """Counts the bytes of a gzip stream without keeping them."""

    def __init__(self) -> None:
        import zlib

        self._zlib = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        self.size += len(self._zlib.compress(chunk))

    def finish(self) -> int:
        return self.size + len(self._zlib.flush())


def _chunks(paths: list[str]):
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk


def _samples(paths: list[str], total: int):
    """Evenly spaced slices across the concatenated files."""
    step = total // _SAMPLES
    offsets = [i * step for i in range(_SAMPLES)]
    position = 0
    for path in paths:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            for offset in offsets:
                if position <= offset < position + size:
                    handle.seek(offset - position)
                    yield handle.read(_SAMPLE_BYTES)
        position += size


# Compute ---------------------------------------------------------------------


def count_macs(
    model: ModelGraph, dim_values: dict[str, int]
) -> tuple[dict[str, int], list[str]]:
    """Multiply-accumulates per operator type, and nodes whose count is unknown."""
    macs: Counter[str] = Counter()
    unknown: list[str] = []
    for op in model.ops.values():
        counter = _MAC_RULES.get(op.op_type)
        if counter is None:
            continue
        value = counter(_Shapes(model, op, dim_values))
        if value is None:
            unknown.append(op.node_id)
        else:
            macs[op.op_type] += value
    return dict(macs), unknown


class _Shapes:
    """Resolved shapes of one operator's inputs and outputs."""

    def __init__(self, model: ModelGraph, op: OpNode, dim_values: dict[str, int]):
        self.model, self.op, self.dims = model, op, dim_values

    def input(self, index: int) -> list[int] | None:
        return self._shape(self.op.inputs, index)

    def output(self, index: int = 0) -> list[int] | None:
        return self._shape(self.op.outputs, index)

    def _shape(self, names: list[str], index: int) -> list[int] | None:
        if index >= len(names) or not names[index]:
            return None
        info = self.model.tensors.get(names[index])
        return resolve_shape(info.shape if info else None, self.dims)


def _product_times(shapes: _Shapes, out: int, weight: int, skip: int):
    """prod(output) * prod(weight dims after the first ``skip``)."""
    output, kernel = shapes.output(out), shapes.input(weight)
    if output is None or kernel is None or len(kernel) <= skip:
        return None
    return math.prod(output) * math.prod(kernel[skip:])


def _conv(weight: int):
    # ONNX weights are [M, C/group, k...]: each output element reads C/group * k.
    return lambda s: _product_times(s, 0, weight, 1)


def _conv_transpose(s: _Shapes):
    # ONNX weights are [C, M/group, k...]: each input element writes M/group * k.
    source, kernel = s.input(0), s.input(1)
    if source is None or kernel is None or len(kernel) < 2:
        return None
    return math.prod(source) * math.prod(kernel[1:])


def _matmul(a: int):
    def count(s: _Shapes):
        left, output = s.input(a), s.output()
        if left is None or output is None or not left:
            return None
        return math.prod(output) * left[-1]

    return count


def _gemm(s: _Shapes):
    left, output = s.input(0), s.output()
    if left is None or output is None or len(left) != 2:
        return None
    inner = left[0] if s.op.attrs.get("transA") else left[1]
    return math.prod(output) * inner


def _recurrent(s: _Shapes):
    # X [seq, batch, input]; W [dirs, gates*hidden, input]; R [.., .., hidden].
    x, w, r = s.input(0), s.input(1), s.input(2)
    if x is None or w is None or r is None or len(x) != 3 or len(r) != 3:
        return None
    if s.op.attrs.get("layout") == 1:
        x = [x[1], x[0], x[2]]
    return x[0] * x[1] * w[0] * w[1] * (w[2] + r[2])


def _tflite_filter(first: int, last: int | None = None):
    # Each output element reads prod(filter[first:last]) values: CONV_2D
    # filters are [O, H, W, I], DEPTHWISE_CONV_2D [1, H, W, O],
    # FULLY_CONNECTED [O, I], CONV_3D [D, H, W, I, O].
    def count(s: _Shapes):
        output, kernel = s.output(), s.input(1)
        if output is None or kernel is None:
            return None
        return math.prod(output) * math.prod(kernel[first:last])

    return count


def _tflite_transpose_conv(s: _Shapes):
    # Inputs: output shape, filter [O, H, W, I], input [N, H, W, I].
    source, kernel = s.input(2), s.input(1)
    if source is None or kernel is None or len(kernel) != 4:
        return None
    return math.prod(source) * kernel[0] * kernel[1] * kernel[2]


_MAC_RULES = {
    "Conv": _conv(1),
    "ConvInteger": _conv(1),
    "QLinearConv": _conv(3),
    "ConvTranspose": _conv_transpose,
    "Gemm": _gemm,
    "MatMul": _matmul(0),
    "MatMulInteger": _matmul(0),
    "QLinearMatMul": _matmul(0),
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "RNN": _recurrent,
    "CONV_2D": _tflite_filter(1),
    "DEPTHWISE_CONV_2D": _tflite_filter(1, -1),
    "FULLY_CONNECTED": _tflite_filter(1),
    "CONV_3D": _tflite_filter(0, -1),
    "TRANSPOSE_CONV": _tflite_transpose_conv,
    "BATCH_MATMUL": _matmul(0),
}


# Memory ----------------------------------------------------------------------


def peak_activation(
    model: ModelGraph, dim_values: dict[str, int]
) -> tuple[int, str, int]:
    """Largest sum of live activation bytes, where it happens, unknown tensors.

    A tensor is live from the operator that writes it (graph inputs from
    the start) to the last operator that reads it; graph outputs stay live
    to the end. While an operator runs, its inputs and outputs are live.
    """
    ops = [op for op in model.ops.values() if not op.scope]
    constants = {w.name for w in model.weights} | model.constants
    last_use = _last_uses(model, ops)
    sizes = _Sizes(model, dim_values)

    live = {t.name for t in model.inputs if t.name not in constants}
    current = sum(sizes[name] for name in live)
    peak, peak_at = current, "graph inputs"
    for step, op in enumerate(ops):
        for name in op.outputs:
            if name and name not in live and name not in constants:
                live.add(name)
                current += sizes[name]
        if current > peak:
            peak, peak_at = current, op.node_id
        ended = {n for n in (*op.inputs, *op.outputs) if last_use.get(n, step) <= step}
        for name in ended & live:
            live.discard(name)
            current -= sizes[name]
    return peak, peak_at, len(sizes.unknown)


def _last_uses(model: ModelGraph, ops: list[OpNode]) -> dict[str, int]:
    """The step of each tensor's last reader; graph outputs live to the end."""
    last_use: dict[str, int] = {}
    for step, op in enumerate(ops):
        for name in op.inputs:
            last_use[name] = step
    for tensor in model.outputs:
        last_use[tensor.name] = len(ops)
    return last_use


class _Sizes(dict):
    """Bytes of each tensor, worked out on first use; unknown sizes count 0."""

    def __init__(self, model: ModelGraph, dim_values: dict[str, int]) -> None:
        super().__init__()
        self.model, self.dims = model, dim_values
        self.unknown: set[str] = set()

    def __missing__(self, name: str) -> int:
        size = _tensor_bytes(self.model, name, self.dims)
        if size is None:
            self.unknown.add(name)
        self[name] = size or 0
        return self[name]


def _tensor_bytes(model: ModelGraph, name: str, dim_values: dict[str, int]):
    info = model.tensors.get(name)
    if info is None or info.dtype not in BITS:
        return None
    shape = resolve_shape(info.shape, dim_values)
    if shape is None:
        return None
    return math.ceil(math.prod(shape) * BITS[info.dtype] / 8)
