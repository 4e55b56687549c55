"""torchvision's ImageNet classifiers, exported to float ONNX by torch, through accelsim's ONNX importer.

For each classifier (weights=None, eval(); inception_v3 and googlenet with ``aux_logits=False``, inception_v3
with its own ``init_weights``), exported with ``torch.onnx.export(..., dynamo=False, opset_version=17)``:

* at its standard input size (224, inception_v3 299): the imported graph's parameter count equals torchvision's
  published count exactly, and its MACs are within 2 % of the published "GFLOPS" (which count multiply-adds);
* at a small input size (64, inception_v3 75, the smallest its stem allows): the imported graph's float reference
  (``run_float``) equals onnxruntime's float output within 1e-4 of the output's magnitude, and after PTQ on a few
  random calibration inputs the integer engine runs it to logits that follow the float reference (Pearson
  correlation over the logits >= 0.98, measured 0.9988-0.9998 on the four models that import today: int8
  rounding noise on a randomly initialised network stays far below that signal);
* the zoo networks written in torchvision's layout have exactly the conv / FC layers of the torchvision module
  (read by forward hooks) and of its ONNX export.

Published figures: torchvision 0.28 model documentation, the ``IMAGENET1K_V1`` weights tables ("Params",
"GFLOPS"; the same values as each weights enum's ``meta["num_params"]`` / ``meta["_ops"]``). Counting: torch
folds each BatchNorm into the preceding conv at export (one bias per channel where torchvision counts BN weight
and bias), so torchvision's count is the imported count plus one per BN channel of the torch model. inception_v3's
published count includes the auxiliary classifier (training only), which ``aux_logits=False`` drops: its size is
written below as a closed form of torchvision's ``InceptionAux(768, 1000)`` module.

Exports are cached for the session (tmp_path_factory). Which models import depends on the issue-13 ops
(HardSwish / HardSigmoid / Sigmoid / Mul, ReduceMean, channel shuffle, pooling ceil_mode / count_include_pad).
"""
from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from torchvision_compat import import_torchvision  # noqa: E402

from accelsim.engine.runner import execute  # noqa: E402
from accelsim.graph.float_exec import run_float  # noqa: E402
from accelsim.graph.importers.onnx import load_onnx  # noqa: E402
from accelsim.graph.ptq import PTQSettings, quantize_graph, with_batch_size  # noqa: E402
from accelsim.graph.ops import op_def  # noqa: E402
from accelsim.graph.stats import node_macs, node_params, param_count, total_macs  # noqa: E402
from accelsim.quant.params import dequantize, quantize  # noqa: E402
from accelsim.workloads.yaml_format import build_graph  # noqa: E402
from accelsim.workloads.zoo import zoo_spec  # noqa: E402

# torchvision's InceptionAux(768, 1000): conv0 1x1 768->128 + BN, conv1 5x5 128->768 + BN, fc 768->1000 + bias.
INCEPTION_AUX_PARAMS = (768 * 128 + 2 * 128) + (128 * 768 * 5 * 5 + 2 * 768) + (768 * 1000 + 1000)

#: name: (published parameters, published GMACs ("GFLOPS"), standard input size, small input size)
PUBLISHED = {
    "resnet18": (11_689_512, 1.814, 224, 64),
    "resnet50": (25_557_032, 4.089, 224, 64),
    "mobilenet_v2": (3_504_872, 0.301, 224, 64),
    "squeezenet1_1": (1_235_496, 0.349, 224, 64),
    "mobilenet_v3_large": (5_483_032, 0.217, 224, 64),
    "mobilenet_v3_small": (2_542_856, 0.057, 224, 64),
    "efficientnet_b0": (5_288_548, 0.386, 224, 64),
    "mnasnet1_0": (4_383_312, 0.314, 224, 64),
    "shufflenet_v2_x1_0": (2_278_604, 0.145, 224, 64),
    "inception_v3": (27_161_264 - INCEPTION_AUX_PARAMS, 5.713, 299, 75),
    "googlenet": (6_624_904, 1.498, 224, 64),
}
CALIBRATION_INPUTS = 4
RNG_SEED = 13


def _model(name: str):
    models = import_torchvision().models
    kwargs: dict = {"weights": None}
    if name in ("inception_v3", "googlenet"):
        # Inception-v3 with its own initialisation: with PyTorch's default one its activations shrink to ~1e-7 at
        # the classifier, whose int32 bias then saturates (an overflow accelsim reports, as it must); GoogLeNet's
        # own (std 0.01) does the same to it, so it keeps PyTorch's default
        kwargs.update(aux_logits=False, init_weights=name == "inception_v3")
    torch.manual_seed(0)
    return getattr(models, name)(**kwargs).eval()


