"""ONNX file -> ModelGraph."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper, shape_inference

from compatcheck.errors import ModelFormatError
from compatcheck.model.dtypes import byte_size, onnx_dtype_name
from compatcheck.model.graph import (
    MAX_KEPT_VALUES,
    ExternalDataRef,
    IOMeta,
    ModelGraph,
    OpNode,
    TensorInfo,
    Weight,
    build_graph,
    node_path,
)
from compatcheck.model.onnx_wire import (
    StrippedModel,
    TooDeepError,
    WireError,
    strip_model,
)

_DEFAULT_DOMAINS = ("", "ai.onnx")


def load_onnx(path: str, data, file_size: int) -> ModelGraph:
    """Build the graph model of an ONNX file whose bytes are ``data``."""
    try:
        stripped = strip_model(data)
        proto = onnx.ModelProto.FromString(stripped.data)
    except TooDeepError as exc:
        raise ModelFormatError(path, str(exc)) from None
    except (WireError, DecodeError) as exc:
        raise ModelFormatError(
            path, f"truncated or corrupt ONNX file ({exc}); re-export the model"
        ) from None
    _check_header(path, proto)
    notes: list[str] = []
    proto = _infer_shapes(proto, notes)
    walker = _GraphWalker(proto, stripped)
    try:
        walker.walk_model()
    except _CorruptTensor as exc:
        raise ModelFormatError(
            path, f"corrupt ONNX file: {exc}; export the model again"
        ) from None
    ops = walker.ops
    return ModelGraph(
        path=path,
        format="onnx",
        file_size=file_size,
        graph=build_graph(ops),
        ops={op.node_id: op for op in ops},
        tensors=walker.tensors,
        inputs=[walker.tensors[_text(v.name)] for v in _real_inputs(proto.graph)],
        outputs=[walker.tensors[_text(v.name)] for v in proto.graph.output],
        weights=walker.weights,
        constants=walker.constants,
        int_values=walker.int_values,
        declared=walker.declared | walker.constants,
        opsets={_domain(o.domain): o.version for o in proto.opset_import},
        ir_version=proto.ir_version,
        producer=" ".join(
            _text(p) for p in (proto.producer_name, proto.producer_version) if p
        ),
        external_data=_external_refs(path, walker.external),
        notes=notes,
        metadata={_text(p.key): _text(p.value) for p in proto.metadata_props},
        doc_strings=_doc_strings(proto),
        io_meta=_io_meta(proto),
    )


# Documentation strings kept per model (first line, cut) for the leak check.
_MAX_DOC_STRINGS = 200
_DOC_LINE = 200


def _doc_strings(proto: onnx.ModelProto) -> list[tuple[str, str]]:
    """Where each non-empty doc_string sits, with its first line."""
    found = []
    places = [("model", proto), ("graph", proto.graph)]
    places += [(f"node {_text(n.name) or n.op_type}", n) for n in proto.graph.node]
    places += [
        (f"tensor {_text(v.name)}", v)
        for v in (*proto.graph.input, *proto.graph.output)
    ]
    for where, item in places:
        text = _text(item.doc_string).strip()
        if text:
            found.append((where, text.splitlines()[0][:_DOC_LINE]))
        if len(found) >= _MAX_DOC_STRINGS:
            break
    return found


# metadata_props keys that describe input preprocessing. The Image.* keys
# are the Windows ML convention for image inputs; others are free-form.
_PREPROCESSING_WORDS = (
    "mean",
    "std",
    "norm",
    "pixel",
    "scale",
    "color",
    "colour",
    "rgb",
    "bgr",
    "range",
    "layout",
    "image.",
)


def _io_meta(proto: onnx.ModelProto) -> dict[str, IOMeta]:
    """Preprocessing the ONNX metadata states, attached to every graph input.

    ONNX has no per-input metadata; keys that read as preprocessing are
    shown with each image-like input, as the model states them.
    """
    props = tuple(
        (_text(p.key), _text(p.value)[:_DOC_LINE])
        for p in proto.metadata_props
        if any(word in _text(p.key).lower() for word in _PREPROCESSING_WORDS)
    )
    if not props:
        return {}
    return {
        _text(v.name): IOMeta(properties=props, source="ONNX metadata_props")
        for v in _real_inputs(proto.graph)
    }


def _infer_shapes(proto: onnx.ModelProto, notes: list[str]) -> onnx.ModelProto:
    """Run ONNX shape inference, strictly first so that errors are reported.

    When strict inference fails, the lenient pass still fills in what it can;
    when that fails too, the model is analysed without inferred shapes.
    """
    try:
        return shape_inference.infer_shapes(proto, strict_mode=True, data_prop=True)
    except Exception as exc:  # onnx raises several unrelated types here
        notes.append(f"ONNX shape inference failed: {_first_line(exc)}")
    try:
        return shape_inference.infer_shapes(proto, strict_mode=False, data_prop=True)
    except Exception:  # already reported above
        return proto


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line[:300]


def _real_inputs(graph: onnx.GraphProto):
    """Graph inputs that are not initializers (IR < 4 lists weights as inputs)."""
    weights = {t.name for t in graph.initializer}
    return [v for v in graph.input if v.name not in weights]


def _domain(domain: str) -> str:
    domain = _text(domain)
    return "ai.onnx" if domain in _DEFAULT_DOMAINS else domain


def _check_header(path: str, proto: onnx.ModelProto) -> None:
    """Refuse protobuf data that parses but is not a usable ONNX model."""
    if not proto.HasField("graph"):
        raise ModelFormatError(
            path, "has no graph, so it is not an ONNX model; export the model again"
        )
    if proto.ir_version < 1:
        raise ModelFormatError(
            path, f"has IR version {proto.ir_version}, which no ONNX release writes"
        )
    for entry in proto.opset_import:
        if entry.version < 1:
            domain = _domain(entry.domain)
            raise ModelFormatError(
                path, f"imports opset {entry.version} of {domain}, which does not exist"
            )


def _text(value) -> str:
    """Protobuf hands back bytes for strings that are not valid UTF-8."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _texts(values) -> list[str]:
    return [_text(v) for v in values]


