"""The op registry: one :class:`OpDef` per IR op kind, holding every per-op fact the rest of the package needs.

An op family module (``accelsim.graph.ops.conv``, ``pool``, ``elementwise``, ``layout``) defines each op's
attribute dataclass and registers its :class:`OpDef` with :func:`register_op`. Shape inference, the float
reference, PTQ, graph validation, the YAML exporter, the engine and the hardware cost model look the op up here
instead of switching on its kind. An op without a cost descriptor is refused at registration, so a new op can
never cost zero cycles by omission.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from accelsim.errors import AccelsimError, UnsupportedError

if TYPE_CHECKING:
    from accelsim.graph.ir import Graph, Node
    from accelsim.hw.layer import LayerShape

Shape = tuple[int, ...]
#: PTQ rule of an op's output: "weights" (its weights are quantized and the output range calibrated, width per
#: node override), "calibrate" (output range calibrated, width = the common width of its inputs), "inherit" (the
#: output takes the first input's type and quantization parameters).
PtqRule = Literal["weights", "calibrate", "inherit"]
PTQ_RULES: tuple[str, ...] = ("weights", "calibrate", "inherit")


class OpRegistrationError(AccelsimError):
    """An :class:`OpDef` is incomplete or clashes with a registered op."""


@dataclass(frozen=True)
class LoopExtents:
    """A layer as the mapping sees it: its loop dimensions, not its name.

    Output ``N × OH × OW × O``, input ``H × W × C``, window ``KH × KW`` with strides, ``groups`` (each output
    channel reduces over ``C / groups`` inputs), total padding rows / columns. Non-4-D tensors are viewed as
    ``(N, 1, 1, features)``.
    """

    batch: int
    in_h: int
    in_w: int
    in_channels: int
    out_h: int
    out_w: int
    out_channels: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride_h: int = 1
    stride_w: int = 1
    groups: int = 1
    pad_h: int = 0
    pad_w: int = 0


@dataclass(frozen=True)
class VectorKernel:
    """How a SIMD unit runs a non-MAC op, per output vector of ``vector_bits / activation_bits`` elements: the
    input vectors it loads and the ALU instructions it issues (every op stores its output vector).
    ``per_pixel_channels``: windowed ops vectorize the channels of each output pixel (``N·OH·OW·ceil(C/lanes)``
    vectors); the others the flat output (``ceil(outputs/lanes)``)."""

    loads_per_output_vector: Callable[[LayerShape], int]
    alu_per_output_vector: Callable[[LayerShape], int]
    per_pixel_channels: bool = False


@dataclass(frozen=True)
class CostDescriptor:
    """What the hardware model needs to cost an op, as functions of its :class:`~accelsim.hw.layer.LayerShape`.

    ``macs`` is None for ops without multiply-accumulates (they are ALU work); ``alu_ops_per_output``: vector-ALU
    element operations per output element (requantization excluded); ``requant_per_output``: rescale operations
    per output element; ``is_view``: a free reinterpretation (no cycles, no traffic); ``preserves_quant``: the
    output must share the input's scale and zero point; ``extents``: the op's loop dimensions; ``vector``: its
    SIMD kernel (required for every op that is neither a MAC op nor a view).
    """

    alu_ops_per_output: Callable[[LayerShape], int]
    requant_per_output: Callable[[LayerShape], int]
    extents: Callable[[Graph, Node], LoopExtents]
    macs: Callable[[LayerShape], int] | None = None
    is_view: bool = False
    preserves_quant: bool = False
    vector: VectorKernel | None = None


class EngineOps(Protocol):
    """The integer engine's entry for an op: ``plan(graph, node)`` precomputes per-node constants once per graph
    (None when there are none); ``run(graph, node, plan, values, options)`` returns a
    :class:`accelsim.engine.common.NodeRun`."""

    def plan(self, graph: Graph, node: Node) -> object: ...

    def run(self, graph: Graph, node: Node, plan: object, values: Mapping[str, np.ndarray], options: Any) -> Any: ...


@dataclass(frozen=True)
class EngineModule:
    """An :class:`EngineOps` implemented by the module-level ``plan`` / ``run`` functions of ``module``, imported on
    first use (the engine imports the graph IR, so op modules cannot import it eagerly)."""

    module: str

    def plan(self, graph: Graph, node: Node) -> object:
        return _module(self.module).plan(graph, node)

    def run(self, graph: Graph, node: Node, plan: object, values: Mapping[str, np.ndarray], options: Any) -> Any:
        return _module(self.module).run(graph, node, plan, values, options)


@cache
def _module(name: str) -> Any:
    return importlib.import_module(name)


@dataclass(frozen=True)
class OpDef:
    """Everything the package knows about one op kind.

    ``attrs``: the attribute dataclass (its ``kind`` class attribute names the op); ``arity``: (min, max) inputs;
    ``activation_inputs``: how many leading inputs are activations (None: all); with ``has_weights`` input 1 is
    the weight tensor and input 2 the optional bias. ``infer_shape(op, input_shapes)`` raises ValueError on a
    mismatch; ``float_ref(op, args)`` computes the float64/float32 reference; ``engine`` plans and runs it on
    integers; ``ptq`` is its :data:`PtqRule`; ``keeps_dtype``: the output has the storage type of its activation
    inputs; ``to_yaml(graph, node)`` the workload-YAML layer fields (None: the op has no YAML form).
    """

    attrs: type
    arity: tuple[int, int]
    infer_shape: Callable[[Any, list[Shape]], Shape]
    float_ref: Callable[[Any, list[np.ndarray]], np.ndarray]
    engine: EngineOps
    ptq: PtqRule
    cost: CostDescriptor
    activation_inputs: int | None = 1
    has_weights: bool = False
    keeps_dtype: bool = True
    to_yaml: Callable[[Graph, Node], dict[str, Any]] | None = None
    with_batch: Callable[[Any, int], Any] | None = None
    #: ``fixed_output(op, dtype, requant_mode)``: the output (scale, zero point) a runtime prescribes for the op
    #: (e.g. TFLite LOGISTIC int8: 1/256, −128), or None where the output range is calibrated.
    fixed_output: Callable[[Any, str, str], tuple[float, int] | None] | None = None

    @property
    def kind(self) -> str:
        return self.attrs.kind

    @property
    def is_mac(self) -> bool:
        """Whether the op's output is an integer accumulator of multiply-accumulates."""
        return self.cost.macs is not None

    def activation_count(self, inputs: int) -> int:
        """How many of ``inputs`` inputs are activations."""
        return inputs if self.activation_inputs is None else self.activation_inputs


