"""Bias quantization shared by the importers, exporters, the workload builder and synthetic weights.

A conv / fully-connected bias is added to the integer accumulator ``Σ (q_x − Z_x)(q_w − Z_w)``, so its scale is
the accumulator's, ``S_b[c] = S_x · S_w[c]``, with ``Z_b = 0`` (Jacob et al. 2018 eq. 11; TFLite int8 spec).
"""
from __future__ import annotations

import numpy as np

from accelsim.quant.params import QuantParams


def bias_quant_params(x_quant: QuantParams, w_quant: QuantParams) -> QuantParams:
    """``S_b[c] = S_x · S_w[c]`` (float32), ``Z_b = 0``; per-channel exactly when the weights are."""
    scale = np.float32(x_quant.scale[0]) * w_quant.scale.astype(np.float32)
    if w_quant.per_channel_quantized:
        return QuantParams.per_channel(scale, 0, 0)
    return QuantParams.per_tensor(float(scale[0]), 0)


def bias_dtype(input_dtype: str) -> str:
    """Bias storage type: int64 when the node's input activation is 16-bit (TFLite 16x8), int32 otherwise."""
    return "int64" if input_dtype == "int16" else "int32"
