"""Layout ops: pure data movement, no arithmetic, so plain numpy (views where possible)."""
from __future__ import annotations

import numpy as np


def pad_with_zero_point(x: np.ndarray, pads: tuple[tuple[int, int], ...], zero_point: int) -> np.ndarray:
    """Pad every dimension by ``(before, after)`` with the zero point (the code of real 0)."""
    return np.pad(x, pads, mode="constant", constant_values=x.dtype.type(zero_point))


def concatenate(parts: list[np.ndarray], axis: int, dtype: np.dtype) -> np.ndarray:
    """Join already-rescaled inputs along ``axis``."""
    return np.concatenate(parts, axis=axis).astype(dtype, copy=False)


def reshape_view(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Reshape (and Flatten, with ``(N, -1)``) as a view of the row-major NHWC data."""
    return x.reshape(shape)


def transpose(x: np.ndarray, perm: tuple[int, ...]) -> np.ndarray:
    """Permute the axes (a contiguous copy, so later views see row-major data)."""
    return np.ascontiguousarray(np.transpose(x, perm))


def strided_slice(x: np.ndarray, index: tuple[slice, ...]) -> np.ndarray:
    """The elements a (strided) Slice selects, copied contiguously."""
    return np.ascontiguousarray(x[index])


def gather(x: np.ndarray, indices: np.ndarray | int, axis: int) -> np.ndarray:
    """Constant-index Gather along ``axis`` (a scalar index drops the axis)."""
    return np.ascontiguousarray(np.take(x, indices, axis=axis))
