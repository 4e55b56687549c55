"""The zoo networks against published parameter and multiply-accumulate counts.

Counting convention (accelsim.graph.stats): BN folded into one bias per output channel, the classifier FC
(or SqueezeNet's classifier conv) included, MACs of convs and FCs only. Published figures and sources:

* Whitepaper = Krishnamoorthi, "Quantizing deep convolutional networks for efficient inference", 2018, Table 1.
* Howard et al. 2017 (MobileNets), Table 1 / §4: 569 M mult-adds.
* Sandler et al. 2018 (MobileNetV2), Table 4: 300 M (1.0), 585 M (1.4) multiply-adds.
* TF-slim mobilenet README (tensorflow/models research/slim/nets/mobilenet): mobilenet_v2_1.0_224 300 M MACs,
  3.47 M parameters.
* keras.applications model summaries (exact ``count_params()``), see ``KERAS_COUNT_PARAMS``.
* Zoph et al. 2018 (NASNet), Table 2: Inception-v3 5.72 B mult-adds; Table 3: NASNet-A (4 @ 1056) 5.3 M
  parameters, 564 M mult-adds.
* torchvision model docs (weights IMAGENET1K_V1), whose "GFLOPS" are multiply-accumulates: ResNet-18 1.81 /
  11,689,512 params, ResNet-50 4.09, ResNet-152 11.51, SqueezeNet-1.1 0.35 / 1,235,496 params. Our ResNets use
  torchvision's stride placement (stride on the 3x3 conv); He et al.'s 3.8 / 11.3 G count the Caffe layout.
* AlexNet: Caffe's ``bvlc_alexnet`` deploy net (Krizhevsky et al. 2012 with the two-GPU groups), 60,965,224
  parameters (``net.params`` summed); conv MACs 666 M per 227x227 image (Chen et al., ISSCC 2016 §14.5, Eyeriss),
  FC6-8 9216·4096 + 4096·4096 + 4096·1000 MACs on top.
* MobileNet-v3 (Howard et al. 2019, "Searching for MobileNetV3", Table 3): Large 1.0 219 M multiply-adds /
  5.4 M parameters, Small 1.0 56 M / 2.5 M; torchvision model docs (MobileNet_V3_*_Weights.IMAGENET1K_V1):
  Large 0.22 GFLOPS (``_ops`` 0.217) / 5,483,032 params, Small 0.06 (0.057) / 2,542,856 params.
* EfficientNet-B0 (Tan & Le 2019, Table 2): 5.3 M parameters, 0.39 B FLOPS (multiply-adds); torchvision model
  docs (EfficientNet_B0_Weights.IMAGENET1K_V1): 0.39 GFLOPS (``_ops`` 0.386) / 5,288,548 params.
* VGG-16: Simonyan & Zisserman 2015, Table 2: 138 M parameters (keras.applications VGG16: 138,357,544); conv
  layers "14.7 million weights" and "15.3 billion MACs per 224x224 image" (Chen et al., ISSCC 2016 §14.5).
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from accelsim.graph.stats import param_count, total_macs
from accelsim.workloads import load_workload
from accelsim.workloads.yaml_format import build_graph, load_workload_yaml
from accelsim.workloads.zoo import ZOO, zoo_spec, zoo_yaml

WORKLOADS = Path(__file__).resolve().parents[1] / "workloads"

# name: (published params, source, published MACs, source)
PUBLISHED = {
    "mobilenet_v1_1.0_224": (4.25e6, "whitepaper Table 1", 569e6, "Howard et al. 2017"),
    "mobilenet_v2_1.0_224": (3.47e6, "TF-slim mobilenet README", 300e6, "Sandler et al. 2018 Table 4"),
    "mobilenet_v2_1.4_224": (6.06e6, "whitepaper Table 1", 585e6, "Sandler et al. 2018 Table 4"),
    "mobilenet_v2_0.5_224": (1.95e6, "TF-slim mobilenet README", 97e6, "TF-slim mobilenet README"),
    "mobilenet_v2_1.5_224": (6.8e6, "MobileNetV4 Table 6", 0.7e9, "MobileNetV4 Table 6 (0.1 G digits)"),
    "mobilenet_v2_2.0_224": (11.2e6, "MobileNetV4 Table 6", 1.1e9, "MobileNetV4 Table 6 (0.1 G digits)"),
    "mobilenetv4_conv_small": (3.8e6, "MobileNetV4 Table 6", 0.2e9, "MobileNetV4 Table 6 (0.1 G digits)"),
    "mobilenetv4_conv_medium": (9.72e6, "timm mobilenetv4_conv_medium.e500_r256_in1k card (BN unfolded)", 1.1e9,
                                "timm card at 256 (0.1 G digits)"),
    "nasnet_mobile": (5.3e6, "whitepaper Table 1 / Zoph et al. Table 3", 564e6, "Zoph et al. 2018 Table 3"),
    "inception_v3": (23.9e6, "whitepaper Table 1", 5.72e9, "Zoph et al. 2018 Table 2"),
    "resnet_v1_50": (25.6e6, "whitepaper Table 1", 4.09e9, "torchvision docs"),
    "resnet_v2_50": (25.6e6, "whitepaper Table 1", 4.09e9, "torchvision docs (same conv layout)"),
    "resnet_v1_152": (60.4e6, "whitepaper Table 1", 11.51e9, "torchvision docs"),
    "resnet_v2_152": (60.4e6, "whitepaper Table 1", 11.51e9, "torchvision docs (same conv layout)"),
    "resnet_18": (11.7e6, "torchvision docs / He et al. 2016", 1.81e9, "torchvision docs"),
    "squeezenet_1.1": (1.24e6, "torchvision docs", 0.35e9, "torchvision docs"),
    "alexnet": (60.97e6, "Caffe bvlc_alexnet", 666e6 + 9216 * 4096 + 4096 * 4096 + 4096 * 1000,
                "Eyeriss ISSCC 2016 (conv) + FC6-8 closed form"),
    "vgg_16": (138e6, "Simonyan & Zisserman 2015 Table 2", 15.3e9 + 25088 * 4096 + 4096 * 4096 + 4096 * 1000,
               "Eyeriss ISSCC 2016 (conv) + FC6-8 closed form"),
    "mobilenet_v3_large": (5.48e6, "torchvision docs", 217e6, "torchvision docs"),
    "mobilenet_v3_small": (2.54e6, "torchvision docs", 56e6, "Howard et al. 2019 Table 3"),
    "efficientnet_b0": (5.29e6, "torchvision docs", 386e6, "torchvision docs"),
}


@pytest.fixture(scope="module")
def graphs():
    return {name: build_graph(zoo_spec(name)) for name in ZOO}


def test_every_zoo_network_has_a_published_reference():
    assert set(PUBLISHED) == set(ZOO)


def _published_tolerance(value: float) -> float:
    """1 %, or half a unit of the figure's last published digit where it is quoted more coarsely (MobileNetV4's
    Table 6 gives MACs to 0.1 G: 0.2 G means 0.15–0.25 G)."""
    mantissa = f"{value:e}".split("e")[0].rstrip("0").rstrip(".")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    unit = 10.0 ** (math.floor(math.log10(value)) - decimals)
    return max(0.01, 0.5 * unit / value)


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_params_and_macs_match_published_within_1_percent(graphs, name):
    """Within 1 %, or within the published figure's rounding where it is coarser."""
    params, params_source, macs, macs_source = PUBLISHED[name]
    g = graphs[name]
    assert param_count(g) == pytest.approx(params, rel=_published_tolerance(params)), params_source
    assert total_macs(g) == pytest.approx(macs, rel=_published_tolerance(macs)), macs_source


