"""Quantization parameters and the affine mapping ``r = S · (q − Z)`` (Jacob et al. 2018, eq. 1).

Storage types, choosing (S, Z) from a float range (asymmetric / symmetric, per-tensor / per-channel,
narrow range as the whitepaper recommends for SIMD), quantize and dequantize.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from accelsim.errors import UnsupportedError


@dataclass(frozen=True)
class DType:
    """An integer (or float32) storage type: its width, signedness, range and numpy container.

    Sub-byte types (int2 / uint2 / int4 / uint4) are held one value per byte in an 8-bit container: the integers
    lie in the type's narrow range ``[qmin, qmax]`` (e.g. int4 [-8, 7], int2 [-2, 1]), and every kernel clamps to
    that range, so the arithmetic is the same as for 8-bit values. Memory models count them packed
    (``bits / 8`` bytes per value)."""

    name: str
    bits: int
    signed: bool
    storage: type[np.generic]

    @property
    def is_float(self) -> bool:
        return self.name == "float32"

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType("int2", 2, True, np.int8),
        DType("uint2", 2, False, np.uint8),
        DType("int4", 4, True, np.int8),
        DType("uint4", 4, False, np.uint8),
        DType("int8", 8, True, np.int8),
        DType("uint8", 8, False, np.uint8),
        DType("int16", 16, True, np.int16),
        DType("uint16", 16, False, np.uint16),
        DType("int32", 32, True, np.int32),
        DType("int64", 64, True, np.int64),
        DType("float32", 32, True, np.float32),
    )
}


def dtype_info(name: str) -> DType:
    """Look up a storage type by name; unknown names raise UnsupportedError listing the known ones."""
    try:
        return DTYPES[name]
    except KeyError:
        raise UnsupportedError(f"unknown data type {name!r}; supported: {', '.join(DTYPES)}") from None


@dataclass(frozen=True, eq=False)
class QuantParams:
    """Scale(s) and zero point(s) of a quantized tensor.

    ``scale`` is float32 and ``zero_point`` int64, both of shape (1,) per-tensor or (C,) per-channel along
    ``axis``. Real value = scale · (q − zero_point).
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None

    def __post_init__(self) -> None:
        scale = np.atleast_1d(np.asarray(self.scale, dtype=np.float32)).copy()
        zero_point = np.atleast_1d(np.asarray(self.zero_point)).astype(np.int64)
        if zero_point.shape == (1,) and scale.shape[0] > 1:
            zero_point = np.full(scale.shape, zero_point[0], dtype=np.int64)
        if scale.ndim != 1 or zero_point.shape != scale.shape:
            raise ValueError(f"scale {scale.shape} and zero_point {zero_point.shape} must be 1-D of equal length")
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ValueError("quantization scales must be finite and > 0")
        if self.axis is None and scale.shape[0] != 1:
            raise ValueError("per-tensor quantization needs exactly one scale; give an axis for per-channel")
        scale.flags.writeable = False
        zero_point.flags.writeable = False
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", zero_point)

    @classmethod
    def per_tensor(cls, scale: float, zero_point: int = 0) -> QuantParams:
        return cls(np.array([scale], np.float32), np.array([zero_point], np.int64), None)

    @classmethod
    def per_channel(cls, scales: np.ndarray, zero_points: np.ndarray | int = 0, axis: int = 0) -> QuantParams:
        scales = np.asarray(scales, np.float32)
        return cls(scales, np.broadcast_to(np.asarray(zero_points, np.int64), scales.shape), axis)

    @property
    def per_channel_quantized(self) -> bool:
        return self.axis is not None

    @property
    def num_channels(self) -> int:
        return int(self.scale.shape[0])

    def broadcast_shape(self, ndim: int) -> tuple[int, ...]:
        """Shape that broadcasts scale/zero point against a tensor of ``ndim`` dimensions."""
        if self.axis is None:
            return (1,) * ndim
        shape = [1] * ndim
        shape[self.axis] = self.num_channels
        return tuple(shape)

    def same_as(self, other: QuantParams | None) -> bool:
        return (
            other is not None
            and self.axis == other.axis
            and np.array_equal(self.scale, other.scale)
            and np.array_equal(self.zero_point, other.zero_point)
        )


