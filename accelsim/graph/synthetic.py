"""Synthetic, deterministic weights and the activation / bias quantization parameters that go with them.

Why synthetic weights: the simulator needs integer weights to execute a network and to cost weight
compression, but the zoo's trained checkpoints are not shipped. The distribution is chosen to reproduce the two
properties of trained, batch-norm-folded networks that matter for a fixed-point accelerator:

* **Per-channel spread.** Folding BN multiplies each output channel's weights by ``γ/σ``, so channel ranges
  differ widely; in MobileNets' depthwise layers by more than 100x (Krishnamoorthi 2018, App. A and Fig. 2;
  Jacob et al. 2018 §3). Each output channel ``o`` gets a scale factor ``f_o = exp(σ_ln·z_o − σ_ln²)``,
  ``z_o ~ N(0, 1)`` (log-normal, normalised so that ``E[f²] = 1``), with ``σ_ln`` = ``LOG_SPREAD_DEPTHWISE``
  (1.2) for depthwise convs and ``LOG_SPREAD`` (0.8) for the others. In the zoo's MobileNet-v1 the max/min
  channel range ratio is then 270-4500 in the 3x3 depthwise layers (the maximum of 9 samples adds to the
  spread) and 27-250 in the others. Per-tensor quantization of such weights leaves most channels with a
  small part of the levels, as on real MobileNets.
* **Peaked, low-entropy values.** Within a channel weights are Laplace(0, b_o) — trained conv weights are
  heavy-tailed and peaked at zero — so quantized weights are zero-heavy and entropy coders / zero-skipping
  codecs have something to compress. ``b_o = f_o·sqrt(gain / fan_in) / sqrt(2)`` (He et al. 2015 scaling,
  ``gain`` 2 before a ReLU, 1 otherwise), so activations keep a stable magnitude through depth.

Weights are quantized per channel or per tensor as the weight tensor's existing quantization says,
symmetric (narrow range, e.g. int8 in [−127, 127]) unless ``graph.metadata["symmetric_weights"]`` is False.
Biases (``N(0, (b_scale·std_o)²)`` with ``BIAS_STD_RATIO`` = 0.5 of the channel's pre-bias output std, as
BN-folded biases are of that order) are int32 / int64 with scale ``S_x·S_w[o]``.

Activation scales are derived by propagating the mean square of each tensor through the graph: the input is
taken as images scaled to [−1, 1] (mean square 1/3, TF-slim preprocessing); a conv / FC output channel has
``E[y_o²] = Σ w_o² · E[x²] + bias_o²``; the tensor's range is ``±RANGE_STDS`` (4) standard deviations, ``[0, 4σ]``
after a ReLU and ``[0, min(6, 4σ)]`` after ReLU6; Add sums mean squares; Concat averages them per channel; a
calibrated op with one activation input (sigmoid, hard-swish, PReLU, ...) takes its range from its float reference
over every input code (``_unary_output``); any other calibrated op gets the mean square of its float reference
applied to Gaussian samples of its inputs' mean squares (``_sampled_output_moments``).
int8 activations are asymmetric, int16 symmetric (zero point 0, TFLite's 16x8 scheme).

Determinism: every tensor draws from its own ``numpy.random.default_rng`` seeded with ``(seed, hash(name))``,
so results do not depend on layer order or on which other layers exist.
"""
from __future__ import annotations

import hashlib
import math
from statistics import NormalDist
from dataclasses import replace
from typing import Mapping, Sequence

import numpy as np

from accelsim.errors import UnsupportedError
from accelsim.graph import ops as O
from accelsim.graph.bias import bias_quant_params
from accelsim.graph.ir import Graph, Node, Tensor
from accelsim.graph.stats import is_depthwise
from accelsim.quant.params import QuantParams, choose_quant_params, dequantize, dtype_info

LOG_SPREAD = 0.8
LOG_SPREAD_DEPTHWISE = 1.2
BIAS_STD_RATIO = 0.5
RANGE_STDS = 4.0
INPUT_RANGE = (-1.0, 1.0)
INPUT_MEAN_SQUARE = 1.0 / 3.0


