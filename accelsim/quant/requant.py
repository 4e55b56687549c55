"""Requantization: scaling an integer accumulator to the output's quantization, as a scale unit does.

The rounding is a hardware design choice, so it is selected by name (see ``MODES``). Formulas and their
goldens are in docs/arithmetic.md; the fixed-point ones are TFLite / gemmlowp's ([ref:TFLiteRef], [ref:gemmlowp]),
the float ones onnxruntime's and PyTorch's (§3).

The scalar functions are numba-jitted so kernels can call them inline; they also run as plain Python
(``func.py_func``) for the independent int64 reference.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numba import njit

from accelsim.config.hw import RoundingMode
from accelsim.errors import UnsupportedError
from accelsim.quant.params import QuantParams, dtype_info

#: Requantization modes, in the order of the integer id the numba kernels switch on:
#: fixed_point (0): TFLite double rounding: SRDHM (ties up) then RoundingDivideByPOT (ties away);
#: fixed_point_single_round (1): one rounding of x·m, ties toward +inf (TFLITE_SINGLE_ROUNDING, XNNPACK);
#: fixed_point_int64 (2): TFLite 16x8: multiplier cut to 16 bits, int64 product, one rounding;
#: float32 (3): onnxruntime / torch fbgemm: rne(f32(acc) * f32(f32(Sx*Sw)/Sy));
#: float32_recip (4): torch qnnpack: rne(f32(acc) * f32(f32(Sw*Sx) * f32(1/Sy))).
RequantMode = RoundingMode  # defined once, in the hardware schema (config sits above the arithmetic)
#: Requantization modes by name -> the integer id the numba kernels switch on.
MODES: dict[str, int] = {name: i for i, name in enumerate(get_args(RequantMode))}

#: Fused activations (a clamp on the requantized integer).
Activation = Literal["NONE", "RELU", "RELU6"]
ACTIVATIONS: tuple[str, ...] = get_args(Activation)

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def mode_id(name: str) -> int:
    """The kernel id of a requantization mode; an unknown name raises UnsupportedError listing the modes."""
    try:
        return MODES[name]
    except KeyError:
        raise UnsupportedError(f"unknown requantization mode {name!r}; supported: {', '.join(MODES)}") from None


# ---------------------------------------------------------------------------------------------- multipliers
def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: ``real ≈ m · 2^(shift − 31)`` with m an int32 in [2^30, 2^31).

    frexp in float64, mantissa rounded half away from zero; m = 2^31 renormalises; exponents below −31
    flush to zero (TFLite QuantizeMultiplier, [ref:TFLiteRef]). Check values: 0.5 -> (2^30, 0), 1.0 -> (2^30, 1).
    """
    if real == 0.0:
        return 0, 0
    if real < 0:
        raise UnsupportedError(f"negative requantization multiplier {real}")
    frac, exp = math.frexp(real)
    m = int(math.floor(frac * (1 << 31) + 0.5))
    if m == 1 << 31:
        m, exp = 1 << 30, exp + 1
    if exp < -31:
        m, exp = 0, 0
    return m, exp


@dataclass(frozen=True, eq=False)
class RequantParams:
    """Per-output-channel requantization constants of one node.

    ``multiplier``/``shift`` (int64) feed the fixed-point modes, ``float_multiplier`` (float32) the float modes.
    """

    mode: str
    multiplier: np.ndarray
    shift: np.ndarray
    float_multiplier: np.ndarray

    @property
    def mode_id(self) -> int:
        return mode_id(self.mode)

    @property
    def num_channels(self) -> int:
        return int(self.multiplier.shape[0])

    def broadcast(self, channels: int) -> RequantParams:
        """The same constants for ``channels`` output channels (a per-tensor multiplier repeated)."""
        if self.num_channels == channels:
            return self
        if self.num_channels != 1:
            raise ValueError(f"cannot broadcast {self.num_channels} multipliers to {channels} channels")
        rep = lambda a: np.repeat(a, channels)  # noqa: E731
        return RequantParams(self.mode, rep(self.multiplier), rep(self.shift), rep(self.float_multiplier))


