"""A torch CNN exported to ONNX, imported, quantized at 8 bits and run by the integer engine, against torch.

Model: conv3x3+BN+ReLU6 -> depthwise 3x3+BN+ReLU6 -> pointwise 1x1+BN -> residual Add -> MaxPool 2
-> conv3x3+ReLU -> global average pool -> Linear. Exported with BatchNorm kept (``TrainingMode.PRESERVE``), so the
importer's BN folding is exercised.

The bound (derived from the quantization steps, not fitted). Activations are calibrated on the evaluation
batch itself, so nothing is clipped and every error comes from rounding. A worst-case propagation
(Σ|w|·e_in per layer) is vacuous here (~1 200 output steps), so the bound models rounding errors the standard
way, as independent zero-mean errors (Widrow's quantization-noise model), and propagates their variance:

* every requantization (input, each Conv / FC / Add output) adds uniform noise of variance ``S²/12``;
* Conv / FC output channel c: ``σ²_y = Σ_taps ŵ_c²·σ²_in + Σ_taps (w_c − ŵ_c)²·E[x²] + S_y²/12`` (ŵ the
  dequantized weights; the second term is the weight rounding seen by inputs of mean square E[x²]);
* Add: ``σ²_a + σ²_b + S_y²/12``; ReLU, MaxPool, GlobalAveragePool, Flatten: gain ≤ 1 (σ² passed on; the
  average pool actually divides it by H·W, ignored to stay conservative).

The output bound is ``k·S_out`` with ``k = 1 + 5·σ_out / S_out``: 5σ of the propagated noise (a normal
deviate exceeds 5σ with probability 6e-7 per output, 320 outputs here) plus 1 LSB for TFLite's double rounding
(SRDHM then RoundingDivideByPOT) of the last layer. For this model σ_out ≈ 0.94 output steps, so k ≈ 5.7;
the measured maximum error is ≈ 0.8 output steps. The test also requires k < 10 so the bound stays informative.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
from torch import nn  # noqa: E402

from accelsim.execute import execute_float  # noqa: E402
from accelsim.graph import ops as O  # noqa: E402
from accelsim.graph.float_exec import run_float  # noqa: E402
from accelsim.graph.importers.onnx import load_onnx  # noqa: E402
from accelsim.graph.ptq import PTQSettings, quantize_graph  # noqa: E402
from accelsim.quant.params import dequantize  # noqa: E402

BATCH = 32


def _conv_bn(c_in, c_out, k, groups=1, act=None):
    layers = [nn.Conv2d(c_in, c_out, k, padding=k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, *([act] if act is not None else []))


class SmallNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = _conv_bn(3, 8, 3, act=nn.ReLU6())
        self.dw = _conv_bn(8, 8, 3, groups=8, act=nn.ReLU6())
        self.pw = _conv_bn(8, 8, 1)
        self.pool = nn.MaxPool2d(2)
        self.conv = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        h = self.stem(x)
        h = h + self.pw(self.dw(h))
        h = self.conv(self.pool(h))
        return self.fc(torch.flatten(self.gap(h), 1))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = SmallNet()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.eval()
    path = tmp_path_factory.mktemp("torch") / "smallnet.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False, opset_version=17,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    x = np.random.default_rng(0).uniform(0, 1, (BATCH, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    return path, x, ref


def test_float_import_matches_torch(exported):
    path, x, ref = exported
    graph = load_onnx(path, batch_size=BATCH)
    kinds = [n.kind for n in graph.nodes]
    assert kinds == ["Conv2D", "Conv2D", "Conv2D", "Add", "MaxPool", "Conv2D", "GlobalAveragePool", "Flatten",
                     "FullyConnected"]
    assert graph.nodes[1].op.groups == 8 and graph.nodes[1].op.activation == "RELU6"
    out = run_float(graph, {"input": x.transpose(0, 2, 3, 1)})["logits"]
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def _output_sigma(fgraph, qgraph, x_nhwc) -> float:
    """Standard deviation (real units) of the rounding noise at the output, propagated as in the module docstring."""
    values = run_float(fgraph, {"input": x_nhwc})
    var = {"input": float(qgraph.tensors["input"].quant.scale[0]) ** 2 / 12}
    for node in qgraph.nodes:
        out = qgraph.tensors[node.outputs[0]]
        s_out = float(out.quant.scale[0])
        v_in = var[node.inputs[0]]
        if node.kind in O.MAC_OPS:
            wq = qgraph.tensors[node.inputs[1]]
            w_hat = dequantize(wq.data, wq.quant).astype(np.float64).reshape(wq.shape[0], -1)
            w_f = fgraph.tensors[node.inputs[1]].data.astype(np.float64).reshape(wq.shape[0], -1)
            x_ms = float(np.mean(values[node.inputs[0]].astype(np.float64) ** 2))
            v = (w_hat ** 2).sum(1) * v_in + ((w_f - w_hat) ** 2).sum(1) * x_ms + s_out ** 2 / 12
            var[out.name] = float(v.max())
        elif node.kind == "Add":
            var[out.name] = var[node.inputs[0]] + var[node.inputs[1]] + s_out ** 2 / 12
        else:
            var[out.name] = v_in
    return float(np.sqrt(var["logits"]))


def test_int8_engine_output_within_derived_bound_of_torch(exported):
    path, x, ref = exported
    fgraph = load_onnx(path, batch_size=BATCH)
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    qgraph = quantize_graph(fgraph, {"input": x_nhwc}, PTQSettings(weight_bits=8, activation_bits=8))
    out = execute_float(qgraph, {"input": x_nhwc})["logits"]
    s_out = float(qgraph.tensors["logits"].quant.scale[0])
    k = 1 + 5 * _output_sigma(fgraph, qgraph, x_nhwc) / s_out
    assert k < 10
    assert np.abs(out - ref).max() <= k * s_out
