"""Batch-norm folding into the preceding conv / FC (Jacob et al. 2018 eq. 14; whitepaper eq. 20–21)."""
from __future__ import annotations

import numpy as np


def fold_batch_norm(
    weights: np.ndarray, bias: np.ndarray | None, gamma: np.ndarray, beta: np.ndarray,
    mean: np.ndarray, var: np.ndarray, eps: float, out_axis: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``w_fold = γ·w / sqrt(σ² + ε)`` along the output-channel axis, ``b_fold = β + (b − μ)·γ / sqrt(σ² + ε)``.

    Computed in float64 and returned as float32 (weights) and float32 (bias).
    """
    factor = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + eps)
    shape = [1] * weights.ndim
    shape[out_axis] = -1
    w = np.asarray(weights, np.float64) * factor.reshape(shape)
    b0 = np.zeros_like(factor) if bias is None else np.asarray(bias, np.float64)
    b = np.asarray(beta, np.float64) + (b0 - np.asarray(mean, np.float64)) * factor
    return w.astype(np.float32), b.astype(np.float32)
