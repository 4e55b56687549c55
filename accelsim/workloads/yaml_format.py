"""The workload YAML format: a pydantic schema, shape checking with key-path errors, and the graph builder.

A workload file names a network, its NHWC input shape, a ``quant:`` block (bit widths, per-channel weights,
requantization mode, per-layer overrides) and a list of layers. Each layer reads the previous layer unless it
lists ``inputs:`` (names of earlier layers, or ``input`` for the network input). ``load_workload_yaml`` builds a
quantized :class:`~accelsim.graph.ir.Graph` with shape-only weights; :func:`accelsim.graph.synthetic.
synthesize_weights` fills them. The format is documented in ``docs/workloads.md``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from accelsim.config.loading import deep_merge, read_yaml, validate_model, validation_error_to_config_error
from accelsim.errors import ConfigError, ConfigIssue
from accelsim.graph import ops as O
from accelsim.graph.bias import bias_dtype
from accelsim.graph.builder import GraphBuilder
from accelsim.graph.ir import Graph
from accelsim.graph.ptq import LayerOverride as PtqLayerOverride
from accelsim.graph.ptq import PTQSettings
from accelsim.graph.selectors import COMPACT_FORM, LayerBits, LayerSelector, parse_layer_bits, resolve_layer_bits
from accelsim.graph.shapes import infer_shape
from accelsim.graph.synthetic import nominal_quant_params
from accelsim.quant.requant import MODES

#: Name by which layers refer to the network input.
INPUT_NAME = "input"

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Pair = Union[PositiveInt, tuple[PositiveInt, PositiveInt]]
PaddingSpec = Union[Literal["same", "valid"], tuple[NonNegativeInt, NonNegativeInt, NonNegativeInt, NonNegativeInt]]
ActivationSpec = Literal["none", "relu", "relu6"]
#: Weight widths (signed types int2 / int4 / int8 / int16; accelsim.graph.ptq.WEIGHT_BITS).
WeightBits = Literal[2, 4, 8, 16]
#: Activation widths (int2 / int4 / int8 asymmetric, int16 symmetric; accelsim.graph.ptq.ACTIVATION_BITS): 2- and
#: 4-bit activations are held in int8 storage with values in [-2^(b-1), 2^(b-1) - 1] and move packed in memory.
ActivationBits = Literal[2, 4, 8, 16]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LayerOverride(_Strict):
    """Per-layer quantization settings that differ from the workload's defaults."""

    weight_bits: WeightBits | None = None
    activation_bits: ActivationBits | None = None
    per_channel: bool | None = None


class QuantSpec(_Strict):
    """Workload-wide quantization defaults (the whitepaper's recommended scheme) and per-layer overrides."""

    weight_bits: WeightBits = 8
    activation_bits: ActivationBits = 8
    per_channel: bool = True
    symmetric_weights: bool = True
    requant: str = "fixed_point"
    overrides: dict[str, LayerOverride] = Field(default_factory=dict)
    layer_bits: Union[str, list[Any], None] = Field(
        None, description="Per-layer bit-width selectors (accelsim.graph.selectors), applied in order over the "
        "defaults above and under overrides: a compact string 'depthwise=w8,first=w8a8,last=w8' or a list of "
        "such entries / mappings {select, weight_bits, activation_bits, per_channel}; widths in bits.")

    @field_validator("layer_bits", mode="before")
    @classmethod
    def _plain_entries(cls, v: Any) -> Any:
        """LayerSelector objects (API) become mappings, so the block dumps and merges as plain data; the entries
        themselves are checked by accelsim.graph.selectors.parse_layer_bits (errors at layer_bits[i])."""
        if isinstance(v, (list, tuple)):
            return [{k: x for k, x in dataclasses.asdict(e).items() if x is not None}
                    if isinstance(e, LayerSelector) else e for e in v]
        if v is not None and not isinstance(v, str):
            raise ValueError(f"a compact selector string ({COMPACT_FORM}) or a list of entries")
        return v

    @field_validator("requant")
    @classmethod
    def _known_mode(cls, v: str) -> str:
        if v not in MODES:
            raise ValueError(f"a requantization mode, one of {', '.join(MODES)}")
        return v


