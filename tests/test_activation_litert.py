"""Activation ops against LiteRT's reference kernels (BUILTIN_REF, 1 thread), the golden of the fixed-point modes.

Each model is one HARD_SWISH / LOGISTIC / TANH / LEAKY_RELU / PRELU built with tests/tflite_builder.py
(independently of accelsim's exporter), imported with ``load_tflite``, executed with ``accelsim.execute`` and
compared integer by integer with the interpreter: every code of the input type (int8 / uint8: all 256; int16: all
65 536) plus random tensors, over several input and output scales and zero points. int16 LOGISTIC / TANH use
LiteRT's interpolated sigmoid table, which ``accelsim.kernels.activation`` derives from its description.
"""
from __future__ import annotations

import numpy as np
import pytest

from tflite_builder import S, TFLiteModel, run_reference

from accelsim.execute import execute
from accelsim.graph.importers.tflite import load_tflite
from accelsim.quant.params import dtype_info

#: (input scale, input zero point) pairs; zero points are shifted by +128 for uint8.
INPUT_QUANT = [(0.05, 3), (0.1, -20), (0.02, 0), (0.3, 7), (0.0123, -128)]
#: (output scale, output zero point) pairs of the ops whose output is calibrated.
OUTPUT_QUANT = [(0.03, -5), (0.2, 10), (0.01, -100)]
_compared = {"n": 0}


def _all_codes(dtype: str, rng: np.random.Generator, shape=(4, 9, 9, 16)) -> np.ndarray:
    """Every code of the type, then random codes filling a 4-D tensor (flattened order covers the codes)."""
    info = dtype_info(dtype)
    codes = np.arange(info.qmin, info.qmax + 1)
    size = int(np.prod(shape))
    total = -(-max(size, codes.size) // size) * size
    rand = rng.integers(info.qmin, info.qmax + 1, total - codes.size)
    return np.concatenate([codes, rand]).astype(info.storage).reshape((-1, *shape[1:]))


def _model(name: str, dtype: str, x: np.ndarray, sin: float, zin: int, sout: float, zout: int,
           options_type: str | None = None, options=None, alpha=None, version: int = 1) -> bytes:
    t = TFLiteModel()
    ti = t.tensor("x", x.shape, dtype, sin, zin)
    to = t.tensor("y", x.shape, dtype, sout, zout)
    ins = [ti]
    if alpha is not None:
        data, sa, za = alpha
        ins.append(t.tensor("alpha", data.shape, dtype, sa, za, 0, data))
    t.op(name, ins, [to], options_type, options, version)
    return t.finish([ti], [to])


def _check(model: bytes, x: np.ndarray) -> None:
    ref = run_reference(model, [x])[0]
    graph = load_tflite(model)
    got = execute(graph, {graph.inputs[0]: x})[graph.outputs[0]]
    assert got.dtype == ref.dtype and got.shape == ref.shape
    mismatches = int(np.count_nonzero(got.astype(np.int64) != ref.astype(np.int64)))
    assert mismatches == 0, f"{mismatches} of {ref.size} outputs differ"
    _compared["n"] += ref.size


def _shift(dtype: str, zero: int) -> int:
    return zero + 128 if dtype == "uint8" else zero


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("sin, zin", INPUT_QUANT)
@pytest.mark.parametrize("name, sout, zout", [("LOGISTIC", 1 / 256, -128), ("TANH", 1 / 128, 0)])
def test_logistic_and_tanh_8bit(dtype, sin, zin, name, sout, zout):
    x = _all_codes(dtype, np.random.default_rng(1))
    _check(_model(name, dtype, x, sin, _shift(dtype, zin), sout, _shift(dtype, zout)), x)


@pytest.mark.parametrize("sin", [2 ** -12, 2 ** -11, 2 ** -15, 0.0003, 0.001, 7e-5])
@pytest.mark.parametrize("name", ["LOGISTIC", "TANH"])
def test_logistic_and_tanh_int16(sin, name):
    """int16 (zero points 0, output 1/32768): power-of-two input scales and general ones (LiteRT's rescale to
    1/(3·4096)), every one of the 65 536 codes."""
    x = _all_codes("int16", np.random.default_rng(4))
    _check(_model(name, "int16", x, sin, 0, 1 / 32768, 0, version=3), x)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("sin, zin", INPUT_QUANT)
@pytest.mark.parametrize("sout, zout", OUTPUT_QUANT)
def test_hard_swish_8bit(dtype, sin, zin, sout, zout):
    x = _all_codes(dtype, np.random.default_rng(2))
    _check(_model("HARD_SWISH", dtype, x, sin, _shift(dtype, zin), sout, _shift(dtype, zout)), x)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16"])
@pytest.mark.parametrize("alpha", [0.1, 0.01, 0.3])
@pytest.mark.parametrize("k", range(3))
def test_leaky_relu(dtype, alpha, k):
    sin, zin = INPUT_QUANT[k]
    sout, zout = OUTPUT_QUANT[k]
    if dtype == "int16":  # LiteRT's int16 kernels take symmetric tensors
        sin, zin, sout, zout = sin / 200, 0, sout / 200, 0
    x = _all_codes(dtype, np.random.default_rng(3))
    o = S.LeakyReluOptionsT()
    o.alpha = alpha
    _check(_model("LEAKY_RELU", dtype, x, sin, _shift(dtype, zin), sout, _shift(dtype, zout), "LeakyReluOptions", o,
                  version=2), x)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("k", range(3))
def test_prelu_8bit(dtype, per_channel, k):
    rng = np.random.default_rng(10 + k)
    sin, zin = INPUT_QUANT[k]
    sout, zout = OUTPUT_QUANT[k]
    x = _all_codes(dtype, rng)
    info = dtype_info(dtype)
    channels = x.shape[-1]
    alpha = rng.integers(info.qmin, info.qmax + 1, (1, 1, channels) if per_channel else (1,)).astype(info.storage)
    sa, za = 0.004 * (k + 1), _shift(dtype, [0, -30, 17][k])
    _check(_model("PRELU", dtype, x, sin, _shift(dtype, zin), sout, _shift(dtype, zout), alpha=(alpha, sa, za),
                  version=1), x)


def test_compared_outputs():
    """The cases above compare over a million integers with LiteRT (runs last in this module)."""
    assert _compared["n"] >= 1_000_000, _compared["n"]
