"""Post-training quantization (PTQ) of float graphs (Krishnamoorthi 2018, "the whitepaper", §3).

``quantize_graph(float_graph, calibration_inputs, settings)`` runs the float graph on calibration data
(``accelsim.graph.float_exec``), observes the range of every activation that needs its own quantization
parameters, quantizes weights and biases, and returns a quantized graph that ``accelsim.execute`` runs.
``quantize_weights_only`` quantizes and dequantizes the weights of a float graph (float activations), the
whitepaper's "weight only" column.

Which tensors get their own (S, Z): graph inputs and the outputs of Conv2D, FullyConnected, Add, Concat and the
activation ops (runtime-prescribed where ``OpDef.fixed_output`` gives them: TFLite LOGISTIC / TANH).
MaxPool, AvgPool, GlobalAveragePool, Reshape, Flatten and Pad keep their input's parameters (an average or
maximum never leaves its input's range). BatchNorm is already folded by the importer.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Mapping

import numpy as np

from accelsim.errors import UnsupportedError
from accelsim.graph import ops as O
from accelsim.graph.bias import bias_quant_params
from accelsim.graph.float_exec import run_float
from accelsim.graph.ir import Graph, Node, Tensor
from accelsim.graph.selectors import LayerSelector, parse_layer_bits, resolve_layer_bits
from accelsim.quant.params import QuantParams, choose_quant_params, dequantize, dtype_info, quantize
from accelsim.quant.requant import MODES

ActivationObserverName = Literal["minmax", "ema_minmax", "percentile", "mse"]
WeightObserverName = Literal["minmax", "mse"]
ACTIVATION_OBSERVERS = ("minmax", "ema_minmax", "percentile", "mse")
WEIGHT_OBSERVERS = ("minmax", "mse")
WEIGHT_BITS = (2, 4, 8, 16)
#: Activation widths: 2 and 4 bits are held in int8 storage, values in the narrow range of the width.
ACTIVATION_BITS = (2, 4, 8, 16)
#: Ops whose output gets its own calibrated quantization parameters.
def _ptq_rule(node: Node) -> str:
    """The node's :data:`accelsim.graph.ops.registry.PtqRule` (from the op registry)."""
    return O.op_def(node.kind).ptq


@dataclass(frozen=True)
class LayerOverride:
    """Per-node precision: ``weight_bits`` (2/4/8/16) for a Conv2D / FullyConnected, ``activation_bits``
    (2/4/8/16) for the node's output tensor, ``per_channel`` its weight scales (per output channel or per
    tensor). ``None`` keeps the global setting."""

    node: str
    weight_bits: int | None = None
    activation_bits: int | None = None
    per_channel: bool | None = None