class _Layer(_Strict):
    """A workload layer. Class attributes: ``arity`` (min, max) activation inputs, ``needs_4d`` (an NHWC input),
    ``shape_key`` (the attribute a shape mismatch is reported under; None: ``groups`` or ``kernel`` by the
    message); :meth:`to_op` lowers the layer to its IR op."""

    name: str
    inputs: list[str] | None = None
    arity: ClassVar[tuple[int, int]] = (1, 1)
    needs_4d: ClassVar[bool] = True
    shape_key: ClassVar[str | None] = None

    def to_op(self, in_shapes: list[tuple[int, ...]]) -> tuple[O.Op, tuple[int, ...] | None]:
        """The IR op of the layer and its weight shape (OHWI / (O, I); None without weights)."""
        raise NotImplementedError

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        if not v or v == INPUT_NAME:
            raise ValueError(f"a non-empty layer name other than {INPUT_NAME!r}")
        return v


class ConvLayer(_Layer):
    op: Literal["conv"]
    out_channels: int = Field(gt=0)
    kernel: Pair
    stride: Pair = 1
    padding: PaddingSpec = "same"
    dilation: Pair = 1
    groups: int = Field(1, gt=0)
    activation: ActivationSpec = "none"
    bias: bool = True

    def to_op(self, in_shapes: list[tuple[int, ...]]) -> tuple[O.Op, tuple[int, ...] | None]:
        kh, kw = _pair(self.kernel)
        c_in = in_shapes[0][-1]
        if c_in % self.groups:
            raise ValueError(f"{c_in} input channels are not divisible by {self.groups} groups")
        op = O.Conv2D(_pair(self.stride), _pair(self.dilation), _padding(self.padding), self.groups,
                      _activation(self.activation))
        return op, (self.out_channels, kh, kw, c_in // self.groups)


class DepthwiseLayer(_Layer):
    op: Literal["depthwise"]
    kernel: Pair
    stride: Pair = 1
    padding: PaddingSpec = "same"
    dilation: Pair = 1
    depth_multiplier: int = Field(1, gt=0)
    activation: ActivationSpec = "none"
    bias: bool = True

    def to_op(self, in_shapes: list[tuple[int, ...]]) -> tuple[O.Op, tuple[int, ...] | None]:
        kh, kw = _pair(self.kernel)
        c_in = in_shapes[0][-1]
        op = O.Conv2D(_pair(self.stride), _pair(self.dilation), _padding(self.padding), c_in,
                      _activation(self.activation))
        return op, (c_in * self.depth_multiplier, kh, kw, 1)


class FcLayer(_Layer):
    op: Literal["fc"]
    out_channels: int = Field(gt=0)
    activation: ActivationSpec = "none"
    bias: bool = True
    needs_4d: ClassVar[bool] = False
    shape_key: ClassVar[str | None] = "inputs"

    def to_op(self, in_shapes: list[tuple[int, ...]]) -> tuple[O.Op, tuple[int, ...] | None]:
        features = 1
        for d in in_shapes[0][1:]:
            features *= d
        return O.FullyConnected(_activation(self.activation)), (self.out_channels, features)


class AddLayer(_Layer):
    op: Literal["add"]
    activation: ActivationSpec = "none"
    arity: ClassVar[tuple[int, int]] = (2, 2)
    needs_4d: ClassVar[bool] = False
    shape_key: ClassVar[str | None] = "inputs"

    def to_op(self, in_shapes: list[tuple[int, ...]]) -> tuple[O.Op, tuple[int, ...] | None]:
        return O.Add(_activation(self.activation)), None


class PoolLayer(_Layer):
    op: Literal["avgpool", "maxpool"]
    kernel: Pair
    stride: Pair = 1
    padding: PaddingSpec = "same"
    activation: ActivationSpec = "none"

    def to_op(self, in_shapes: list[tuple[int, ...]]) -> tuple[O.Op, tuple[int, ...] | None]:
        cls = O.AvgPool if self.op == "avgpool" else O.MaxPool
        return cls(_pair(self.kernel), _pair(self.stride), _padding(self.padding), _activation(self.activation)), None


class ReluLayer(_Layer):
    """A standalone ReLU / ReLU6, lowered to a 1x1 stride-1 MaxPool with a fused clamp (the IR has no
    separate activation op)."""

    op: Literal["relu", "relu6"]

    def to_op(self, in_shapes: list[tuple[int, ...]]) -> tuple[O.Op, tuple[int, ...] | None]:
        return O.MaxPool((1, 1), (1, 1), "VALID", _activation(self.op)), None


class GapLayer(_Layer):
    op: Literal["gap"]

    def to_op(self, in_shapes: list[tuple[int, ...]]) -> tuple[O.Op, tuple[int, ...] | None]:
        return O.GlobalAveragePool(), None


class ConcatLayer(_Layer):
    op: Literal["concat"]
    axis: int = -1
    arity: ClassVar[tuple[int, int]] = (1, 64)
    needs_4d: ClassVar[bool] = False
    shape_key: ClassVar[str | None] = "inputs"

    def to_op(self, in_shapes: list[tuple[int, ...]]) -> tuple[O.Op, tuple[int, ...] | None]:
        return O.Concat(self.axis), None


class FlattenLayer(_Layer):
    op: Literal["flatten"]
    needs_4d: ClassVar[bool] = False

    def to_op(self, in_shapes: list[tuple[int, ...]]) -> tuple[O.Op, tuple[int, ...] | None]:
        return O.Flatten(), None


class ReshapeLayer(_Layer):
    op: Literal["reshape"]
    shape: tuple[int, ...]
    needs_4d: ClassVar[bool] = False
    shape_key: ClassVar[str | None] = "shape"

    def to_op(self, in_shapes: list[tuple[int, ...]]) -> tuple[O.Op, tuple[int, ...] | None]:
        return O.Reshape(tuple(self.shape)), None


class PadLayer(_Layer):
    op: Literal["pad"]
    pads: tuple[tuple[NonNegativeInt, NonNegativeInt], ...]
    needs_4d: ClassVar[bool] = False
    shape_key: ClassVar[str | None] = "pads"

    def to_op(self, in_shapes: list[tuple[int, ...]]) -> tuple[O.Op, tuple[int, ...] | None]:
        return O.Pad(tuple(tuple(p) for p in self.pads)), None


LAYER_TYPES: dict[str, type[_Layer]] = {
    "conv": ConvLayer, "depthwise": DepthwiseLayer, "fc": FcLayer, "add": AddLayer,
    "avgpool": PoolLayer, "maxpool": PoolLayer, "relu": ReluLayer, "relu6": ReluLayer, "gap": GapLayer,
    "concat": ConcatLayer, "flatten": FlattenLayer, "reshape": ReshapeLayer, "pad": PadLayer,
}
Layer = Union[ConvLayer, DepthwiseLayer, FcLayer, AddLayer, PoolLayer, ReluLayer, GapLayer, ConcatLayer,
              FlattenLayer, ReshapeLayer, PadLayer]


class _Header(_Strict):
    name: str
    description: str = ""
    input_shape: tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt]
    quant: QuantSpec = Field(default_factory=QuantSpec)
    outputs: list[str] | None = None
    layers: list[dict[str, Any]] = Field(min_length=1)


