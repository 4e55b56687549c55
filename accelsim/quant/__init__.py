"""Quantization parameters, requantization arithmetic and batch-norm folding."""
from accelsim.quant.params import DTYPES, DType, QuantParams, choose_quant_params, dequantize, dtype_info, quantize

__all__ = ["DTYPES", "DType", "QuantParams", "choose_quant_params", "dequantize", "dtype_info", "quantize"]