@dataclass(frozen=True)
class PTQSettings:
    """Post-training quantization settings.

    Weights:
      * ``weight_bits``: 2, 4, 8 or 16 (types int2 / int4 / int8 / int16; int2 and int4 held in int8 storage).
      * ``weight_symmetric``: Z_w = 0 and S = max|w| / qmax (whitepaper eq. 10); else asymmetric min/max (eq. 1-3)
        with a per-channel or per-tensor zero point in the signed storage type.
      * ``weight_per_channel``: one (S, Z) per output channel (axis 0 of OHWI / (O, I)); else one per tensor.
      * ``weight_narrow_range``: symmetric weights use [-(2^(b-1)-1), 2^(b-1)-1], e.g. int8 [-127, 127]
        (whitepaper eq. 11, the TFLite int8 spec).
      * ``weight_observer``: ``minmax`` (the weight's min and max) or ``mse`` (the clipping range that minimises
        the weight quantization MSE, searched per channel when per-channel).
    Activations:
      * ``activation_bits``: 8 (int8, asymmetric), 16 (int16, symmetric with Z = 0: TFLite's 16x8 mode), or 4 / 2
        (int4 / int2, asymmetric exactly as int8 with the narrower range: S = (max − min) / (2^b − 1), Z in
        [−2^(b−1), 2^(b−1) − 1]; held in int8 storage, every value in [−2^(b−1), 2^(b−1) − 1], i.e. int4
        [−8, 7], int2 [−2, 1]). The requantizer (``requant_mode``, rounding as named there) clamps to that range.
      * ``activation_observer``: ``minmax`` (global min/max over all calibration data), ``ema_minmax`` (exponential
        moving average of per-batch min/max, the whitepaper's §3 calibration), ``percentile`` (the
        ``100 − percentile`` and ``percentile`` percentiles of all observed values) or ``mse`` (the clipping range
        minimising the activation quantization MSE).
      * ``ema_decay``: weight of the running value in ``ema_minmax``: ``r ← decay·r + (1 − decay)·batch``.
      * ``percentile``: upper percentile in %, e.g. 99.99 (the lower one is 100 − percentile).
      * ``calibration_batch_size``: images per calibration batch (the EMA observes one value per batch).
    Arithmetic:
      * ``requant_mode``: requantization mode of every node (accelsim.quant.requant.MODES), default TFLite's
        ``fixed_point``; the executor switches 16-bit nodes to ``fixed_point_int64`` as TFLite does.
      * ``overrides``: per-node :class:`LayerOverride` precisions (mixed precision).
      * ``layer_bits``: per-layer selectors (:mod:`accelsim.graph.selectors`: op kind ``depthwise`` /
        ``pointwise`` / ``conv`` / ``fc``, ``first`` / ``last``, name glob), a compact string such as
        ``"depthwise=w8,first=w8a8,last=w8"`` or a sequence of entries; validated on construction, resolved
        against the graph by :meth:`for_graph`. Precedence: global < ``layer_bits`` (in order) < ``overrides``.
    Biases are int32 (int64 when the node's input activation is 16-bit), quantized at ``S_x·S_w[c]`` with Z = 0.
    """

    weight_bits: int = 8
    weight_symmetric: bool = True
    weight_per_channel: bool = True
    weight_narrow_range: bool = False
    weight_observer: WeightObserverName = "minmax"
    activation_bits: int = 8
    activation_observer: ActivationObserverName = "minmax"
    ema_decay: float = 0.9
    percentile: float = 99.99
    calibration_batch_size: int = 32
    requant_mode: str = "fixed_point"
    overrides: tuple[LayerOverride, ...] = field(default_factory=tuple)
    layer_bits: tuple[LayerSelector, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", tuple(self.overrides))
        object.__setattr__(self, "layer_bits", parse_layer_bits(self.layer_bits, "PTQSettings", "layer_bits"))
        checks = [
            (self.weight_bits in WEIGHT_BITS, f"weight_bits must be one of {WEIGHT_BITS}, found {self.weight_bits}"),
            (self.activation_bits in ACTIVATION_BITS,
             f"activation_bits must be one of {ACTIVATION_BITS}, found {self.activation_bits}"),
            (self.weight_observer in WEIGHT_OBSERVERS,
             f"weight_observer must be one of {WEIGHT_OBSERVERS}, found {self.weight_observer!r}"),
            (self.activation_observer in ACTIVATION_OBSERVERS,
             f"activation_observer must be one of {ACTIVATION_OBSERVERS}, found {self.activation_observer!r}"),
            (0.0 <= self.ema_decay < 1.0, f"ema_decay must be in [0, 1), found {self.ema_decay}"),
            (50.0 < self.percentile <= 100.0, f"percentile must be in (50, 100], found {self.percentile}"),
            (self.calibration_batch_size >= 1, "calibration_batch_size must be >= 1"),
            (self.requant_mode in MODES, f"requant_mode must be one of {list(MODES)}, found {self.requant_mode!r}"),
        ]
        for o in self.overrides:
            checks.append((o.weight_bits in (None, *WEIGHT_BITS),
                           f"override {o.node!r}: weight_bits must be one of {WEIGHT_BITS}, found {o.weight_bits}"))
            checks.append((o.activation_bits in (None, *ACTIVATION_BITS),
                           f"override {o.node!r}: activation_bits must be one of {ACTIVATION_BITS}, "
                           f"found {o.activation_bits}"))
        for ok, message in checks:
            if not ok:
                raise UnsupportedError(f"PTQSettings: {message}")

    def weight_bits_of(self, node: str) -> int:
        for o in self.overrides:
            if o.node == node and o.weight_bits is not None:
                return o.weight_bits
        return self.weight_bits

    def activation_bits_of(self, node: str | None) -> int:
        for o in self.overrides:
            if o.node == node and o.activation_bits is not None:
                return o.activation_bits
        return self.activation_bits

    def per_channel_of(self, node: str) -> bool:
        """Whether ``node``'s weights get per-output-channel scales (override-aware)."""
        for o in self.overrides:
            if o.node == node and o.per_channel is not None:
                return o.per_channel
        return self.weight_per_channel

    def for_graph(self, graph: Graph) -> PTQSettings:
        """These settings with ``layer_bits`` resolved on ``graph`` into per-node overrides (after the explicit
        ``overrides``, which therefore win); ConfigError naming ``layer_bits[i]`` for a selector that matches no
        MAC layer. Settings without selectors are returned as they are."""
        if not self.layer_bits:
            return self
        resolved = resolve_layer_bits(graph, self.layer_bits, source="PTQSettings", key_path="layer_bits")
        derived = tuple(LayerOverride(name, *bits) for name, bits in resolved.items())
        return replace(self, overrides=self.overrides + derived, layer_bits=())


# ------------------------------------------------------------------------------------------------ observers
class MinMaxObserver:
    """Global minimum and maximum of everything observed."""

    def __init__(self) -> None:
        self.lo, self.hi = np.inf, -np.inf

    def update(self, x: np.ndarray) -> None:
        self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))

    def range(self) -> tuple[float, float]:
        return self.lo, self.hi