def test_published_tolerance_is_half_the_last_digit():
    assert _published_tolerance(0.2e9) == pytest.approx(0.25)
    assert _published_tolerance(1.1e9) == pytest.approx(0.05 / 1.1)
    assert _published_tolerance(569e6) == 0.01


def test_exact_torchvision_parameter_counts(graphs):
    # torchvision counts BN weight + bias (2 per channel) and no conv bias; folding leaves 1 per channel.
    r18 = graphs["resnet_18"]
    bn_channels = sum(r18.tensors[n.inputs[1]].shape[0] for n in r18.nodes if n.kind == "Conv2D")
    assert param_count(r18) + bn_channels == 11_689_512
    # SqueezeNet-1.1 has no BN: conv weights + biases, exactly torchvision's count.
    assert param_count(graphs["squeezenet_1.1"]) == 1_235_496


#: torchvision's exact parameter counts (model docs, ``weights.meta["num_params"]``).
TORCHVISION_PARAMS = {"mobilenet_v3_large": 5_483_032, "mobilenet_v3_small": 2_542_856,
                      "efficientnet_b0": 5_288_548}


@pytest.mark.parametrize("name", list(TORCHVISION_PARAMS))
def test_exact_torchvision_parameter_counts_with_squeeze_excitation(graphs, name):
    """torchvision counts BN weight + bias (2 per channel) after each bias-free conv, where folding leaves one
    bias; the squeeze-excitation 1x1 convs and the FCs have a bias and no BN (the same count both ways)."""
    g = graphs[name]
    bn_channels = sum(g.tensors[n.inputs[1]].shape[0] for n in g.nodes if n.kind == "Conv2D" and "/se/" not in n.name)
    assert param_count(g) + bn_channels == TORCHVISION_PARAMS[name]