@dataclass
class _GraphWalker:
    proto: onnx.ModelProto
    stripped: StrippedModel
    ops: list[OpNode] = field(default_factory=list)
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    weights: list[Weight] = field(default_factory=list)
    constants: set[str] = field(default_factory=set)
    int_values: dict[str, tuple[int, ...]] = field(default_factory=dict)
    declared: set[str] = field(default_factory=set)
    external: list[onnx.TensorProto] = field(default_factory=list)
    _ids: set[str] = field(default_factory=set)
    # The next free "#n" suffix of each node id already taken.
    _suffixes: dict[str, int] = field(default_factory=dict)
    _functions: set[tuple[str, str]] = field(default_factory=set)

    def walk_model(self) -> None:
        self._functions = {
            (_domain(f.domain), _text(f.name)) for f in self.proto.functions
        }
        self.walk_graph(self.proto.graph, ())
        for func in self.proto.functions:
            scope = (f"function {_domain(func.domain)}:{func.name}",)
            self.declared.update(_texts(func.input))
            self.walk_nodes(func.node, scope)

    def walk_graph(self, graph: onnx.GraphProto, scope: tuple[str, ...]) -> None:
        self.declared.update(_text(value.name) for value in graph.input)
        for value in (*graph.input, *graph.output, *graph.value_info):
            info = _tensor_info(value)
            self.tensors.setdefault(info.name, info)
        for tensor in graph.initializer:
            self.add_weight(tensor)
        for sparse in graph.sparse_initializer:
            self.add_weight(sparse.values, name=sparse.values.name)
        self.walk_nodes(graph.node, scope)

    def walk_nodes(self, nodes, scope: tuple[str, ...]) -> None:
        for index, node in enumerate(nodes):
            op = self.make_op(node, index, scope)
            self.ops.append(op)
            for attr in node.attribute:
                self.walk_attribute(attr, op, scope)

    def walk_attribute(self, attr, op: OpNode, scope: tuple[str, ...]) -> None:
        if attr.type == onnx.AttributeProto.GRAPH:
            self.walk_graph(attr.g, (*scope, f"{op.name}.{attr.name}"))
        elif attr.type == onnx.AttributeProto.GRAPHS:
            for i, sub in enumerate(attr.graphs):
                self.walk_graph(sub, (*scope, f"{op.name}.{attr.name}[{i}]"))
        elif attr.type == onnx.AttributeProto.TENSOR and op.op_type == "Constant":
            self.add_weight(attr.t, name=op.outputs[0] if op.outputs else "")
        elif attr.type == onnx.AttributeProto.SPARSE_TENSOR:
            self.add_weight(attr.sparse_tensor.values, name=op.outputs[0])

    def make_op(self, node, index: int, scope: tuple[str, ...]) -> OpNode:
        op_type = _text(node.op_type)
        name = _text(node.name) or f"{op_type}_{index}"
        node_id = node_path(scope, name)
        if node_id in self._ids:
            # Start after the last suffix given to this name, so that many
            # nodes of one name cost one step each, not one per namesake.
            suffix = self._suffixes.get(node_id, 2)
            while node_path(scope, f"{name}#{suffix}") in self._ids:
                suffix += 1
            self._suffixes[node_id] = suffix + 1
            node_id = node_path(scope, f"{name}#{suffix}")
        self._ids.add(node_id)
        outputs = _texts(node.output)
        if op_type == "Constant":
            self.constants.update(o for o in outputs if o)
        domain = _domain(node.domain)
        return OpNode(
            node_id=node_id,
            name=name,
            op_type=op_type,
            domain=domain,
            inputs=_texts(node.input),
            outputs=outputs,
            scope=scope,
            calls_function=(domain, op_type) in self._functions,
            attrs=_attributes(node),
        )

    def add_weight(self, tensor: onnx.TensorProto, name: str | None = None) -> None:
        name = _text(tensor.name if name is None else name)
        dtype = _dtype(tensor.data_type)
        shape = tuple(int(d) for d in tensor.dims)
        _check_stored_size(name, dtype, shape, tensor)
        size = byte_size(dtype, shape)
        if size is None or dtype == "string":
            size = self.stripped.stripped_bytes.get(tensor.name, tensor.ByteSize())
        int_range = None
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            self.external.append(tensor)
        elif dtype in _INT_TYPES and tensor.name not in self.stripped.stripped_bytes:
            int_range = self.read_ints(name, tensor)
        self.weights.append(Weight(name, dtype, shape, size, int_range))
        self.constants.add(name)
        self.tensors.setdefault(name, TensorInfo(name, dtype, shape))

    def read_ints(self, name: str, tensor: onnx.TensorProto):
        """Range (and, for short ones, values) of an integer constant."""
        try:
            values = numpy_helper.to_array(tensor).reshape(-1)
        except (ValueError, TypeError):  # payload does not match the dims
            return None
        if values.size == 0:
            return None
        if values.size <= MAX_KEPT_VALUES:
            self.int_values[name] = tuple(int(v) for v in values)
        return int(np.min(values)), int(np.max(values))


