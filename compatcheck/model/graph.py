"""The format-neutral model that every rule reads.

Operators are the nodes of a networkx ``MultiDiGraph`` and tensors are its
edges (producer -> consumer, keyed by tensor name). Everything a rule needs
beyond the topology lives in the dataclasses below; no weight bytes are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

# A dimension is a concrete size, a symbolic name, or None when unknown.
Dim = int | str | None


def format_shape(shape: tuple[Dim, ...] | list[Dim]) -> str:
    """A shape as reports write it: ``[batch_size, 3, ?, -1]`` (? is unknown)."""
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


# Attribute of an operator predicted by a conversion: the rank of the
# tensors its lowering creates inside (DepthToSpace through 6-D tensors).
CREATES_RANK = "compatcheck:creates_rank"

# Integer constants with at most this many values keep them (axes, shapes,
# slice bounds, scalar indices); larger ones keep only their range.
MAX_KEPT_VALUES = 64


@dataclass(frozen=True)
class TensorInfo:
    """A tensor's name, element type and shape (``None`` when the rank is unknown).

    ``kind`` is ``"tensor"`` for ordinary tensors; ONNX sequence, map and
    optional values carry their own kind so that rules can refuse them.
    """

    name: str
    dtype: str
    shape: tuple[Dim, ...] | None
    kind: str = "tensor"
    quantization: dict | None = None
    signature: tuple[int, ...] | None = None

    @property
    def is_dynamic(self) -> bool:
        """True when the rank or any dimension is not a fixed positive size.

        A TFLite shape signature marks dynamic dimensions with -1 even when
        the stored shape holds a placeholder size.
        """
        if self.shape is None:
            return True
        if self.signature is not None and any(d < 0 for d in self.signature):
            return True
        return any(not isinstance(d, int) or d <= 0 for d in self.shape)

    @property
    def display_shape(self) -> tuple[Dim, ...] | None:
        """The shape with dynamic dimensions shown as names or None."""
        if self.shape is None or self.signature is None:
            return self.shape
        if len(self.signature) != len(self.shape):
            return self.shape
        return tuple(
            None if s < 0 else d
            for d, s in zip(self.shape, self.signature, strict=True)
        )


@dataclass(frozen=True)
class Weight:
    """A constant tensor stored in the model (initializer or TFLite buffer)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    byte_size: int
    # Smallest and largest value of an integer constant whose bytes were
    # read (constants of at most 64 KiB; larger payloads are never read).
    int_range: tuple[int, int] | None = None


@dataclass(frozen=True)
class IOMeta:
    """What the model file says about feeding or reading one input or output.

    Empty fields mean the model does not say. ``mean`` and ``std`` describe
    ``(x - mean) / std`` per channel; ``value_min``/``value_max`` are the
    tensor's documented value range; ``default_size`` is (width, height).
    """

    name: str = ""
    description: str = ""
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    value_min: tuple[float, ...] = ()
    value_max: tuple[float, ...] = ()
    color_space: str = ""
    default_size: tuple[int, int] | None = None
    # Raw key -> value pairs that describe preprocessing (ONNX metadata).
    properties: tuple[tuple[str, str], ...] = ()
    source: str = ""


@dataclass
class OpNode:
    """One operator occurrence.

    ``node_id`` is unique in the model and says where the node sits, for
    example ``If_3.then_branch > Add_7`` for a node inside an If subgraph;
    ``scope`` holds the same path as a tuple of enclosing graphs.
    """

    node_id: str
    name: str
    op_type: str
    domain: str
    inputs: list[str]
    outputs: list[str]
    scope: tuple[str, ...] = ()
    version: int | None = None
    calls_function: bool = False
    # Scalar, string and short integer-list attributes (ONNX only).
    attrs: dict = field(default_factory=dict)
    # For an operator predicted by a conversion: the source node it came from.
    origin: str = ""

    @property
    def where(self) -> str:
        """The node of the user's model this operator stands for."""
        return self.origin or self.node_id