# The papers' own figures, rounded to 0.1 M parameters / 1 M (0.01 B) multiply-adds: within 2 %.
PAPER_FIGURES = {
    "mobilenet_v3_large": (5.4e6, 219e6),   # Howard et al. 2019, Table 3 (MobileNetV3-Large 1.0)
    "mobilenet_v3_small": (2.5e6, 56e6),    # Howard et al. 2019, Table 3 (MobileNetV3-Small 1.0)
    "efficientnet_b0": (5.3e6, 0.39e9),     # Tan & Le 2019, Table 2
}


@pytest.mark.parametrize("name", list(PAPER_FIGURES))
def test_mobilenet_v3_and_efficientnet_match_the_papers_within_2_percent(graphs, name):
    params, macs = PAPER_FIGURES[name]
    bn_channels = sum(graphs[name].tensors[n.inputs[1]].shape[0] for n in graphs[name].nodes
                      if n.kind == "Conv2D" and "/se/" not in n.name)
    assert param_count(graphs[name]) + bn_channels == pytest.approx(params, rel=0.02)
    assert total_macs(graphs[name]) == pytest.approx(macs, rel=0.02)


def test_squeeze_excitation_structure(graphs):
    """Howard et al. 2019 §5.3 / Tan & Le 2019: each SE block pools, squeezes, expands back to the block's
    width and gates the block's depthwise output by a broadcast (N, 1, 1, C) multiply."""
    for name, gate_kind, blocks in (("mobilenet_v3_large", "HardSigmoid", 8), ("mobilenet_v3_small", "HardSigmoid", 9),
                                    ("efficientnet_b0", "Sigmoid", 16)):
        g = graphs[name]
        scales = [n for n in g.nodes if n.name.endswith("/se/scale")]
        assert len(scales) == blocks
        for n in scales:
            x, gate = (g.tensors[t].shape for t in n.inputs)
            assert gate == (1, 1, 1, x[-1]) and g.tensors[n.outputs[0]].shape == x
            assert g.node(n.name.replace("/se/scale", "/se/gate")).kind == gate_kind


# Exact totals of keras.applications models (``model.count_params()``, 1000 classes); the whitepaper's Table 1
# figures are these rounded (MobileNet-v2 1.0: 3.54 M), except MobileNet-v2 1.4, where it quotes TF-slim's 6.06 M.
# Keras keeps all BN variables: per BN channel 4 (gamma, beta, moving mean and variance; Inception-v3 has no
# gamma: 3), plus a conv bias in Keras' ResNets: 5, where folding leaves one bias.
KERAS_COUNT_PARAMS = {
    "mobilenet_v1_1.0_224": (4_253_864, 3),
    "mobilenet_v2_1.0_224": (3_538_984, 3),
    "mobilenet_v2_1.4_224": (6_156_712, 3),
    "nasnet_mobile": (5_326_716, 3),
    "inception_v3": (23_851_784, 2),
    "resnet_v1_50": (25_636_712, 4),
    "resnet_v1_152": (60_419_944, 4),
}


@pytest.mark.parametrize("name", list(KERAS_COUNT_PARAMS))
def test_exact_keras_parameter_counts_after_unfolding_bn(graphs, name):
    """Converted to Keras' convention our counts agree to the parameter: a check of every layer's shape
    (NASNet's cells included), not just of the total within 1 %."""
    keras_total, extra_per_bn_channel = KERAS_COUNT_PARAMS[name]
    g = graphs[name]
    fc_out, fc_in = g.tensors[g.node("logits").inputs[1]].shape
    bn_channels = sum(g.tensors[n.inputs[1]].shape[0] for n in g.nodes if n.kind == "Conv2D" and len(n.inputs) == 3)
    converted = param_count(g) - (fc_out - 1000) * (fc_in + 1) + extra_per_bn_channel * bn_channels
    assert converted == keras_total