def tensor_rng(seed: int, tensor_name: str) -> np.random.Generator:
    """An independent random stream per (seed, tensor name)."""
    digest = hashlib.sha256(tensor_name.encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def _gain(node: Node) -> float:
    return 2.0 if node.op.activation in ("RELU", "RELU6") else 1.0


_LAPLACE_BITS = 16


def _standard_laplace_quantiles() -> np.ndarray:
    """Quantiles of Laplace(0, 1) at the centres of 2^16 equiprobable bins (inverse-CDF sampling table)."""
    p = (np.arange(1 << _LAPLACE_BITS, dtype=np.float64) + 0.5) / (1 << _LAPLACE_BITS)
    return np.where(p < 0.5, np.log(2 * p), -np.log(2 * (1 - p))).astype(np.float32)


_LAPLACE_TABLE = _standard_laplace_quantiles()


def draw_float_weights(w: Tensor, node: Node, depthwise: bool, seed: int) -> np.ndarray:
    """Float32 weights of shape ``w.shape``: Laplace within a channel, log-normal scale across channels.

    Laplace values are drawn by inverse CDF from 16 random bits (tails cut at ±10.4 b, beyond the expected
    maximum of any layer's fan-in), which is several times faster than ``Generator.laplace``.
    """
    rng = tensor_rng(seed, w.name)
    out_channels = w.shape[0]
    fan_in = w.size // out_channels
    sigma = LOG_SPREAD_DEPTHWISE if depthwise else LOG_SPREAD
    factor = np.exp(sigma * rng.standard_normal(out_channels) - sigma * sigma)
    laplace_b = (factor * math.sqrt(_gain(node) / fan_in / 2.0)).astype(np.float32)
    index = rng.integers(0, 1 << _LAPLACE_BITS, (out_channels, fan_in), dtype=np.uint16)
    values = _LAPLACE_TABLE[index]
    values *= laplace_b[:, None]
    return values.reshape(w.shape)


def quantize_weights(w: np.ndarray, dtype: str, per_channel: bool, symmetric: bool) -> tuple[np.ndarray, QuantParams]:
    """Quantize float weights (axis 0 = output channel); symmetric uses the narrow range ``[−qmax, qmax]``."""
    info = dtype_info(dtype)
    flat = w.reshape(w.shape[0], -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    if not per_channel:
        lo, hi = lo.min(keepdims=True), hi.max(keepdims=True)
    if symmetric and info.signed:
        amax = np.maximum(np.maximum(-lo, hi), 1e-12)
        qp = choose_quant_params(-amax, amax, dtype, symmetric=True, narrow_range=True,
                                 axis=0 if per_channel else None)
        qmin, qmax = -info.qmax, info.qmax
    else:
        qp = choose_quant_params(lo, hi, dtype, axis=0 if per_channel else None)
        qmin, qmax = info.qmin, info.qmax
    inv_scale = (1.0 / qp.scale.astype(np.float64)).astype(np.float32)
    q = flat * (inv_scale[:, None] if per_channel else inv_scale[0])
    np.rint(q, out=q)
    if qp.zero_point.any():
        q += (qp.zero_point[:, None] if per_channel else qp.zero_point[0]).astype(np.float32)
    np.clip(q, qmin, qmax, out=q)
    return q.astype(info.storage).reshape(w.shape), qp


def activation_quant(mean_square: float, nonneg: bool, activation: str, dtype: str) -> QuantParams:
    """Quantization of an activation with the given real mean square (see the module docstring)."""
    rmax = RANGE_STDS * math.sqrt(max(mean_square, 1e-12))
    if activation == "RELU6":
        rmax = min(rmax, 6.0)
    rmin = 0.0 if nonneg or activation in ("RELU", "RELU6") else -rmax
    return choose_quant_params(rmin, rmax, dtype, symmetric=dtype == "int16")


def _after_activation(mean_square: float, activation: str) -> tuple[float, bool]:
    if activation == "RELU":
        return mean_square / 2.0, True
    if activation == "RELU6":
        return min(mean_square / 2.0, 36.0), True
    return mean_square, False


#: Largest extent per dimension of the samples that :func:`_sampled_output_moments` draws (broadcast dimensions
#: of extent 1 stay 1, so broadcasting ops see their real broadcast pattern).
SAMPLE_EXTENT = 8


def _sampled_output_moments(node: Node, xs: Sequence[Tensor], mean_square: Mapping[str, float],
                            nonneg: Mapping[str, bool]) -> tuple[float, bool]:
    """Mean square and sign of a calibrated op's output (sigmoid, hard-swish, mul, softmax, ...), for any op with
    a float reference: its activation inputs are drawn as N(0, E[x²]) (|N| for non-negative tensors, the same
    mean square) on shapes capped at ``SAMPLE_EXTENT`` per dimension, passed through the op's registered float
    reference, and the output's mean square and minimum measured. Deterministic (fixed seed)."""
    definition = O.op_def(node.kind)
    rng = np.random.default_rng(0)
    args = []
    for t in xs[:definition.activation_count(len(xs))]:
        shape = tuple(min(d, SAMPLE_EXTENT) for d in t.shape)
        draw = rng.standard_normal(shape) * math.sqrt(max(mean_square[t.name], 1e-12))
        args.append(np.abs(draw) if nonneg[t.name] else draw)
    y = np.asarray(definition.float_ref(node.op, args), np.float64)
    return float(np.mean(y * y)), bool(y.min() >= 0.0)


def _scale_column(qp: QuantParams, channels: int) -> np.ndarray:
    """Per-channel scales as float64, a per-tensor scale repeated ``channels`` times."""
    return qp.scale.astype(np.float64) if qp.axis is not None else np.full(channels, float(qp.scale[0]))


def assign_quant_params(
    tensors: Mapping[str, Tensor], nodes: Sequence[Node], inputs: Sequence[str],
    per_channel: Mapping[str, bool], symmetric: bool, seed: int | None,
) -> dict[str, Tensor]:
    """New tensors with quantization parameters (and, when ``seed`` is given, synthesized weights and biases).

    With ``seed=None`` weights stay shape-only and get nominal parameters: every channel factor ``f_o = 1``,
    weight range ``±RANGE_STDS·std`` (symmetric narrow range or asymmetric per ``symmetric``), zero biases. ``nodes`` must be in topological order.
    """
    out = dict(tensors)
    mean_square: dict[str, float] = {}
    nonneg: dict[str, bool] = {}
    for name in inputs:
        t = out[name]
        out[name] = replace(t, quant=choose_quant_params(*INPUT_RANGE, t.dtype, symmetric=t.dtype == "int16"))
        mean_square[name], nonneg[name] = INPUT_MEAN_SQUARE, False
    for node in nodes:
        y = out[node.outputs[0]]
        xs = [out[i] for i in node.inputs]
        kind = node.kind
        rule = O.op_def(kind).ptq
        if rule == "weights":
            x, w = xs[0], xs[1]
            channels = w.shape[0]
            dw = is_depthwise(node.op, x.shape[-1])
            if seed is None:
                fan_in = w.size // channels
                std = math.sqrt(_gain(node) / fan_in)
                info = dtype_info(w.dtype)
                amax = np.full(channels if per_channel[node.name] else 1, RANGE_STDS * std)
                narrow = symmetric and info.signed  # as quantize_weights: symmetric narrow, else asymmetric
                w_qp = choose_quant_params(-amax, amax, w.dtype, symmetric=symmetric, narrow_range=narrow,
                                           axis=0 if per_channel[node.name] else None)
                out[w.name] = replace(w, quant=w_qp, data=None)
                sum_sq = np.full(channels, _gain(node))
            else:
                wf = draw_float_weights(w, node, dw, seed)
                q, w_qp = quantize_weights(wf, w.dtype, per_channel[node.name], symmetric)
                out[w.name] = replace(w, quant=w_qp, data=q)
                flat = wf.reshape(channels, -1)
                sum_sq = np.einsum("ij,ij->i", flat, flat).astype(np.float64)
            pre_ms = sum_sq * mean_square[x.name]  # one E[x²] for all input channels (depthwise included)
            if len(xs) == 3:
                bias = xs[2]
                bias_qp = bias_quant_params(x.quant, w_qp)
                bias_scale = _scale_column(bias_qp, channels)
                if seed is None:
                    out[bias.name] = replace(bias, quant=bias_qp, data=None)
                else:
                    b_real = tensor_rng(seed, bias.name).standard_normal(channels) * BIAS_STD_RATIO * np.sqrt(pre_ms)
                    info = dtype_info(bias.dtype)
                    b_int = np.clip(np.rint(b_real / bias_scale), info.qmin, info.qmax).astype(info.storage)
                    out[bias.name] = replace(bias, quant=bias_qp, data=b_int)
                    pre_ms = pre_ms + (b_int.astype(np.float64) * bias_scale) ** 2
            ms = float(np.mean(pre_ms))
            out[y.name] = replace(y, quant=activation_quant(ms, False, node.op.activation, y.dtype))
            mean_square[y.name], nonneg[y.name] = _after_activation(ms, node.op.activation)
        elif kind == "Add":
            ms = mean_square[xs[0].name] + mean_square[xs[1].name]
            both = nonneg[xs[0].name] and nonneg[xs[1].name]
            out[y.name] = replace(y, quant=activation_quant(ms, both, node.op.activation, y.dtype))
            ms_after, relu = _after_activation(ms, node.op.activation)
            mean_square[y.name], nonneg[y.name] = ms_after, relu or both
        elif kind in ("Sub", "Mul"):  # independent inputs: E[(a−b)²] = E[a²] + E[b²], E[(ab)²] = E[a²]·E[b²]
            ms_a, ms_b = mean_square[xs[0].name], mean_square[xs[1].name]
            ms = ms_a + ms_b if kind == "Sub" else ms_a * ms_b
            both = kind == "Mul" and nonneg[xs[0].name] and nonneg[xs[1].name]
            out[y.name] = replace(y, quant=activation_quant(ms, both, node.op.activation, y.dtype))
            ms_after, relu = _after_activation(ms, node.op.activation)
            mean_square[y.name], nonneg[y.name] = ms_after, relu or both
        elif kind == "Mean":  # a mean's E[y²] is at most its input's (equal for fully correlated inputs)
            x = xs[0]
            out[y.name] = replace(y, quant=activation_quant(mean_square[x.name], nonneg[x.name], "NONE", y.dtype))
            mean_square[y.name], nonneg[y.name] = mean_square[x.name], nonneg[x.name]
        elif kind == "Softmax":  # probabilities in [0, 1): the parameters TFLite prescribes (its registry rule)
            info = dtype_info(y.dtype)
            fixed = O.op_def(kind).fixed_output(node.op, y.dtype, "fixed_point") or (2.0 ** -info.bits, info.qmin)
            out[y.name] = replace(y, quant=QuantParams.per_tensor(*fixed))
            depth = xs[0].shape[node.op.axis]
            mean_square[y.name], nonneg[y.name] = 1.0 / depth ** 2, True
        elif kind == "Concat":
            weights = np.array([t.shape[node.op.axis] for t in xs], np.float64)
            ms = float(np.dot(weights, [mean_square[t.name] for t in xs]) / weights.sum())
            all_nonneg = all(nonneg[t.name] for t in xs)
            out[y.name] = replace(y, quant=activation_quant(ms, all_nonneg, "NONE", y.dtype))
            mean_square[y.name], nonneg[y.name] = ms, all_nonneg
        elif rule == "calibrate" and O.op_def(kind).activation_count(len(node.inputs)) == 1:
            out[y.name], mean_square[y.name], nonneg[y.name] = _unary_output(node, xs, y, mean_square[xs[0].name])
        elif rule == "inherit":  # pools, reshape, flatten, pad: the output shares the input's parameters
            x = xs[0]
            out[y.name] = replace(y, quant=x.quant)
            activation = getattr(node.op, "activation", "NONE")
            ms_after, relu = _after_activation(mean_square[x.name], activation)
            mean_square[y.name], nonneg[y.name] = ms_after, relu or nonneg[x.name]
        elif rule == "calibrate" and len(node.outputs) == 1:
            ms, nonneg_out = _sampled_output_moments(node, xs, mean_square, nonneg)
            out[y.name] = replace(y, quant=activation_quant(ms, nonneg_out, "NONE", y.dtype))
            mean_square[y.name], nonneg[y.name] = ms, nonneg_out
        else:
            raise UnsupportedError(f"node {node.name!r}: no synthetic quantization rule for {kind} (its output "
                                   f"range is calibrated, ptq={rule!r})")
    return out


def _unary_output(node: Node, xs: Sequence[Tensor], y: Tensor, input_mean_square: float
                  ) -> tuple[Tensor, float, bool]:
    """Nominal output parameters of a one-activation op (HardSwish, Sigmoid, PReLU, ...): the output range is the
    op's float function (its registry ``float_ref``) over every value the input's codes represent; the mean square
    is the function's over a zero-mean Gaussian of the input's mean square (101 quantiles)."""
    x = xs[0]
    info = dtype_info(x.dtype)
    codes = np.arange(info.qmin, info.qmax + 1, dtype=np.float64)
    values = (codes - float(x.quant.zero_point[0])) * float(x.quant.scale[0])
    consts = [dequantize(t.data, t.quant) if t.data is not None and t.quant is not None else t.data for t in xs[1:]]
    f = O.op_def(node.kind).float_ref
    fx = np.asarray(f(node.op, [values.reshape(-1, 1), *consts]), np.float64)
    lo, hi = float(fx.min()), float(fx.max())
    gauss = np.array([NormalDist().inv_cdf((k + 0.5) / 101) for k in range(101)]) * math.sqrt(input_mean_square)
    ms = float(np.mean(np.asarray(f(node.op, [gauss.reshape(-1, 1), *consts]), np.float64) ** 2))
    qp = choose_quant_params(min(lo, 0.0), max(hi, 0.0), y.dtype, symmetric=y.dtype == "int16")
    rule = O.op_def(node.kind).fixed_output  # parameters the node's runtime prescribes (TFLite LOGISTIC, ...)
    fixed = None if rule is None else rule(node.op, y.dtype, node.requant)
    if fixed is not None:
        qp = QuantParams.per_tensor(*fixed)
    return replace(y, quant=qp), ms, lo >= 0.0


def nominal_quant_params(tensors: Mapping[str, Tensor], nodes: Sequence[Node], inputs: Sequence[str],
                         per_channel: Mapping[str, bool], symmetric: bool) -> dict[str, Tensor]:
    """Nominal quantization parameters for a shape-only graph (used by the workload builders)."""
    return assign_quant_params(tensors, nodes, inputs, per_channel, symmetric, seed=None)


def synthesize_weights(graph: Graph, seed: int = 0) -> Graph:
    """A copy of ``graph`` with synthesized weights and biases for every conv / FC node and matching
    activation quantization parameters; ``metadata["synthetic_weights"] = True``.

    Existing weight data is replaced. Per-channel vs per-tensor follows each weight tensor's current
    quantization; symmetric unless ``graph.metadata["symmetric_weights"]`` is False.
    """
    if graph.is_float:
        raise UnsupportedError(f"graph {graph.name!r} is a float graph; quantize it (accelsim.graph.ptq) first")
    per_channel = {n.name: graph.tensors[n.inputs[1]].quant.per_channel_quantized
                   for n in graph.nodes if O.op_def(n.kind).has_weights}
    symmetric = bool(graph.metadata.get("symmetric_weights", True))
    tensors = assign_quant_params(graph.tensors, graph.nodes, graph.inputs, per_channel, symmetric, seed)
    return graph.replace(tensors=tensors, metadata={"synthetic_weights": True, "synthetic_seed": seed})