_REGISTRY: dict[str, OpDef] = {}
_BY_TYPE: dict[type, OpDef] = {}


def register_op(op_def: OpDef) -> OpDef:
    """Register ``op_def`` under its attribute class's ``kind``; OpRegistrationError when a required entry is
    missing (a cost descriptor above all) or the kind is taken by another class."""
    kind = getattr(op_def.attrs, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise OpRegistrationError(f"op attribute class {op_def.attrs.__name__} has no `kind` class attribute")
    if not isinstance(op_def.cost, CostDescriptor):
        raise OpRegistrationError(f"op {kind}: a cost descriptor (CostDescriptor) is required, found "
                                  f"{type(op_def.cost).__name__}; an op without one would cost nothing")
    if op_def.cost.macs is None and not op_def.cost.is_view and not isinstance(op_def.cost.vector, VectorKernel):
        raise OpRegistrationError(f"op {kind}: an ALU op (no MACs, not a view) needs cost.vector (VectorKernel), "
                                  "how a SIMD unit runs it; without one it would cost nothing there")
    for field in ("infer_shape", "float_ref"):
        if not callable(getattr(op_def, field)):
            raise OpRegistrationError(f"op {kind}: {field} must be callable")
    if not (callable(getattr(op_def.engine, "plan", None)) and callable(getattr(op_def.engine, "run", None))):
        raise OpRegistrationError(f"op {kind}: engine must have plan() and run()")
    if op_def.ptq not in PTQ_RULES:
        raise OpRegistrationError(f"op {kind}: ptq must be one of {', '.join(PTQ_RULES)}, found {op_def.ptq!r}")
    lo, hi = op_def.arity
    if not 1 <= lo <= hi:
        raise OpRegistrationError(f"op {kind}: arity must be 1 <= min <= max, found {op_def.arity}")
    if op_def.has_weights and (op_def.activation_inputs != 1 or lo < 2):
        raise OpRegistrationError(f"op {kind}: an op with weights takes one activation and then the weights")
    previous = _REGISTRY.get(kind)
    if previous is not None and previous.attrs is not op_def.attrs:
        raise OpRegistrationError(f"op kind {kind!r} is already registered by {previous.attrs.__name__}")
    _REGISTRY[kind] = op_def
    _BY_TYPE[op_def.attrs] = op_def
    return op_def


def unregister_op(kind: str) -> None:
    """Remove a registered op (for ops defined by tests or plug-ins)."""
    op_def = _REGISTRY.pop(kind)
    _BY_TYPE.pop(op_def.attrs, None)


def op_def(kind: str) -> OpDef:
    """The registered :class:`OpDef` of ``kind``; UnsupportedError naming the registered kinds otherwise."""
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise UnsupportedError(f"unknown op {kind!r}; registered ops: {', '.join(_REGISTRY)}") from None


def op_def_of(op: object) -> OpDef:
    """The :class:`OpDef` of an op attribute instance."""
    found = _BY_TYPE.get(type(op))
    if found is None:
        raise UnsupportedError(f"no registered op for {type(op).__name__}; registered ops: {', '.join(_REGISTRY)}")
    return found


def registered_ops() -> tuple[OpDef, ...]:
    """Every registered op, in registration order."""
    return tuple(_REGISTRY.values())