class EmaMinMaxObserver:
    """Exponential moving average of per-batch min and max: ``r ← decay·r + (1 − decay)·r_batch``; the first
    batch initialises ``r`` (whitepaper §3: moving averages of min/max over batches)."""

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.lo: float | None = None
        self.hi: float | None = None

    def update(self, x: np.ndarray) -> None:
        lo, hi = float(x.min()), float(x.max())
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:
            self.lo = self.decay * self.lo + (1 - self.decay) * lo
            self.hi = self.decay * self.hi + (1 - self.decay) * hi

    def range(self) -> tuple[float, float]:
        return float(self.lo), float(self.hi)


class _ValueCollector:
    """Keeps every observed value (float32) for the histogram-style observers."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []

    def update(self, x: np.ndarray) -> None:
        self.chunks.append(np.asarray(x, np.float32).reshape(-1))

    def values(self) -> np.ndarray:
        return np.concatenate(self.chunks)


class PercentileObserver(_ValueCollector):
    """``[percentile(100 − p), percentile(p)]`` of all observed values (numpy's linear interpolation)."""

    def __init__(self, percentile: float) -> None:
        super().__init__()
        self.percentile = percentile

    def range(self) -> tuple[float, float]:
        lo, hi = np.percentile(self.values(), [100.0 - self.percentile, self.percentile])
        return float(lo), float(hi)


class MseObserver(_ValueCollector):
    """The clipping range minimising the quantize-dequantize MSE of the observed values (see :func:`mse_range`)."""

    def __init__(self, dtype: str, symmetric: bool) -> None:
        super().__init__()
        self.dtype, self.symmetric = dtype, symmetric

    def range(self) -> tuple[float, float]:
        return mse_range(self.values(), self.dtype, self.symmetric)


def quantization_mse(x: np.ndarray, lo: float, hi: float, dtype: str, symmetric: bool,
                     narrow_range: bool = False) -> float:
    """Mean squared error of quantizing ``x`` with the parameters chosen for the range [lo, hi]."""
    qp = choose_quant_params(lo, hi, dtype, symmetric=symmetric, narrow_range=narrow_range)
    q = quantize(x, qp, dtype, rounding="half_to_even", narrow_range=narrow_range)
    return float(np.mean((dequantize(q, qp).astype(np.float64) - x) ** 2))


def mse_range(x: np.ndarray, dtype: str, symmetric: bool, narrow_range: bool = False,
              candidates: int = 100) -> tuple[float, float]:
    """Grid search of the clipping range: ``[α·min, α·max]`` for α in (0, 1] (``candidates`` steps), keeping the α
    with the smallest quantization MSE on ``x``. α = 1 (min/max) is always a candidate, so the result never does
    worse than min/max on the observed data. Values beyond 2^20 are subsampled with a fixed seed."""
    x = np.asarray(x, np.float32).reshape(-1)
    if x.size > 1 << 20:
        x = np.random.default_rng(0).choice(x, 1 << 20, replace=False)
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    if lo == hi:
        return lo, hi
    best, best_err = (lo, hi), np.inf
    for alpha in np.linspace(1.0, 1.0 / candidates, candidates):
        err = quantization_mse(x, alpha * lo, alpha * hi, dtype, symmetric, narrow_range)
        if err < best_err:
            best, best_err = (alpha * lo, alpha * hi), err
    return float(best[0]), float(best[1])


def make_observer(settings: PTQSettings, dtype: str):
    """The activation observer named in ``settings`` for a tensor of storage type ``dtype``."""
    name = settings.activation_observer
    if name == "minmax":
        return MinMaxObserver()
    if name == "ema_minmax":
        return EmaMinMaxObserver(settings.ema_decay)
    if name == "percentile":
        return PercentileObserver(settings.percentile)
    return MseObserver(dtype, symmetric=dtype == "int16")


# ------------------------------------------------------------------------------------------------ weights
def weight_dtype(bits: int) -> str:
    """Signed type of ``bits``-bit weights: int2, int4, int8 or int16."""
    return {2: "int2", 4: "int4", 8: "int8", 16: "int16"}[bits]


def activation_dtype(bits: int) -> str:
    """Type of ``bits``-bit activations: int2 / int4 / int8 (asymmetric) or int16 (symmetric, Z = 0)."""
    return {2: "int2", 4: "int4", 8: "int8", 16: "int16"}[bits]


def weight_quant_params(w: np.ndarray, bits: int, settings: PTQSettings,
                        per_channel: bool | None = None) -> QuantParams:
    """(S, Z) of a weight tensor whose output channels run along axis 0; ``per_channel`` None: the settings'."""
    per_channel = settings.weight_per_channel if per_channel is None else per_channel
    dtype = weight_dtype(bits)
    narrow = settings.weight_narrow_range and settings.weight_symmetric
    rows = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
    if settings.weight_observer == "mse":
        ranges = [mse_range(r, dtype, settings.weight_symmetric, narrow) for r in rows]
        lo, hi = np.array([r[0] for r in ranges]), np.array([r[1] for r in ranges])
    else:
        lo, hi = rows.min(axis=1), rows.max(axis=1)
    axis = 0 if per_channel else None
    return choose_quant_params(lo, hi, dtype, symmetric=settings.weight_symmetric, narrow_range=narrow, axis=axis)


def quantize_weights(w: np.ndarray, bits: int, settings: PTQSettings,
                     per_channel: bool | None = None) -> tuple[np.ndarray, str, QuantParams]:
    """Integer weights (round half to even, clamped), their storage type and (S, Z)."""
    qp = weight_quant_params(w, bits, settings, per_channel)
    dtype = weight_dtype(bits)
    narrow = settings.weight_narrow_range and settings.weight_symmetric
    return quantize(w, qp, dtype, rounding="half_to_even", narrow_range=narrow), dtype, qp


def quantize_bias(b: np.ndarray, x_scale: float, w_quant: QuantParams, dtype: str) -> tuple[np.ndarray, QuantParams]:
    """``q_b[c] = round(b[c] / (S_x·S_w[c]))`` in int32 / int64, Z = 0 (Jacob eq. 11)."""
    scale = np.float64(np.float32(x_scale)) * w_quant.scale.astype(np.float64)
    info = dtype_info(dtype)
    q = np.clip(np.rint(np.asarray(b, np.float64) / scale), info.qmin, info.qmax).astype(info.storage)
    return q, bias_quant_params(QuantParams.per_tensor(x_scale), w_quant)


def quantize_weights_only(float_graph: Graph, settings: PTQSettings) -> Graph:
    """A float graph whose Conv2D / FullyConnected weights are quantized and dequantized (float activations and
    biases): the whitepaper's "weight only" evaluation."""
    _require_float(float_graph)
    settings = settings.for_graph(float_graph)
    tensors = dict(float_graph.tensors)
    for node in float_graph.nodes:
        if _ptq_rule(node) != "weights":
            continue
        w = tensors[node.inputs[1]]
        q, _, qp = quantize_weights(w.data, settings.weight_bits_of(node.name), settings,
                                    settings.per_channel_of(node.name))
        tensors[w.name] = replace(w, data=dequantize(q, qp))
    return float_graph.replace(tensors=tensors, metadata={"weights_only_quantized": True})


# ---------------------------------------------------------------------------------------------- the graph
def activation_widths(float_graph: Graph, settings: PTQSettings) -> dict[str, int]:
    """The bit width every activation tensor will get: graph inputs ``settings.activation_bits``, Conv2D / FC
    outputs their node's (override-aware) width, Add / Concat the common width of their inputs, other ops their
    input's. Used by calibration (observer type) and quantization alike."""
    settings = settings.for_graph(float_graph)
    widths = {name: settings.activation_bits for name in float_graph.inputs}
    for node in float_graph.nodes:
        rule = _ptq_rule(node)
        if rule == "weights":
            bits = settings.activation_bits_of(node.name)
        elif rule == "calibrate":
            in_bits = {widths[i] for i in node.inputs[:O.op_def(node.kind).activation_count(len(node.inputs))]
                       if not float_graph.tensors[i].is_constant}   # a constant operand is quantized on its own
            if len(in_bits) != 1:
                raise UnsupportedError(f"PTQ: node {node.name!r} ({node.kind}) has inputs of different widths "
                                       f"{sorted(in_bits)}; give its producers the same activation_bits")
            bits = in_bits.pop()
            if settings.activation_bits_of(node.name) != bits and any(o.node == node.name for o in settings.overrides):
                raise UnsupportedError(f"PTQ: node {node.name!r} ({node.kind}) keeps its inputs' {bits}-bit width; "
                                       f"an activation_bits override applies to Conv2D / FullyConnected only")
        else:
            bits = widths[node.inputs[0]]
        widths[node.outputs[0]] = bits
    return widths


def calibrate(float_graph: Graph, calibration_inputs: Mapping[str, np.ndarray], settings: PTQSettings
              ) -> dict[str, tuple[float, float]]:
    """Observed float range ``(lo, hi)`` of every tensor that gets its own quantization parameters."""
    _require_float(float_graph)
    settings = settings.for_graph(float_graph)
    targets = {name: None for name in float_graph.inputs}
    for node in float_graph.nodes:
        if _ptq_rule(node) != "inherit":
            targets[node.outputs[0]] = node.name
    widths = activation_widths(float_graph, settings)
    observers = {t: make_observer(settings, activation_dtype(widths[t])) for t in targets}
    count = _batch_count(float_graph, calibration_inputs)
    for start in range(0, count, settings.calibration_batch_size):
        batch = {k: np.asarray(v)[start:start + settings.calibration_batch_size]
                 for k, v in calibration_inputs.items()}
        values = run_float(float_graph, batch)
        for name, observer in observers.items():
            observer.update(values[name])
    return {name: observer.range() for name, observer in observers.items()}


def quantize_graph(float_graph: Graph, calibration_inputs: Mapping[str, np.ndarray],
                   settings: PTQSettings = PTQSettings()) -> Graph:
    """Quantize a float graph with ranges calibrated on ``calibration_inputs`` (float NHWC arrays by input name).

    Returns a quantized graph with the float graph's shapes (see :func:`with_batch_size` to change N).
    """
    known = {n.name for n in float_graph.nodes}
    unknown = [o.node for o in settings.overrides if o.node not in known]
    if unknown:
        raise UnsupportedError(f"PTQ overrides name unknown node(s) {unknown}; graph nodes: {sorted(known)}")
    original, settings = settings, settings.for_graph(float_graph)
    widths = activation_widths(float_graph, settings)
    ranges = calibrate(float_graph, calibration_inputs, settings)
    tensors: dict[str, Tensor] = {}
    for name, t in float_graph.tensors.items():
        if not t.is_constant:
            tensors[name] = t  # replaced below
    for name in float_graph.inputs:
        tensors[name] = _activation_tensor(float_graph.tensors[name], ranges[name], settings.activation_bits)
    nodes: list[Node] = []
    for node in float_graph.nodes:
        out = float_graph.tensors[node.outputs[0]]
        x = tensors[node.inputs[0]]
        inputs = list(node.inputs)
        rule = _ptq_rule(node)
        if rule == "weights":
            out_t = _activation_tensor(out, ranges[out.name], widths[out.name])
            inputs[1:] = _quantize_mac_constants(float_graph, node, x, settings, tensors)
        elif rule == "calibrate":
            out_t = _activation_tensor(out, ranges[out.name], widths[out.name])
            out_t = _fixed_output(node, out_t, settings.requant_mode)
            activations = O.op_def(node.kind).activation_count(len(node.inputs))
            inputs = [_quantize_op_constant(float_graph, name, settings, tensors)
                      if k >= activations or float_graph.tensors[name].is_constant else name
                      for k, name in enumerate(inputs)]   # the PReLU slope, a constant operand of Add / Mul
        else:
            out_t = replace(out, dtype=x.dtype, quant=x.quant)
        tensors[out.name] = out_t
        nodes.append(replace(node, inputs=tuple(inputs), requant=settings.requant_mode))
    metadata = {"ptq_settings": original, "quantized": True}
    return Graph(float_graph.name, tensors, tuple(nodes), float_graph.inputs, float_graph.outputs,
                 {**float_graph.metadata, **metadata})


def _fixed_output(node: Node, out_t: Tensor, requant_mode: str) -> Tensor:
    """The output with the (scale, zero point) the runtime of ``requant_mode`` prescribes for the op, if any
    (its registry ``fixed_output``; e.g. TFLite LOGISTIC / TANH)."""
    rule = O.op_def(node.kind).fixed_output
    fixed = None if rule is None else rule(node.op, out_t.dtype, requant_mode)
    return out_t if fixed is None else replace(out_t, quant=QuantParams.per_tensor(*fixed))


def _quantize_op_constant(graph: Graph, name: str, settings: PTQSettings, tensors: dict[str, Tensor]) -> str:
    """A float constant operand of a calibrated op (the PReLU slope, the constant of an Add / Sub / Mul): 8-bit per
    tensor, symmetric or asymmetric as the weights (``weight_symmetric``), rounded half to even."""
    t = graph.tensors[name]
    if t.data is None:
        raise UnsupportedError(f"PTQ: constant {name!r} has no data")
    if not t.is_constant or not dtype_info(t.dtype).is_float:
        return name
    data = np.asarray(t.data, np.float64)
    if settings.weight_symmetric:
        amax = float(np.max(np.abs(data))) or 1.0
        qp = choose_quant_params(-amax, amax, "int8", symmetric=True, narrow_range=True)
    else:
        qp = choose_quant_params(min(float(data.min()), 0.0), max(float(data.max()), 0.0), "int8")
    q = quantize(data, qp, "int8", rounding="half_to_even")
    tensors[name] = Tensor(name, t.shape, "int8", qp, q, is_constant=True)
    return name


def _activation_tensor(t: Tensor, rng: tuple[float, float], bits: int) -> Tensor:
    dtype = activation_dtype(bits)
    qp = choose_quant_params(rng[0], rng[1], dtype, symmetric=bits == 16)
    return replace(t, dtype=dtype, quant=qp)


def _quantize_mac_constants(graph: Graph, node: Node, x: Tensor, settings: PTQSettings,
                            tensors: dict[str, Tensor]) -> list[str]:
    w = graph.tensors[node.inputs[1]]
    if w.data is None:
        raise UnsupportedError(f"PTQ: node {node.name!r}: weights {w.name!r} have no data")
    q, dtype, qp = quantize_weights(w.data, settings.weight_bits_of(node.name), settings,
                                    settings.per_channel_of(node.name))
    tensors[w.name] = Tensor(w.name, w.shape, dtype, qp, q, is_constant=True)
    names = [w.name]
    if len(node.inputs) > 2:
        b = graph.tensors[node.inputs[2]]
        bias_dtype = "int64" if x.bits == 16 else "int32"
        qb, bqp = quantize_bias(b.data, float(x.quant.scale[0]), qp, bias_dtype)
        tensors[b.name] = Tensor(b.name, b.shape, bias_dtype, bqp, qb, is_constant=True)
        names.append(b.name)
    return names


def _batch_count(graph: Graph, inputs: Mapping[str, np.ndarray]) -> int:
    missing = [n for n in graph.inputs if n not in inputs]
    if missing:
        raise UnsupportedError(f"PTQ: calibration inputs miss graph input(s) {missing}")
    counts = {np.asarray(inputs[n]).shape[0] for n in graph.inputs}
    if len(counts) != 1 or 0 in counts:
        raise UnsupportedError(f"PTQ: calibration inputs must share a non-zero batch size, found {sorted(counts)}")
    return counts.pop()


def _require_float(graph: Graph) -> None:
    if not graph.is_float:
        raise UnsupportedError(f"PTQ needs a float graph; {graph.name!r} is already quantized")


def with_batch_size(graph: Graph, batch: int) -> Graph:
    """The same graph with leading (batch) dimension ``batch`` on every activation tensor and Reshape target."""
    tensors = {name: t if t.is_constant else replace(t, shape=(batch, *t.shape[1:]))
               for name, t in graph.tensors.items()}
    nodes = [n if (rule := O.op_def(n.kind).with_batch) is None else replace(n, op=rule(n.op, batch))
             for n in graph.nodes]
    return graph.replace(tensors=tensors, nodes=nodes)