Rounding = Literal["half_away_from_zero", "half_to_even"]


def round_half_away_from_zero(v: np.ndarray) -> np.ndarray:
    """C ``std::round`` / TFLite ``TfLiteRound``: nearest, ties away from zero (float64 result).

    ``trunc(v + copysign(0.5, v))`` in float64, where the addition is exact for every float32 ``v`` (so e.g.
    0.49999997 rounds to 0; the same sum in float32 rounds up to 1.0 and gives 1)."""
    v64 = np.asarray(v, np.float64)
    return np.trunc(v64 + np.copysign(0.5, v64))


def quantize(
    x: np.ndarray, qp: QuantParams, dtype: str, rounding: Rounding = "half_away_from_zero",
    narrow_range: bool = False,
) -> np.ndarray:
    """``q = clamp(round(x / S) + Z, qmin, qmax)`` in float32 with the named rounding.

    ``half_to_even`` with a true float32 division is onnxruntime QuantizeLinear ([ref:ORT]);
    ``half_away_from_zero`` is TFLite's activation-range quantization.
    """
    info = dtype_info(dtype)
    shape = qp.broadcast_shape(np.ndim(x))
    v = np.asarray(x, np.float32) / qp.scale.reshape(shape)
    r = np.rint(v) if rounding == "half_to_even" else round_half_away_from_zero(v)
    q = r.astype(np.int64) + qp.zero_point.reshape(shape)
    lo = info.qmin + 1 if narrow_range and info.signed else info.qmin
    hi = info.qmax - 1 if narrow_range and not info.signed else info.qmax
    return np.clip(q, lo, hi).astype(info.storage)


def dequantize(q: np.ndarray, qp: QuantParams) -> np.ndarray:
    """``r = S · (q − Z)`` in float32 (onnxruntime DequantizeLinear)."""
    shape = qp.broadcast_shape(np.ndim(q))
    centered = (np.asarray(q, np.int64) - qp.zero_point.reshape(shape)).astype(np.float32)
    return centered * qp.scale.reshape(shape)


def choose_quant_params(
    rmin: np.ndarray | float,
    rmax: np.ndarray | float,
    dtype: str,
    *,
    symmetric: bool = False,
    narrow_range: bool = False,
    axis: int | None = None,
) -> QuantParams:
    """Pick (S, Z) so that [rmin, rmax] (extended to contain 0) maps onto the type's range.

    Asymmetric: ``S = (rmax − rmin) / (qmax − qmin)``, ``Z = round(qmin − rmin / S)`` clamped (whitepaper eq. 1–3).
    Symmetric: ``Z = 0`` (signed) or mid-range (unsigned), ``S = max|r| / qmax``; ``narrow_range`` restricts signed
    types to [−(2^(b−1)−1), 2^(b−1)−1], e.g. int8 [−127, 127] (whitepaper eq. 10–11).
    Per-channel when ``rmin``/``rmax`` are arrays and ``axis`` is given.
    """
    info = dtype_info(dtype)
    if info.is_float:
        raise UnsupportedError("cannot choose quantization parameters for float32")
    rmin = np.minimum(np.atleast_1d(np.asarray(rmin, np.float64)), 0.0)
    rmax = np.maximum(np.atleast_1d(np.asarray(rmax, np.float64)), 0.0)
    qmin = info.qmin + (1 if narrow_range and info.signed else 0)
    qmax = info.qmax - (1 if narrow_range and not info.signed else 0)
    tiny = np.finfo(np.float32).tiny * 1024
    if symmetric:
        amax = np.maximum(np.abs(rmin), np.abs(rmax))
        if info.signed:
            scale = np.maximum(amax / qmax, tiny)
            zero = np.zeros_like(scale, dtype=np.int64)
        else:
            scale = np.maximum(2 * amax / (qmax - qmin), tiny)
            zero = np.full(scale.shape, (qmin + qmax + 1) // 2, np.int64)
    else:
        scale = np.maximum((rmax - rmin) / (qmax - qmin), tiny)
        zero = np.clip(np.round(qmin - rmin / scale), qmin, qmax).astype(np.int64)
    if axis is None:
        return QuantParams(scale.astype(np.float32)[:1], zero[:1], None)
    return QuantParams(scale.astype(np.float32), zero, axis)