def test_alexnet_matches_caffe_and_eyeriss_conv_figures(graphs):
    """Exact Caffe ``bvlc_alexnet`` parameter count; Eyeriss's AlexNet (Chen et al., ISSCC 2016 §14.5): "2.3
    million weights" and "666 million MACs per 227x227 image" in CONV1-5, CONV2/4/5 grouped in two."""
    g = graphs["alexnet"]
    assert param_count(g) == 60_965_224
    convs = [n for n in g.nodes if n.kind == "Conv2D"]
    weights = {n.name: g.tensors[n.inputs[1]].shape for n in convs}          # (O, KH, KW, C/groups)
    assert [w[3] for w in weights.values()] == [3, 48, 256, 192, 192]        # two groups in conv2/4/5
    conv_weights = sum(w[0] * w[1] * w[2] * w[3] for w in weights.values())
    conv_macs = sum(g.tensors[n.outputs[0]].shape[1] * g.tensors[n.outputs[0]].shape[2]
                    * w[0] * w[1] * w[2] * w[3] for n, w in zip(convs, weights.values()))
    assert conv_weights == pytest.approx(2.3e6, rel=0.02)
    assert conv_macs == pytest.approx(666e6, rel=0.001)


def test_vgg16_matches_keras_and_eyeriss_conv_figures(graphs):
    g = graphs["vgg_16"]
    assert param_count(g) == 138_357_544                                  # keras.applications VGG16
    convs = [n for n in g.nodes if n.kind == "Conv2D"]
    assert len(convs) == 13
    weights = sum(math.prod(g.tensors[n.inputs[1]].shape) for n in convs)
    macs = sum(math.prod(g.tensors[n.outputs[0]].shape[1:3]) * math.prod(g.tensors[n.inputs[1]].shape)
               for n in convs)
    assert weights == pytest.approx(14.7e6, rel=0.005)
    assert macs == pytest.approx(15.3e9, rel=0.005)


def test_checked_in_yaml_files_are_the_generators_output():
    for name in ZOO:
        path = WORKLOADS / f"{name}.yaml"
        assert path.read_text() == zoo_yaml(name), f"{path.name} differs from the generator; rerun write_zoo"


@pytest.mark.parametrize("name", ["mobilenet_v2_1.0_224", "nasnet_mobile", "resnet_v2_50", "efficientnet_b0"])
def test_loading_the_yaml_file_gives_the_generator_counts(graphs, name):
    g = load_workload_yaml(WORKLOADS / f"{name}.yaml")
    assert param_count(g) == param_count(graphs[name])
    assert total_macs(g) == total_macs(graphs[name])
    assert [n.name for n in g.nodes] == [n.name for n in graphs[name].nodes]


def test_zoo_names_and_aliases_load():
    g = load_workload("mobilenet_v2")
    assert g.name == "mobilenet_v2_1.0_224"
    assert g.metadata["synthetic_weights"] is False


def test_nasnet_cell_structure(graphs):
    g = graphs["nasnet_mobile"]
    # 2 stem reduction cells + 12 normal + 2 reduction cells; normal cells concat 6 branches, reductions 4.
    concats = {n.name: n for n in g.nodes if n.name.endswith("/cell_output")}
    assert len(concats) == 16
    assert all(len(n.inputs) == 6 for name, n in concats.items() if name.startswith("cell_") and "stem" not in name)
    assert all(len(n.inputs) == 4 for name, n in concats.items() if "reduction" in name or "stem" in name)
    widths = {name: g.tensors[n.outputs[0]].shape for name, n in concats.items()}
    assert widths["cell_3/cell_output"] == (1, 28, 28, 6 * 44)
    assert widths["cell_7/cell_output"] == (1, 14, 14, 6 * 88)
    assert widths["cell_11/cell_output"] == (1, 7, 7, 6 * 176)
    # the final feature width is NASNet-A Mobile's "1056" penultimate filters
    assert g.tensors[g.node("logits").inputs[0]].shape[-1] == 1056