@dataclass(frozen=True)
class WorkloadSpec:
    """A validated workload file: header fields and typed layers (shapes not yet checked)."""

    name: str
    description: str
    input_shape: tuple[int, int, int, int]
    quant: QuantSpec
    layers: tuple[Layer, ...]
    outputs: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LayerQuant:
    """Resolved quantization settings of one layer."""

    weight_bits: int
    activation_bits: int
    per_channel: bool


# --------------------------------------------------------------------------------------------- parsing
#: What the union-typed attributes accept (pydantic would report only one member of the union).
_UNION_EXPECTED = {
    "kernel": "a positive integer or a [h, w] pair of them",
    "stride": "a positive integer or a [h, w] pair of them",
    "dilation": "a positive integer or a [h, w] pair of them",
    "padding": "'same', 'valid' or [top, bottom, left, right] (non-negative integers)",
}


def parse_layer(data: Any, index: int, file: str) -> Layer:
    """Validate one layer mapping; errors name ``layers[index].<key>``."""
    where = f"layers[{index}]"
    if not isinstance(data, dict):
        raise ConfigError(file, where, "a mapping with name, op and the op's attributes", data)
    op = data.get("op")
    if op not in LAYER_TYPES:
        raise ConfigError(file, f"{where}.op", f"one of {', '.join(LAYER_TYPES)}", op if op else "<missing>")
    model = LAYER_TYPES[op]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        moved = validation_error_to_config_error(exc, file).moved(prefix=where).issues
        issues: dict[str, ConfigIssue] = {}
        for error, issue in zip(exc.errors(include_url=False), moved):
            field = str(error["loc"][0]) if error["loc"] else ""
            if field in _UNION_EXPECTED:  # one issue per union attribute, without pydantic's member tags
                key = f"{where}.{field}" + "".join(f"[{p}]" for p in error["loc"][1:] if isinstance(p, int))
                issue = ConfigIssue(key, _UNION_EXPECTED[field], data.get(field))
            issues.setdefault(f"{issue.key_path}\0{issue.expected}", issue)
        first, *more = issues.values()
        raise ConfigError(file, first.key_path, first.expected, first.found, more) from None