def _export(model, size: int, path, dynamic_batch: bool = False) -> str:
    """The float ONNX export; ``dynamic_batch`` declares the batch symbolic, so that torch traces the batch of
    ShuffleNet's ``x.view(batch, ...)`` from the input (Shape -> Gather) instead of writing the traced 1."""
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, size, size),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"], dynamic_axes=axes)
    return str(path)


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """name -> (standard-size .onnx, small-size .onnx, BN channels of the torch model); exported on first use."""
    root = tmp_path_factory.mktemp("torchvision")
    cache: dict[str, tuple[str, str, int]] = {}

    def get(name: str) -> tuple[str, str, int]:
        if name not in cache:
            model = _model(name)
            _, _, size, small = PUBLISHED[name]
            bn = sum(m.num_features for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
            cache[name] = (_export(model, size, root / f"{name}_{size}.onnx"),
                           _export(model, small, root / f"{name}_{small}.onnx", dynamic_batch=True), bn)
        return cache[name]
    return get


def _ort_float(path: str, x: np.ndarray) -> np.ndarray:
    """onnxruntime's float output for each NCHW input of ``x`` (the export has batch 1)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"input": x[i:i + 1]})[0] for i in range(len(x))])


def test_compat_shim_skips_only_missing_torchvision_ops():
    """The shim's wrapper returns the kernel unregistered when the op is a missing ``torchvision::`` op, re-raises
    any other error, and ``torch.library.register_fake`` is the original again after the import."""
    from torchvision_compat import _tolerant

    def original(op, fn, *args, **kwargs):
        raise RuntimeError(f"operator {op} does not exist")

    def kernel(*args):
        return None

    wrapped = _tolerant(original)
    assert wrapped("torchvision::nms")(kernel) is kernel
    assert wrapped("torchvision::roi_align", kernel) is kernel
    with pytest.raises(RuntimeError, match="mylib::op"):
        wrapped("mylib::op")(kernel)
    before = torch.library.register_fake
    assert hasattr(import_torchvision().models, "mobilenet_v3_small")
    assert torch.library.register_fake is before


def test_inception_aux_closed_form_matches_torchvision():
    """The aux-head size subtracted above is that of torchvision's module (a check of the closed form)."""
    aux = import_torchvision().models.inception.InceptionAux(768, 1000)
    assert sum(p.numel() for p in aux.parameters()) == INCEPTION_AUX_PARAMS == 3_326_696


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_torchvision_classifier_imports_with_published_params_and_macs(exports, name):
    params, gmacs, size, _ = PUBLISHED[name]
    path, _, bn_channels = exports(name)
    graph = load_onnx(path)
    assert graph.is_float
    assert graph.tensors[graph.inputs[0]].shape == (1, size, size, 3)
    assert param_count(graph) + bn_channels == params
    assert total_macs(graph) == pytest.approx(gmacs * 1e9, rel=0.02)


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_torchvision_classifier_float_matches_onnxruntime_and_int8_runs(exports, name):
    _, _, _, small = PUBLISHED[name]
    _, path, _ = exports(name)
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((CALIBRATION_INPUTS + 1, 3, small, small)).astype(np.float32)
    graph = load_onnx(path, batch_size=len(x))
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    out_name = graph.outputs[0]

    ref = _ort_float(path, x)
    ours = run_float(graph, {"input": x_nhwc})[out_name]
    assert ours.shape == ref.shape == (len(x), 1000)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()))

    qgraph = with_batch_size(quantize_graph(graph, {"input": x_nhwc[:CALIBRATION_INPUTS]}, PTQSettings()), 1)
    x_test = x_nhwc[CALIBRATION_INPUTS:]                      # an input the calibration did not see
    x_t = qgraph.tensors[qgraph.inputs[0]]
    result = execute(qgraph, {qgraph.inputs[0]: quantize(x_test, x_t.quant, x_t.dtype)})
    y_t = qgraph.tensors[out_name]
    y = dequantize(result[out_name], y_t.quant).reshape(-1)
    assert result[out_name].dtype == np.int8
    assert np.corrcoef(y, ref[CALIBRATION_INPUTS:].reshape(-1))[0, 1] >= 0.98


#: Zoo networks written in torchvision's layout (accelsim.workloads.zoo) and the torchvision model they follow.
ZOO_TWINS = {"resnet_18": "resnet18", "squeezenet_1.1": "squeezenet1_1", "mobilenet_v3_large": "mobilenet_v3_large",
             "mobilenet_v3_small": "mobilenet_v3_small", "efficientnet_b0": "efficientnet_b0"}


def _mac_layers(graph) -> list[tuple[int, int, tuple[int, ...]]]:
    """(MACs, parameters, output shape) of every MAC node, sorted: the layer shapes independent of names and
    of the order of independent branches."""
    return sorted((node_macs(graph, n), node_params(graph, n), graph.tensors[n.outputs[0]].shape)
                  for n in graph.nodes if op_def(n.kind).is_mac)


@pytest.mark.parametrize("zoo_name", list(ZOO_TWINS))
def test_zoo_network_has_the_layers_of_the_torchvision_export(exports, zoo_name):
    """The generated zoo network and torch's own export of the torchvision model: the same conv / FC layers
    (MACs, parameters and output shape of each), so the zoo's published-count checks carry over layer by layer."""
    path, _, _ = exports(ZOO_TWINS[zoo_name])
    assert _mac_layers(build_graph(zoo_spec(zoo_name))) == _mac_layers(load_onnx(path))


def _torch_mac_layers(model, size: int) -> list[tuple[int, int, tuple[int, ...]]]:
    """The same triples read from the torch modules themselves (forward hooks on every Conv2d / Linear), BN
    folded as one bias per output channel: independent of accelsim's importer."""
    layers = []

    def hook(module, args, out):
        if isinstance(module, torch.nn.Conv2d):
            n, o, h, w = out.shape
            k = module.weight[0].numel()                          # (C / groups) · KH · KW
            layers.append((h * w * o * k, module.weight.numel() + o, (n, h, w, o)))
        else:
            layers.append((module.weight.numel(), module.weight.numel() + module.out_features, tuple(out.shape)))
    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return sorted(layers)


@pytest.mark.parametrize("zoo_name", list(ZOO_TWINS))
def test_zoo_network_has_the_layers_of_the_torchvision_module(zoo_name):
    assert _mac_layers(build_graph(zoo_spec(zoo_name))) == _torch_mac_layers(_model(ZOO_TWINS[zoo_name]), 224)