def _fixed_point_parts(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    parts = [quantize_multiplier(float(r)) for r in real]
    return np.array([p[0] for p in parts], np.int64), np.array([p[1] for p in parts], np.int64)


def make_requant_params(
    scale_in: float | np.ndarray, scale_w: np.ndarray, scale_out: float | np.ndarray, mode: str
) -> RequantParams:
    """Constants for requantizing an accumulator at scale ``S_x·S_w[c]`` to scale ``S_y``.

    Fixed point: ``real[c] = f64(S_x)·f64(S_w[c]) / f64(S_y)`` left to right from the float32 scales (§2.1).
    ``float32``: ``f32(f32(S_x·S_w[c]) / S_y)`` (onnxruntime, §3.1). ``float32_recip``: ``f32(f32(S_w·S_x)·f32(1/S_y))``
    (qnnpack, §3.2).
    """
    mode_id(mode)
    sx = np.float32(np.asarray(scale_in, np.float32).reshape(-1)[0])
    sy = np.float32(np.asarray(scale_out, np.float32).reshape(-1)[0])
    sw = np.atleast_1d(np.asarray(scale_w, np.float32))
    real = (np.float64(sx) * sw.astype(np.float64)) / np.float64(sy)
    if mode == "float32_recip":
        fmult = (sw * sx).astype(np.float32) * np.float32(np.float32(1.0) / sy)
    else:
        fmult = (sx * sw).astype(np.float32) / sy
    m, shift = _fixed_point_parts(real)
    return RequantParams(mode, m, shift, fmult.astype(np.float32))


def make_rescale_params(real: float | np.ndarray, mode: str) -> RequantParams:
    """Constants for a plain rescale by a real factor (Concat inputs, GlobalAveragePool); float modes use f32(real)."""
    mode_id(mode)
    real = np.atleast_1d(np.asarray(real, np.float64))
    m, shift = _fixed_point_parts(real)
    return RequantParams(mode, m, shift, real.astype(np.float32))


def make_mean_params(scale_in: float, scale_out: float, taps: int, mode: str) -> RequantParams:
    """Constants of TFLite's int8 MEAN over ``taps`` elements (GlobalAveragePool), for one tap count.

    Fixed point: ``(m, e) = QuantizeMultiplier(f64(S_in) / f64(S_out))``, ``k = min(floor(log2 taps), 32)``, and the
    division by ``taps`` folded into the multiplier with a truncating division: ``m' = m·2^k // taps``,
    ``shift' = e − k``; applied to ``Σ(q − Z_in)`` (matches LiteRT ``BUILTIN_REF``, docs/arithmetic.md §5).
    Float modes: ``f32(S_in / (taps·S_out))``.
    """
    mode_id(mode)
    real = np.float64(np.float32(scale_in)) / np.float64(np.float32(scale_out))
    if not mode.startswith("fixed_point"):
        return make_rescale_params(real / taps, mode)
    m, e = quantize_multiplier(float(real))
    k = min(taps.bit_length() - 1, 32)
    array = lambda v, dtype: np.array([v], dtype)  # noqa: E731
    return RequantParams(mode, array((m << k) // taps, np.int64), array(e - k, np.int64),
                         array(real / taps, np.float32))


@dataclass(frozen=True)
class AddParams:
    """TFLite ADD constants ([ref:TFLiteRef]): both inputs moved to a common fixed-point scale."""

    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int


def make_add_params(scale1: float, scale2: float, scale_out: float, input_dtype: str) -> AddParams:
    """``L = 20`` (15 for int16); ``twice_max = 2·max(S1, S2)``; multipliers S1/twice_max, S2/twice_max and
    twice_max / (2^L · S_y), all via QuantizeMultiplier in float64 (§2.9)."""
    left_shift = 15 if dtype_info(input_dtype).bits == 16 else 20
    s1, s2, so = (float(np.float32(s)) for s in (scale1, scale2, scale_out))
    twice_max = 2.0 * max(s1, s2)
    m1, e1 = quantize_multiplier(s1 / twice_max)
    m2, e2 = quantize_multiplier(s2 / twice_max)
    mo, eo = quantize_multiplier(twice_max / ((1 << left_shift) * so))
    return AddParams(left_shift, m1, e1, m2, e2, mo, eo)


def activation_range(activation: str, out_qp: QuantParams, dtype: str) -> tuple[int, int]:
    """Fused activation as a clamp on the requantized integer (TFLite, [ref:TFLiteRef]).

    RELU: ``[max(qmin, Z), qmax]``; RELU6: ``[max(qmin, Z), min(qmax, Z + rhaz(6 / S))]`` with the division in float32.
    ``[qmin, qmax]`` is the output type's range, the narrow one for sub-byte types held in int8 (int4 [-8, 7],
    int2 [-2, 1]): the output stage's clamp keeps every stored value inside its width.
    """
    info = dtype_info(dtype)
    zero = int(out_qp.zero_point[0])
    if activation == "NONE":
        return info.qmin, info.qmax
    if activation == "RELU":
        return max(info.qmin, zero), info.qmax
    if activation == "RELU6":
        six = float(np.float32(6.0) / np.float32(out_qp.scale[0]))
        return max(info.qmin, zero), min(info.qmax, zero + int(math.floor(six + 0.5)))
    raise UnsupportedError(f"unknown fused activation {activation!r}; supported: {', '.join(ACTIVATIONS)}")


# --------------------------------------------------------------------------------- scalar integer primitives
@njit(cache=True, inline="always")
def srdhm(a: np.int64, b: np.int64) -> np.int64:
    """SaturatingRoundingDoublingHighMul of two int32 values: ``(a·b + 2^30) >> 31``, ties toward +inf (§2.2)."""
    if a == INT32_MIN and b == INT32_MIN:
        return np.int64(INT32_MAX)
    return (np.int64(a) * np.int64(b) + np.int64(1 << 30)) >> 31


@njit(cache=True, inline="always")
def rdbpot(x: np.int64, exponent: np.int64) -> np.int64:
    """RoundingDivideByPOT: ``x / 2^e`` to nearest, ties away from zero (§2.3)."""
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


@njit(cache=True, inline="always")
def mbqm(x: np.int64, m: np.int64, shift: np.int64) -> np.int64:
    """MultiplyByQuantizedMultiplier, TFLite double rounding (§2.4)."""
    left = shift if shift > 0 else 0
    right = -shift if shift < 0 else 0
    return rdbpot(srdhm(x << left, m), right)


@njit(cache=True, inline="always")
def mbqm_single_round(x: np.int64, m: np.int64, shift: np.int64) -> np.int64:
    """Single-rounding MultiplyByQuantizedMultiplier: ``(x·m + 2^(t−1)) >> t``, t = 31 − shift (§2.5)."""
    total = 31 - shift
    return (x * m + (np.int64(1) << (total - 1))) >> total


@njit(cache=True, inline="always")
def mbqm_int64(x: np.int64, m: np.int64, shift: np.int64) -> np.int64:
    """16x8 MultiplyByQuantizedMultiplier: multiplier cut to 15 bits + sign, int64 product, one rounding (§2.6)."""
    m16 = (m + (1 << 15)) >> 16 if m < 0x7FFF0000 else np.int64(0x7FFF)
    total = 15 - shift
    return (x * m16 + (np.int64(1) << (total - 1))) >> total


@njit(cache=True, inline="always")
def requantize_scalar(acc: np.int64, mode: np.int64, m: np.int64, shift: np.int64, fmult: np.float32) -> np.int64:
    """Scale one accumulator by the mode's rule (before adding the output zero point and clamping)."""
    if mode == 0:
        return mbqm(acc, m, shift)
    if mode == 1:
        return mbqm_single_round(acc, m, shift)
    if mode == 2:
        return mbqm_int64(acc, m, shift)
    # float modes: f32 conversion and f32 product round half-even; then rint (half-even)
    return np.int64(np.rint(np.float32(acc) * fmult))