_INT_TYPES = ("int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64")
_MAX_ATTR_INTS = 16


def _attributes(node) -> dict:
    """Scalar, string and short integer-list attributes of a node."""
    found: dict = {}
    kinds = onnx.AttributeProto
    for attr in node.attribute:
        name = _text(attr.name)
        if attr.type == kinds.INT:
            found[name] = int(attr.i)
        elif attr.type == kinds.FLOAT:
            found[name] = float(attr.f)
        elif attr.type == kinds.STRING:
            found[name] = _text(attr.s)
        elif attr.type == kinds.INTS and len(attr.ints) <= _MAX_ATTR_INTS:
            found[name] = tuple(int(i) for i in attr.ints)
    return found


class _CorruptTensor(Exception):
    """A stored tensor whose declared shape contradicts its bytes."""


def _dtype(number: int) -> str:
    """Element type name; a number no ONNX release defines is shown as such."""
    try:
        return onnx_dtype_name(onnx.TensorProto.DataType.Name(number))
    except ValueError:
        return f"unknown element type {number}"


def _check_stored_size(name: str, dtype: str, shape: tuple, tensor) -> None:
    """Dimensions must be non-negative and agree with the bytes stored."""
    if any(d < 0 for d in shape):
        raise _CorruptTensor(
            f"constant {name!r} has a negative dimension {list(shape)}"
        )
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return
    expected = byte_size(dtype, shape)
    stored = len(tensor.raw_data) if tensor.HasField("raw_data") else None
    if expected is None or stored is None or expected == stored:
        return
    raise _CorruptTensor(
        f"constant {name!r} declares shape {list(shape)} of {dtype} ({expected} "
        f"bytes) but stores {stored} bytes"
    )