def parse_workload(data: Any, file: str) -> WorkloadSpec:
    """Validate a parsed YAML document into a :class:`WorkloadSpec` (schema only; shapes are checked on build)."""
    header = validate_model(_Header, data, file)
    parsed: list[Layer] = []
    errors: list[ConfigError] = []
    for i, d in enumerate(header.layers):
        try:
            parsed.append(parse_layer(d, i, file))
        except ConfigError as exc:  # report the errors of every layer together
            errors.append(exc)
    if errors:
        issues = [issue for exc in errors for issue in exc.issues]
        raise ConfigError(file, issues[0].key_path, issues[0].expected, issues[0].found, issues[1:])
    layers = tuple(parsed)
    seen: set[str] = set()
    for i, layer in enumerate(layers):
        if layer.name in seen:
            raise ConfigError(file, f"layers[{i}].name", "a layer name used only once", layer.name)
        seen.add(layer.name)
    check_override_layers(header.quant, [layer.name for layer in layers], file)
    parse_layer_bits(header.quant.layer_bits, file, "quant.layer_bits")  # syntax now; matches on build
    return WorkloadSpec(header.name, header.description, header.input_shape, header.quant, layers,
                        tuple(header.outputs) if header.outputs is not None else None)


def check_override_layers(quant: QuantSpec, layer_names: Sequence[str], file: str) -> None:
    """Every ``quant.overrides`` key must name a layer; the error lists the layer names (at most 20)."""
    known = set(layer_names)
    for name in quant.overrides:
        if name not in known:
            listed = ", ".join(layer_names[:20]) + (f", … and {len(layer_names) - 20} more"
                                                   if len(layer_names) > 20 else "")
            raise ConfigError(file, f"quant.overrides.{name}", f"the name of a layer ({listed})", name)


def read_workload_spec(path: str | Path) -> WorkloadSpec:
    return parse_workload(read_yaml(path), str(path))


# ----------------------------------------------------------------------------------------------- shapes
def _pair(v: Pair) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _padding(p: PaddingSpec) -> O.Padding:
    return p.upper() if isinstance(p, str) else tuple(int(x) for x in p)  # type: ignore[return-value]


def _activation(a: str) -> O.Activation:
    return a.upper()  # type: ignore[return-value]


def layer_op(layer: Layer, in_shapes: list[tuple[int, ...]]) -> tuple[O.Op, tuple[int, ...] | None]:
    """The IR op of a layer and its weight shape (OHWI / (O, I)), given the input shapes."""
    return layer.to_op(in_shapes)


def _shape_error_key(layer: Layer, message: str) -> str:
    if layer.shape_key is not None:
        return layer.shape_key
    if "channels" in message or "groups" in message:
        return "groups"
    return "kernel"


def layer_shape(layer: Layer, in_shapes: list[tuple[int, ...]], index: int, file: str
                ) -> tuple[O.Op, tuple[int, ...] | None, tuple[int, ...]]:
    """Op, weight shape and output shape of a layer; a mismatch is a ConfigError naming ``layers[i].<key>``."""
    lo, hi = layer.arity
    if not lo <= len(in_shapes) <= hi:
        raise ConfigError(file, f"layers[{index}].inputs", f"{lo}..{hi} input(s) for op {layer.op}",
                          f"{len(in_shapes)} input(s)")
    try:
        if layer.needs_4d and len(in_shapes[0]) != 4:
            raise ValueError(f"op {layer.op} needs a 4-D NHWC input")
        op, w_shape = layer_op(layer, in_shapes)
        out = infer_shape(op, in_shapes + ([w_shape] if w_shape else []))
    except ValueError as exc:
        key = _shape_error_key(layer, str(exc))
        shapes = ", ".join(str(tuple(s)) for s in in_shapes)
        raise ConfigError(file, f"layers[{index}].{key}", f"shapes that fit ({exc})",
                          f"input shape(s) {shapes}") from None
    return op, w_shape, out