@dataclass
class ExternalDataRef:
    """A reference from an ONNX tensor to bytes stored in another file."""

    tensor: str
    location: str
    resolved: str | None
    size: int | None
    problem: str | None = None


@dataclass
class ModelGraph:
    """A loaded model: operator graph plus the facts rules check."""

    path: str
    format: str
    file_size: int
    # None for a model predicted by a conversion (its operators stand for
    # source nodes and share their tensors; the source model has the graph).
    graph: nx.MultiDiGraph | None
    ops: dict[str, OpNode]
    tensors: dict[str, TensorInfo]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    weights: list[Weight]
    constants: set[str] = field(default_factory=set)
    # Values of small integer constants (MAX_KEPT_VALUES), by tensor name.
    int_values: dict[str, tuple[int, ...]] = field(default_factory=dict)
    opsets: dict[str, int] = field(default_factory=dict)
    ir_version: int | None = None
    schema_version: int | None = None
    producer: str = ""
    external_data: list[ExternalDataRef] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Tensor names available without a producing node: graph inputs of every
    # graph and function, and initializers. None where the format does not
    # say (TFLite variable tensors have no producer either).
    declared: set[str] | None = None
    # Free-form key -> value metadata (ONNX metadata_props; TFLite metadata
    # entry names and the metadata's name, version, author, description).
    metadata: dict[str, str] = field(default_factory=dict)
    # Documentation strings stored in the file: (where, first line).
    doc_strings: list[tuple[str, str]] = field(default_factory=list)
    # Preprocessing facts per graph input or output name.
    io_meta: dict[str, IOMeta] = field(default_factory=dict)
    # Results derived from the source model that every route can share.
    shared: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def weight_bytes(self) -> int:
        """Bytes of all stored constants, embedded or external."""
        return sum(w.byte_size for w in self.weights)

    @property
    def external_bytes(self) -> int:
        """Bytes held in external data files that were found and measured."""
        sizes = {r.resolved: r.size for r in self.external_data if r.size}
        return sum(sizes.values())

    @property
    def deploy_bytes(self) -> int:
        """What must reach the phone: the model file plus its external data."""
        return self.file_size + self.external_bytes

    def input_rank(self, op: OpNode, index: int = 0) -> int | None:
        """Rank of an operator's input, or None when unknown."""
        if index >= len(op.inputs) or not op.inputs[index]:
            return None
        info = self.tensors.get(op.inputs[index])
        if info is None or info.shape is None:
            return None
        return len(info.shape)


def build_graph(ops: list[OpNode]) -> nx.MultiDiGraph:
    """Link operators by the tensors they share.

    A tensor consumed inside a subgraph is linked to the producer with that
    name in the nearest enclosing scope, which is how ONNX resolves
    outer-scope references.
    """
    graph = nx.MultiDiGraph()
    producers: dict[tuple[tuple[str, ...], str], str] = {}
    for op in ops:
        graph.add_node(op.node_id, op_type=op.op_type, domain=op.domain)
        for out in op.outputs:
            if out:
                producers[(op.scope, out)] = op.node_id

    for op in ops:
        for tensor in op.inputs:
            if not tensor:
                continue
            producer = _find_producer(producers, op.scope, tensor)
            if producer is not None:
                graph.add_edge(producer, op.node_id, key=tensor, tensor=tensor)
    return graph


def _find_producer(
    producers: dict[tuple[tuple[str, ...], str], str],
    scope: tuple[str, ...],
    tensor: str,
) -> str | None:
    for depth in range(len(scope), -1, -1):
        found = producers.get((scope[:depth], tensor))
        if found is not None:
            return found
    return None


def node_path(scope: tuple[str, ...], name: str) -> str:
    """The display path of a node: enclosing graphs, then its own name."""
    return " > ".join((*scope, name))