def _tensor_info(value: onnx.ValueInfoProto) -> TensorInfo:
    kind = value.type.WhichOneof("value") or "unknown"
    if kind != "tensor_type":
        return TensorInfo(
            _text(value.name), kind.removesuffix("_type"), None, kind=kind
        )
    ttype = value.type.tensor_type
    dtype = _dtype(ttype.elem_type)
    name = _text(value.name)
    if not ttype.HasField("shape"):
        return TensorInfo(name, dtype, None)
    dims = tuple(_dim(d) for d in ttype.shape.dim)
    return TensorInfo(name, dtype, dims)


def _dim(dim) -> int | str | None:
    which = dim.WhichOneof("value")
    if which == "dim_value":
        return int(dim.dim_value)
    if which == "dim_param":
        return _text(dim.dim_param)
    return None


def _external_entry(tensor: onnx.TensorProto) -> dict[str, str]:
    return {e.key: e.value for e in tensor.external_data}


def _external_refs(model_path: str, tensors) -> list[ExternalDataRef]:
    """Resolve external data locations without opening any file."""
    folder = os.path.realpath(os.path.dirname(os.path.abspath(model_path)))
    refs = []
    for tensor in tensors:
        entry = _external_entry(tensor)
        location = entry.get("location", "")
        resolved, problem = resolve_inside(folder, location)
        size = None
        if resolved is not None:
            size = os.stat(resolved).st_size
            problem = _range_problem(entry, size)
        refs.append(ExternalDataRef(tensor.name, location, resolved, size, problem))
    return refs


def resolve_inside(folder: str, location: str) -> tuple[str | None, str | None]:
    """Resolve ``location`` under ``folder``; return (path, None) or (None, why)."""
    if not location:
        return None, "has no location"
    if "\0" in location:
        return None, "contains a NUL byte"
    if os.path.isabs(location) or location.startswith(("/", "\\")) or ":" in location:
        return None, "is an absolute path"
    candidate = os.path.normpath(os.path.join(folder, location))
    if os.path.commonpath([folder, candidate]) != folder:
        return None, "climbs out of the model's folder"
    real = os.path.realpath(candidate)
    if os.path.commonpath([folder, real]) != folder:
        return None, "goes through a symbolic link out of the model's folder"
    if not os.path.isfile(real):
        return None, "names a file that does not exist"
    return real, None


def _range_problem(entry: dict[str, str], size: int) -> str | None:
    try:
        offset = int(entry.get("offset", "0"))
        length = int(entry["length"]) if "length" in entry else None
    except ValueError:
        return "has an offset or length that is not a number"
    if offset < 0 or offset > size:
        return f"has offset {offset} beyond the file's {size} bytes"
    if length is not None and (length < 0 or offset + length > size):
        return f"has offset {offset} + length {length} beyond the file's {size} bytes"
    return None