# --------------------------------------------------------------------------------------------- building
def resolve_layer_quant(spec: WorkloadSpec, layer_name: str,
                        selected: Mapping[str, LayerBits] | None = None) -> LayerQuant:
    """A layer's settings: the ``quant:`` defaults, then what ``layer_bits`` selected for it (``selected``, from
    :func:`selected_layer_bits`), then its ``overrides`` entry."""
    q = spec.quant
    o = q.overrides.get(layer_name, LayerOverride())
    s = (selected or {}).get(layer_name, LayerBits(None, None, None))

    def pick(field: str, default: Any) -> Any:
        for source in (getattr(o, field), getattr(s, field)):
            if source is not None:
                return source
        return default

    return LayerQuant(
        weight_bits=pick("weight_bits", q.weight_bits),
        activation_bits=pick("activation_bits", q.activation_bits),
        per_channel=pick("per_channel", q.per_channel),
    )


def selected_layer_bits(spec: WorkloadSpec, file: str) -> dict[str, LayerBits]:
    """What ``quant.layer_bits`` sets per MAC layer of ``spec`` (:func:`accelsim.graph.selectors.
    resolve_layer_bits` on the graph built without per-layer settings); ConfigError naming
    ``quant.layer_bits[i]`` for a malformed entry or one that matches no MAC layer."""
    if not spec.quant.layer_bits:
        return {}
    plain = dataclasses.replace(spec, quant=spec.quant.model_copy(update={"layer_bits": None, "overrides": {}}))
    return resolve_layer_bits(build_graph(plain, file), spec.quant.layer_bits, source=file,
                              key_path="quant.layer_bits")


def ptq_settings_of(quant: QuantSpec) -> PTQSettings:
    """The :class:`~accelsim.graph.ptq.PTQSettings` that quantize a float model as a workload ``quant:`` block
    says: widths, ``per_channel`` -> ``weight_per_channel``, ``symmetric_weights`` -> symmetric narrow-range
    weights (as the synthetic weights use), ``requant`` -> ``requant_mode``, ``overrides`` -> per-node
    :class:`~accelsim.graph.ptq.LayerOverride`, ``layer_bits`` as it is (resolved on the float graph by PTQ).
    Observers keep PTQSettings' defaults (min/max)."""
    overrides = tuple(PtqLayerOverride(name, o.weight_bits, o.activation_bits, o.per_channel)
                      for name, o in quant.overrides.items())
    return PTQSettings(weight_bits=quant.weight_bits, activation_bits=quant.activation_bits,
                       weight_per_channel=quant.per_channel, weight_symmetric=quant.symmetric_weights,
                       weight_narrow_range=quant.symmetric_weights, requant_mode=quant.requant,
                       overrides=overrides, layer_bits=quant.layer_bits)


def with_quant(spec: WorkloadSpec, settings: Mapping[str, Any], file: str,
               check_layer_bits: bool = True) -> WorkloadSpec:
    """``spec`` with ``settings`` merged into its ``quant:`` block (nested: ``{"overrides": {"conv1":
    {"weight_bits": 4}}}`` changes one layer); the result is validated, errors name ``quant.<key path>``.
    ``check_layer_bits=False`` leaves the match check of ``layer_bits`` to :func:`build_graph` (which makes it
    anyway; it costs one graph build)."""
    merged = deep_merge(spec.quant.model_dump(exclude_none=True), settings)
    try:
        quant = QuantSpec.model_validate(merged)
    except ValidationError as exc:
        raise validation_error_to_config_error(exc, file).moved(prefix="quant") from None
    check_override_layers(quant, [layer.name for layer in spec.layers], file)
    spec = dataclasses.replace(spec, quant=quant)
    if check_layer_bits:
        selected_layer_bits(spec, file)  # the layer_bits check build_graph makes, before anything runs
    else:
        parse_layer_bits(quant.layer_bits, file, "quant.layer_bits")
    return spec


def build_graph(spec: WorkloadSpec, file: str = "") -> Graph:
    """Build the quantized graph of a workload with shape-only weights and nominal quantization parameters.

    Activations are int2 / int4 / int8 / int16 per ``activation_bits`` (only conv, depthwise and fc may change the width;
    other ops keep their input's), weights int2 / int4 / int8 / int16 per ``weight_bits``, bias int32 (int64 for
    16-bit input activations). Quantization parameters are the nominal ones of
    :func:`accelsim.graph.synthetic.nominal_quant_params`; :func:`~accelsim.graph.synthetic.synthesize_weights`
    replaces them with those of the synthesized weights.
    """
    selected = selected_layer_bits(spec, file)
    b = GraphBuilder(spec.name)
    act_dtype = f"int{spec.quant.activation_bits}"
    b.input(INPUT_NAME, spec.input_shape, act_dtype, None)
    produced: dict[str, str] = {INPUT_NAME: INPUT_NAME}  # layer name -> its output tensor
    last = INPUT_NAME
    layer_quant: dict[str, LayerQuant] = {}
    for i, layer in enumerate(spec.layers):
        layer_inputs = layer.inputs if layer.inputs is not None else [last]
        for j, name in enumerate(layer_inputs):
            if name not in produced:
                raise ConfigError(file, f"layers[{i}].inputs[{j}]",
                                  "the name of an earlier layer (or 'input')", name)
        input_names = [produced[n] for n in layer_inputs]
        tensors = [b.tensors[n] for n in input_names]
        op, w_shape, _ = layer_shape(layer, [t.shape for t in tensors], i, file)
        lq = resolve_layer_quant(spec, layer.name, selected)
        layer_quant[layer.name] = lq
        in_dtype = tensors[0].dtype
        if O.op_def_of(op).ptq == "weights":  # MAC ops set their output width; other ops keep their input's
            out_dtype = f"int{lq.activation_bits}"
        else:
            if any(t.dtype != in_dtype for t in tensors):
                raise ConfigError(file, f"layers[{i}].inputs", "inputs of one activation width",
                                  ", ".join(f"{t.name}: {t.dtype}" for t in tensors))
            if layer.name in spec.quant.overrides and lq.activation_bits != int(in_dtype[3:]):
                raise ConfigError(file, f"quant.overrides.{layer.name}.activation_bits",
                                  f"{int(in_dtype[3:])} (only conv, depthwise and fc change the activation width; "
                                  f"{layer.op} keeps its input's)", lq.activation_bits)
            out_dtype = in_dtype
        inputs = list(input_names)
        if w_shape is not None:
            inputs.append(b.constant(f"{layer.name}/weights", None, f"int{lq.weight_bits}", None, shape=w_shape))
            if layer.bias:  # type: ignore[union-attr]
                inputs.append(b.constant(f"{layer.name}/bias", None, bias_dtype(in_dtype), None, shape=(w_shape[0],)))
        produced[layer.name] = b.op(op, inputs, out_dtype, None, name=layer.name, requant=spec.quant.requant)
        last = layer.name
    output_layers = list(spec.outputs) if spec.outputs is not None else [last]
    for j, name in enumerate(output_layers):
        if name not in produced or name == INPUT_NAME:
            raise ConfigError(file, f"outputs[{j}]", "the name of a layer", name)
    outputs = [produced[n] for n in output_layers]
    per_channel = {name: lq.per_channel for name, lq in layer_quant.items()}
    tensors = nominal_quant_params(b.tensors, b.nodes, b.inputs, per_channel, spec.quant.symmetric_weights)
    metadata = {"source": file or "<spec>", "synthetic_weights": False,
                "symmetric_weights": spec.quant.symmetric_weights, "description": spec.description}
    return Graph(spec.name, tensors, tuple(b.nodes), tuple(b.inputs), tuple(outputs), metadata)


def load_workload_yaml(path: str | Path) -> Graph:
    """Read, validate and build a workload YAML file (shape-only weights; see ``synthesize_weights``)."""
    return build_graph(read_workload_spec(path), str(path))
