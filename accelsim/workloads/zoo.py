"""Generators of the network zoo: the whitepaper's networks (Krishnamoorthi 2018, Table 1) plus ResNet-18,
SqueezeNet-1.1, AlexNet, VGG-16, MobileNet-v3-Large/Small and EfficientNet-B0, with exact layer shapes at their
standard input sizes.

Layouts follow the reference implementations named in each generator's docstring (TF-slim for the whitepaper's
networks, torchvision for ResNet-18, SqueezeNet-1.1, MobileNet-v3 and EfficientNet-B0). Batch norm is folded
into the preceding conv's bias; where a BN cannot be folded (ResNet-v2's pre-activation BN) it is a 1x1
depthwise conv with bias (a per-channel multiply-add) followed by ReLU. ``workloads/*.yaml`` are these
generators' output (``write_zoo``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from accelsim.workloads.yaml_format import (
    INPUT_NAME, LAYER_TYPES, Layer, QuantSpec, WorkloadSpec, layer_shape,
)


class NetSpecBuilder:
    """Appends layers to a workload spec, tracking each layer's output shape."""

    def __init__(self, name: str, input_shape: tuple[int, int, int, int], description: str) -> None:
        self.name = name
        self.input_shape = input_shape
        self.description = description
        self.layers: list[Layer] = []
        self.shapes: dict[str, tuple[int, ...]] = {INPUT_NAME: input_shape}
        self.last = INPUT_NAME

    def layer(self, op: str, name: str, inputs: list[str] | None = None, **attrs: object) -> str:
        in_names = inputs if inputs is not None else [self.last]
        data: dict[str, object] = {"name": name, "op": op, **attrs}
        if in_names != [self.last]:
            data["inputs"] = list(in_names)
        layer = LAYER_TYPES[op].model_validate(data)
        _, _, out = layer_shape(layer, [self.shapes[n] for n in in_names], len(self.layers), self.name)
        self.layers.append(layer)
        self.shapes[name] = out
        self.last = name
        return name

    def channels(self, name: str) -> int:
        return self.shapes[name][-1]

    def height(self, name: str) -> int:
        return self.shapes[name][1]

    def spec(self) -> WorkloadSpec:
        return WorkloadSpec(self.name, self.description, self.input_shape, QuantSpec(), tuple(self.layers))


def _classifier(net: NetSpecBuilder, classes: int, relu_first: bool = False) -> None:
    if relu_first:
        net.layer("relu", "final_relu")
    net.layer("gap", "global_pool")
    net.layer("fc", "logits", out_channels=classes)


# ------------------------------------------------------------------------------------------- MobileNets
def mobilenet_v1() -> WorkloadSpec:
    """MobileNet-v1 1.0/224 (Howard et al. 2017), TF-slim ``mobilenet_v1``: 1001 classes."""
    net = NetSpecBuilder("mobilenet_v1_1.0_224", (1, 224, 224, 3),
                         "MobileNet-v1 1.0/224, TF-slim layout, 1001 classes, BN folded")
    net.layer("conv", "Conv2d_0", out_channels=32, kernel=3, stride=2, activation="relu6")
    blocks = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512)] + [(1, 512)] * 5 + [(2, 1024), (1, 1024)]
    for i, (stride, out) in enumerate(blocks, start=1):
        net.layer("depthwise", f"Conv2d_{i}_depthwise", kernel=3, stride=stride, activation="relu6")
        net.layer("conv", f"Conv2d_{i}_pointwise", out_channels=out, kernel=1, activation="relu6")
    _classifier(net, 1001)
    return net.spec()


def make_divisible(value: float, divisor: int = 8) -> int:
    """TF-slim / Keras channel rounding: nearest multiple of ``divisor``, never below 90 % of ``value``."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def mobilenet_v2(multiplier: float = 1.0) -> WorkloadSpec:
    """MobileNet-v2 (Sandler et al. 2018), TF-slim ``mobilenet_v2`` at 224: 1001 classes; channels
    ``make_divisible(c·multiplier)``, the last 1x1 conv 1280·multiplier for multipliers > 1."""
    tag = f"{multiplier:.1f}"
    net = NetSpecBuilder(f"mobilenet_v2_{tag}_224", (1, 224, 224, 3),
                         f"MobileNet-v2 {tag}/224, TF-slim layout, 1001 classes, BN folded")
    net.layer("conv", "Conv", out_channels=make_divisible(32 * multiplier), kernel=3, stride=2, activation="relu6")
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1)]
    block = 0
    for expansion, channels, repeats, first_stride in settings:
        out = make_divisible(channels * multiplier)
        for r in range(repeats):
            prefix = "expanded_conv" if block == 0 else f"expanded_conv_{block}"
            block_input = net.last
            c_in = net.channels(block_input)
            stride = first_stride if r == 0 else 1
            if expansion > 1:
                net.layer("conv", f"{prefix}/expand", out_channels=make_divisible(c_in * expansion), kernel=1,
                          activation="relu6")
            net.layer("depthwise", f"{prefix}/depthwise", kernel=3, stride=stride, activation="relu6")
            net.layer("conv", f"{prefix}/project", out_channels=out, kernel=1)
            if stride == 1 and c_in == out:
                net.layer("add", f"{prefix}/add", inputs=[block_input, f"{prefix}/project"])
            block += 1
    last = 1280 if multiplier <= 1.0 else make_divisible(1280 * multiplier)
    net.layer("conv", "Conv_1", out_channels=last, kernel=1, activation="relu6")
    _classifier(net, 1001)
    return net.spec()


# ------------------------------------------------------------------------------------------ MobileNetV4
#: One MobileNetV4 block (Qin et al., ECCV 2024, arXiv:2404.10518, Appendix D Tables 11-12): ``kind`` is
#: ``conv`` (k x k conv), ``fused_ib`` (k x k conv to ``expanded``, then 1x1 to ``out``), or a Universal Inverted
#: Bottleneck: ``extra_dw`` (DW k1, 1x1 expand, DW k2, 1x1 project), ``ib`` (1x1 expand, DW k2, 1x1 project),
#: ``convnext`` (DW k1, 1x1 expand, 1x1 project), ``ffn`` (1x1 expand, 1x1 project).
Mnv4Block = tuple[str, int, int, int, int, int]    # kind, dw k1, dw k2 (or conv kernel), expanded, out, stride

MNV4_CONV_S: tuple[Mnv4Block, ...] = (
    ("conv", 0, 3, 0, 32, 2),
    ("fused_ib", 0, 3, 32, 32, 2), ("fused_ib", 0, 3, 96, 64, 2),
    ("extra_dw", 5, 5, 192, 96, 2), *[("ib", 0, 3, 192, 96, 1)] * 4, ("convnext", 3, 0, 384, 96, 1),
    ("extra_dw", 3, 3, 576, 128, 2), ("extra_dw", 5, 5, 512, 128, 1), ("ib", 0, 5, 512, 128, 1),
    ("ib", 0, 5, 384, 128, 1), ("ib", 0, 3, 512, 128, 1), ("ib", 0, 3, 512, 128, 1),
)
MNV4_CONV_M: tuple[Mnv4Block, ...] = (
    ("conv", 0, 3, 0, 32, 2),
    ("fused_ib", 0, 3, 128, 48, 2),
    ("extra_dw", 3, 5, 192, 80, 2), ("extra_dw", 3, 3, 160, 80, 1),
    ("extra_dw", 3, 5, 480, 160, 2), ("extra_dw", 3, 3, 640, 160, 1), ("extra_dw", 3, 3, 640, 160, 1),
    ("extra_dw", 3, 5, 640, 160, 1), ("extra_dw", 3, 3, 640, 160, 1), ("convnext", 3, 0, 640, 160, 1),
    ("ffn", 0, 0, 320, 160, 1), ("convnext", 3, 0, 640, 160, 1),
    ("extra_dw", 5, 5, 960, 256, 2), ("extra_dw", 5, 5, 1024, 256, 1), ("extra_dw", 3, 5, 1024, 256, 1),
    ("extra_dw", 3, 5, 1024, 256, 1), ("ffn", 0, 0, 1024, 256, 1), ("convnext", 3, 0, 1024, 256, 1),
    ("extra_dw", 3, 5, 512, 256, 1), ("extra_dw", 5, 5, 1024, 256, 1), ("ffn", 0, 0, 1024, 256, 1),
    ("ffn", 0, 0, 1024, 256, 1), ("convnext", 5, 0, 512, 256, 1),
)


def _mnv4_block(net: NetSpecBuilder, name: str, block: Mnv4Block) -> None:
    """One block; as TF Model Garden's UIB: the stride on the middle DW when there is one (else on the first), ReLU
    after every conv but the first DW and the projection, a residual Add when the shape is kept."""
    kind, k1, k2, expanded, out, stride = block
    block_input = net.last
    if kind == "conv":
        net.layer("conv", name, out_channels=out, kernel=k2, stride=stride, activation="relu")
        return
    if kind == "fused_ib":
        net.layer("conv", f"{name}/fused", out_channels=expanded, kernel=k2, stride=stride, activation="relu")
        net.layer("conv", f"{name}/project", out_channels=out, kernel=1)
        return
    if k1:
        net.layer("depthwise", f"{name}/start_dw", kernel=k1, stride=1 if k2 else stride)
    net.layer("conv", f"{name}/expand", out_channels=expanded, kernel=1, activation="relu")
    if k2:
        net.layer("depthwise", f"{name}/middle_dw", kernel=k2, stride=stride, activation="relu")
    net.layer("conv", f"{name}/project", out_channels=out, kernel=1)
    if stride == 1 and net.channels(block_input) == out:
        net.layer("add", f"{name}/add", inputs=[block_input, f"{name}/project"])


def mobilenet_v4(blocks: tuple[Mnv4Block, ...], name: str, resolution: int) -> WorkloadSpec:
    """MobileNetV4-Conv (Qin et al., ECCV 2024, Appendix D; TF Model Garden ``MobileNetV4ConvSmall/Medium``): the
    blocks, then MobileNet-v3's head (1x1 conv 960, global average pool, 1x1 conv 1280, 1000 classes)."""
    net = NetSpecBuilder(name, (1, resolution, resolution, 3),
                         f"{name}: MobileNetV4 (arXiv:2404.10518 App. D) at {resolution}, 1000 classes, BN folded")
    for i, block in enumerate(blocks):
        _mnv4_block(net, f"block{i}", block)
    net.layer("conv", "head_conv", out_channels=960, kernel=1, activation="relu")
    net.layer("gap", "global_pool")
    net.layer("fc", "head_fc", out_channels=1280, activation="relu")
    net.layer("fc", "logits", out_channels=1000)
    return net.spec()


# --------------------------------------------------------------------------------------------- ResNets
def _resnet_stem(net: NetSpecBuilder, bn_relu: bool) -> None:
    net.layer("conv", "conv1", out_channels=64, kernel=7, stride=2, padding=[3, 3, 3, 3],
              activation="relu" if bn_relu else "none")
    net.layer("maxpool", "pool1", kernel=3, stride=2, padding=[1, 1, 1, 1])


RESNET_UNITS = {50: (3, 4, 6, 3), 152: (3, 8, 36, 3)}


def _resnet(depth: int, preact: bool) -> WorkloadSpec:
    """Bottleneck ResNets; each stage's first unit has a 1x1 projection shortcut and, in stages 2-4, the
    stride 2 on its 3x3 conv (explicit padding 1)."""
    version, classes = ("v2", 1001) if preact else ("v1", 1000)
    description = (f"ResNet-{version}-{depth}{' (pre-activation)' if preact else ''}, stride 2 on the 3x3 conv of "
                   f"the first unit of stages 2-4 (torchvision layout), {classes} classes, BN folded"
                   + ("; pre-activation BN + ReLU as a 1x1 depthwise conv" if preact else ""))
    net = NetSpecBuilder(f"resnet_{version}_{depth}", (1, 224, 224, 3), description)
    _resnet_stem(net, bn_relu=not preact)
    for b, (units, base) in enumerate(zip(RESNET_UNITS[depth], (64, 128, 256, 512)), start=1):
        for u in range(1, units + 1):
            stride = 2 if (u == 1 and b > 1) else 1
            prefix = f"block{b}/unit_{u}"
            x = net.last
            branch_in = net.layer("depthwise", f"{prefix}/preact", kernel=1, activation="relu") if preact else x
            shortcut = x
            if u == 1:
                shortcut = net.layer("conv", f"{prefix}/shortcut", inputs=[branch_in], out_channels=4 * base,
                                     kernel=1, stride=stride, padding="valid")
            net.layer("conv", f"{prefix}/conv1", inputs=[branch_in], out_channels=base, kernel=1, activation="relu")
            net.layer("conv", f"{prefix}/conv2", out_channels=base, kernel=3, stride=stride, padding=[1, 1, 1, 1],
                      activation="relu")
            net.layer("conv", f"{prefix}/conv3", out_channels=4 * base, kernel=1)
            net.layer("add", f"{prefix}/add", inputs=[shortcut, f"{prefix}/conv3"],
                      activation="none" if preact else "relu")
    if preact:
        net.layer("depthwise", "postnorm", kernel=1, activation="relu")
    _classifier(net, classes)
    return net.spec()


def resnet_v1(depth: int) -> WorkloadSpec:
    """ResNet-v1-{50,152} (He et al. 2016) with the stride on the 3x3 conv (torchvision's layout, "v1.5"; the
    original Caffe models stride the first 1x1 conv, TF-slim strides the last unit of the previous stage):
    1000 classes as the TF-slim and torchvision checkpoints."""
    return _resnet(depth, preact=False)


def resnet_v2(depth: int) -> WorkloadSpec:
    """ResNet-v2-{50,152} (pre-activation, He et al. 2016b): each unit starts with BN + ReLU, here a 1x1
    depthwise conv with bias and ReLU because it cannot be folded into a conv; a final BN + ReLU
    (``postnorm``) before the pool. Strides as ``resnet_v1``; 1001 classes as the TF-slim checkpoints."""
    return _resnet(depth, preact=True)


def resnet_18() -> WorkloadSpec:
    """ResNet-18 (He et al. 2016), torchvision ``resnet18``: basic blocks, stride on the first 3x3 conv of
    stages 2-4 with a 1x1 projection shortcut, 1000 classes."""
    net = NetSpecBuilder("resnet_18", (1, 224, 224, 3), "ResNet-18, torchvision layout, 1000 classes, BN folded")
    net.layer("conv", "conv1", out_channels=64, kernel=7, stride=2, padding=[3, 3, 3, 3], activation="relu")
    net.layer("maxpool", "maxpool", kernel=3, stride=2, padding=[1, 1, 1, 1])
    for stage, channels in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if (stage > 1 and block == 0) else 1
            prefix = f"layer{stage}.{block}"
            x = net.last
            shortcut = x
            if stride != 1 or net.channels(x) != channels:
                shortcut = net.layer("conv", f"{prefix}.downsample", inputs=[x], out_channels=channels, kernel=1,
                                     stride=stride, padding="valid")
            net.layer("conv", f"{prefix}.conv1", inputs=[x], out_channels=channels, kernel=3, stride=stride,
                      padding=[1, 1, 1, 1], activation="relu")
            net.layer("conv", f"{prefix}.conv2", out_channels=channels, kernel=3, padding=[1, 1, 1, 1])
            net.layer("add", f"{prefix}.add", inputs=[shortcut, f"{prefix}.conv2"], activation="relu")
    _classifier(net, 1000)
    return net.spec()


def squeezenet_1_1() -> WorkloadSpec:
    """SqueezeNet-1.1 (Iandola et al. 2016; v1.1 from the authors' repository), torchvision ``squeezenet1_1``:
    fire modules, the classifier is a 1x1 conv to 1000 classes + ReLU + global average pool (no FC).
    torchvision's ceil-mode 3x3/2 max pools give the same sizes as VALID at 224."""
    net = NetSpecBuilder("squeezenet_1.1", (1, 224, 224, 3), "SqueezeNet-1.1, torchvision layout, 1000 classes")
    net.layer("conv", "conv1", out_channels=64, kernel=3, stride=2, padding="valid", activation="relu")
    fires = {2: (16, 64), 3: (16, 64), 4: (32, 128), 5: (32, 128), 6: (48, 192), 7: (48, 192), 8: (64, 256),
             9: (64, 256)}
    for index, (squeeze, expand) in fires.items():
        if index in (2, 4, 6):
            net.layer("maxpool", f"pool{index - 1}", kernel=3, stride=2, padding="valid")
        s = net.layer("conv", f"fire{index}/squeeze1x1", out_channels=squeeze, kernel=1, activation="relu")
        e1 = net.layer("conv", f"fire{index}/expand1x1", inputs=[s], out_channels=expand, kernel=1, activation="relu")
        e3 = net.layer("conv", f"fire{index}/expand3x3", inputs=[s], out_channels=expand, kernel=3, activation="relu")
        net.layer("concat", f"fire{index}/concat", inputs=[e1, e3])
    net.layer("conv", "conv10", out_channels=1000, kernel=1, activation="relu")
    net.layer("gap", "global_pool")
    net.layer("flatten", "flatten")
    return net.spec()


# ----------------------------------------------------------------------------------------------- AlexNet
def alexnet() -> WorkloadSpec:
    """AlexNet as published ([ref:Krizhevsky12] Fig. 2; Caffe ``bvlc_alexnet`` at 227 x 227): CONV2,
    CONV4 and CONV5 in two groups (the two-GPU split), max pools 3x3/2, FC6-8, 1000 classes; the LRN layers are
    left out (no MACs, no weights). Eyeriss v1's AlexNet (Chen et al., JSSC 2017) is these CONV1-5 shapes: its
    Table V MAC counts are 4 x this network's per-layer MACs (batch 4)."""
    net = NetSpecBuilder("alexnet", (1, 227, 227, 3),
                         "AlexNet (Krizhevsky et al. 2012), Caffe bvlc_alexnet layout at 227, grouped CONV2/4/5, "
                         "no LRN, 1000 classes")
    net.layer("conv", "conv1", out_channels=96, kernel=11, stride=4, padding="valid", activation="relu")
    net.layer("maxpool", "pool1", kernel=3, stride=2, padding="valid")
    net.layer("conv", "conv2", out_channels=256, kernel=5, padding=[2, 2, 2, 2], groups=2, activation="relu")
    net.layer("maxpool", "pool2", kernel=3, stride=2, padding="valid")
    net.layer("conv", "conv3", out_channels=384, kernel=3, padding=[1, 1, 1, 1], activation="relu")
    net.layer("conv", "conv4", out_channels=384, kernel=3, padding=[1, 1, 1, 1], groups=2, activation="relu")
    net.layer("conv", "conv5", out_channels=256, kernel=3, padding=[1, 1, 1, 1], groups=2, activation="relu")
    net.layer("maxpool", "pool5", kernel=3, stride=2, padding="valid")
    _fc_head(net)
    return net.spec()


def _fc_head(net: NetSpecBuilder) -> None:
    """AlexNet's and VGG's classifier: flatten, FC 4096 (ReLU), FC 4096 (ReLU), FC 1000."""
    net.layer("flatten", "flatten")
    net.layer("fc", "fc6", out_channels=4096, activation="relu")
    net.layer("fc", "fc7", out_channels=4096, activation="relu")
    net.layer("fc", "fc8", out_channels=1000)


def vgg_16() -> WorkloadSpec:
    """VGG-16 (configuration D of [ref:Simonyan15] Table 1) at 224 x 224: thirteen 3x3 convs
    (padding 1) in five stages of 64-512 channels, each stage closed by a 2x2/2 max pool, FC 4096-4096-1000."""
    net = NetSpecBuilder("vgg_16", (1, 224, 224, 3), "VGG-16 (configuration D) at 224, 1000 classes")
    for stage, (channels, convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)), start=1):
        for i in range(1, convs + 1):
            net.layer("conv", f"conv{stage}_{i}", out_channels=channels, kernel=3, padding=[1, 1, 1, 1],
                      activation="relu")
        net.layer("maxpool", f"pool{stage}", kernel=2, stride=2, padding="valid")
    _fc_head(net)
    return net.spec()


# -------------------------------------------------------------------------------------------- Inception
def inception_v3() -> WorkloadSpec:
    """Inception-v3 (Szegedy et al. 2016) at 299, TF-slim ``inception_v3`` without the auxiliary head (training
    only): 1001 classes."""
    net = NetSpecBuilder("inception_v3", (1, 299, 299, 3),
                         "Inception-v3 at 299, TF-slim layout without the auxiliary head, 1001 classes, BN folded")

    def conv(name: str, out: int, kernel: int | tuple[int, int], inputs: list[str] | None = None,
             stride: int = 1, padding: str = "same") -> str:
        k = kernel if isinstance(kernel, int) else list(kernel)
        return net.layer("conv", name, inputs=inputs, out_channels=out, kernel=k, stride=stride, padding=padding,
                         activation="relu")

    conv("Conv2d_1a_3x3", 32, 3, stride=2, padding="valid")
    conv("Conv2d_2a_3x3", 32, 3, padding="valid")
    conv("Conv2d_2b_3x3", 64, 3)
    net.layer("maxpool", "MaxPool_3a_3x3", kernel=3, stride=2, padding="valid")
    conv("Conv2d_3b_1x1", 80, 1, padding="valid")
    conv("Conv2d_4a_3x3", 192, 3, padding="valid")
    net.layer("maxpool", "MaxPool_5a_3x3", kernel=3, stride=2, padding="valid")

    for block, pool_channels in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
        x = net.last
        b0 = conv(f"{block}/Branch_0/Conv2d_0a_1x1", 64, 1, [x])
        conv(f"{block}/Branch_1/Conv2d_0a_1x1", 48, 1, [x])
        b1 = conv(f"{block}/Branch_1/Conv2d_0b_5x5", 64, 5)
        conv(f"{block}/Branch_2/Conv2d_0a_1x1", 64, 1, [x])
        conv(f"{block}/Branch_2/Conv2d_0b_3x3", 96, 3)
        b2 = conv(f"{block}/Branch_2/Conv2d_0c_3x3", 96, 3)
        net.layer("avgpool", f"{block}/Branch_3/AvgPool_0a_3x3", inputs=[x], kernel=3)
        b3 = conv(f"{block}/Branch_3/Conv2d_0b_1x1", pool_channels, 1)
        net.layer("concat", f"{block}/concat", inputs=[b0, b1, b2, b3])

    x = net.last
    b0 = conv("Mixed_6a/Branch_0/Conv2d_1a_3x3", 384, 3, [x], stride=2, padding="valid")
    conv("Mixed_6a/Branch_1/Conv2d_0a_1x1", 64, 1, [x])
    conv("Mixed_6a/Branch_1/Conv2d_0b_3x3", 96, 3)
    b1 = conv("Mixed_6a/Branch_1/Conv2d_1a_1x1", 96, 3, stride=2, padding="valid")
    b2 = net.layer("maxpool", "Mixed_6a/Branch_2/MaxPool_1a_3x3", inputs=[x], kernel=3, stride=2, padding="valid")
    net.layer("concat", "Mixed_6a/concat", inputs=[b0, b1, b2])

    for block, mid in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        x = net.last
        b0 = conv(f"{block}/Branch_0/Conv2d_0a_1x1", 192, 1, [x])
        conv(f"{block}/Branch_1/Conv2d_0a_1x1", mid, 1, [x])
        conv(f"{block}/Branch_1/Conv2d_0b_1x7", mid, (1, 7))
        b1 = conv(f"{block}/Branch_1/Conv2d_0c_7x1", 192, (7, 1))
        conv(f"{block}/Branch_2/Conv2d_0a_1x1", mid, 1, [x])
        conv(f"{block}/Branch_2/Conv2d_0b_7x1", mid, (7, 1))
        conv(f"{block}/Branch_2/Conv2d_0c_1x7", mid, (1, 7))
        conv(f"{block}/Branch_2/Conv2d_0d_7x1", mid, (7, 1))
        b2 = conv(f"{block}/Branch_2/Conv2d_0e_1x7", 192, (1, 7))
        net.layer("avgpool", f"{block}/Branch_3/AvgPool_0a_3x3", inputs=[x], kernel=3)
        b3 = conv(f"{block}/Branch_3/Conv2d_0b_1x1", 192, 1)
        net.layer("concat", f"{block}/concat", inputs=[b0, b1, b2, b3])

    x = net.last
    conv("Mixed_7a/Branch_0/Conv2d_0a_1x1", 192, 1, [x])
    b0 = conv("Mixed_7a/Branch_0/Conv2d_1a_3x3", 320, 3, stride=2, padding="valid")
    conv("Mixed_7a/Branch_1/Conv2d_0a_1x1", 192, 1, [x])
    conv("Mixed_7a/Branch_1/Conv2d_0b_1x7", 192, (1, 7))
    conv("Mixed_7a/Branch_1/Conv2d_0c_7x1", 192, (7, 1))
    b1 = conv("Mixed_7a/Branch_1/Conv2d_1a_3x3", 192, 3, stride=2, padding="valid")
    b2 = net.layer("maxpool", "Mixed_7a/Branch_2/MaxPool_1a_3x3", inputs=[x], kernel=3, stride=2, padding="valid")
    net.layer("concat", "Mixed_7a/concat", inputs=[b0, b1, b2])

    for block in ("Mixed_7b", "Mixed_7c"):
        x = net.last
        b0 = conv(f"{block}/Branch_0/Conv2d_0a_1x1", 320, 1, [x])
        s1 = conv(f"{block}/Branch_1/Conv2d_0a_1x1", 384, 1, [x])
        b1a = conv(f"{block}/Branch_1/Conv2d_0b_1x3", 384, (1, 3), [s1])
        b1b = conv(f"{block}/Branch_1/Conv2d_0c_3x1", 384, (3, 1), [s1])
        conv(f"{block}/Branch_2/Conv2d_0a_1x1", 448, 1, [x])
        s2 = conv(f"{block}/Branch_2/Conv2d_0b_3x3", 384, 3)
        b2a = conv(f"{block}/Branch_2/Conv2d_0c_1x3", 384, (1, 3), [s2])
        b2b = conv(f"{block}/Branch_2/Conv2d_0d_3x1", 384, (3, 1), [s2])
        net.layer("avgpool", f"{block}/Branch_3/AvgPool_0a_3x3", inputs=[x], kernel=3)
        b3 = conv(f"{block}/Branch_3/Conv2d_0b_1x1", 192, 1)
        net.layer("concat", f"{block}/concat", inputs=[b0, b1a, b1b, b2a, b2b, b3])
    _classifier(net, 1001)
    return net.spec()


# ----------------------------------------------------------------------------------------------- NASNet
def _separable(net: NetSpecBuilder, name: str, x: str, filters: int, kernel: int, stride: int) -> str:
    """NASNet's stacked separable conv: (ReLU, depthwise, pointwise + BN) twice; the stride in the first."""
    net.layer("relu", f"{name}/relu_1", inputs=[x])
    net.layer("depthwise", f"{name}/separable_1/depthwise", kernel=kernel, stride=stride, bias=False)
    net.layer("conv", f"{name}/separable_1/pointwise", out_channels=filters, kernel=1, activation="relu")
    net.layer("depthwise", f"{name}/separable_2/depthwise", kernel=kernel, bias=False)
    return net.layer("conv", f"{name}/separable_2/pointwise", out_channels=filters, kernel=1)


def _adjust_prev(net: NetSpecBuilder, name: str, prev: str | None, current: str, filters: int) -> str:
    """NASNet's ``_reduce_prev_layer``: bring the previous-previous cell to this cell's size and width.

    Spatial mismatch -> factorized reduction: ReLU, two 1x1-stride-2 average pools each followed by a 1x1 conv to
    ``filters/2``, concatenated (TF-slim shifts the second path by one pixel; the IR has no crop op, so here both
    paths sample the same pixels: shapes, parameters and MACs are unchanged). Width mismatch -> ReLU + 1x1 conv.
    """
    if prev is None:
        return current
    if net.height(prev) != net.height(current):
        net.layer("relu", f"{name}/prev_relu", inputs=[prev])
        for path in (1, 2):
            net.layer("avgpool", f"{name}/path{path}_avgpool", inputs=[f"{name}/prev_relu"], kernel=1, stride=2,
                      padding="valid")
            net.layer("conv", f"{name}/path{path}_conv", out_channels=filters // 2, kernel=1)
        return net.layer("concat", f"{name}/prev_reduced", inputs=[f"{name}/path1_conv", f"{name}/path2_conv"])
    if net.channels(prev) != filters:
        net.layer("relu", f"{name}/prev_relu", inputs=[prev])
        return net.layer("conv", f"{name}/prev_1x1", out_channels=filters, kernel=1)
    return prev


def _cell_base(net: NetSpecBuilder, name: str, x: str, prev: str | None, filters: int) -> tuple[str, str]:
    p = _adjust_prev(net, name, prev, x, filters)
    net.layer("relu", f"{name}/relu", inputs=[x])
    h = net.layer("conv", f"{name}/1x1", out_channels=filters, kernel=1)
    return h, p


def _normal_cell(net: NetSpecBuilder, name: str, x: str, prev: str | None, filters: int) -> str:
    h, p = _cell_base(net, name, x, prev, filters)
    c0l = _separable(net, f"{name}/comb_iter_0/left", h, filters, 5, 1)
    c0r = _separable(net, f"{name}/comb_iter_0/right", p, filters, 3, 1)
    c0 = net.layer("add", f"{name}/comb_iter_0/combine", inputs=[c0l, c0r])
    c1l = _separable(net, f"{name}/comb_iter_1/left", p, filters, 5, 1)
    c1r = _separable(net, f"{name}/comb_iter_1/right", p, filters, 3, 1)
    c1 = net.layer("add", f"{name}/comb_iter_1/combine", inputs=[c1l, c1r])
    c2l = net.layer("avgpool", f"{name}/comb_iter_2/left", inputs=[h], kernel=3)
    c2 = net.layer("add", f"{name}/comb_iter_2/combine", inputs=[c2l, p])
    c3l = net.layer("avgpool", f"{name}/comb_iter_3/left", inputs=[p], kernel=3)
    c3r = net.layer("avgpool", f"{name}/comb_iter_3/right", inputs=[p], kernel=3)
    c3 = net.layer("add", f"{name}/comb_iter_3/combine", inputs=[c3l, c3r])
    c4l = _separable(net, f"{name}/comb_iter_4/left", h, filters, 3, 1)
    c4 = net.layer("add", f"{name}/comb_iter_4/combine", inputs=[c4l, h])
    return net.layer("concat", f"{name}/cell_output", inputs=[p, c0, c1, c2, c3, c4])


def _reduction_cell(net: NetSpecBuilder, name: str, x: str, prev: str | None, filters: int) -> str:
    h, p = _cell_base(net, name, x, prev, filters)
    c0l = _separable(net, f"{name}/comb_iter_0/left", h, filters, 5, 2)
    c0r = _separable(net, f"{name}/comb_iter_0/right", p, filters, 7, 2)
    c0 = net.layer("add", f"{name}/comb_iter_0/combine", inputs=[c0l, c0r])
    c1l = net.layer("maxpool", f"{name}/comb_iter_1/left", inputs=[h], kernel=3, stride=2)
    c1r = _separable(net, f"{name}/comb_iter_1/right", p, filters, 7, 2)
    c1 = net.layer("add", f"{name}/comb_iter_1/combine", inputs=[c1l, c1r])
    c2l = net.layer("avgpool", f"{name}/comb_iter_2/left", inputs=[h], kernel=3, stride=2)
    c2r = _separable(net, f"{name}/comb_iter_2/right", p, filters, 5, 2)
    c2 = net.layer("add", f"{name}/comb_iter_2/combine", inputs=[c2l, c2r])
    c3r = net.layer("avgpool", f"{name}/comb_iter_3/right", inputs=[c0], kernel=3)
    c3 = net.layer("add", f"{name}/comb_iter_3/combine", inputs=[c1, c3r])
    c4l = _separable(net, f"{name}/comb_iter_4/left", c0, filters, 3, 1)
    c4r = net.layer("maxpool", f"{name}/comb_iter_4/right", inputs=[h], kernel=3, stride=2)
    c4 = net.layer("add", f"{name}/comb_iter_4/combine", inputs=[c4l, c4r])
    return net.layer("concat", f"{name}/cell_output", inputs=[c1, c2, c3, c4])


def nasnet_mobile() -> WorkloadSpec:
    """NASNet-A Mobile (4 @ 1056) at 224 (Zoph et al. 2018), TF-slim ``nasnet.build_nasnet_mobile`` without
    the auxiliary head: 1001 classes. Stem conv (32, 3x3/2 VALID), two stem reduction cells (11 and 22
    filters), then 3 stages of 4 normal cells (44, 88, 176 filters) separated by reduction cells; every cell
    takes the two previous cells' outputs (``skip_reduction_layer_input = 0``)."""
    net = NetSpecBuilder("nasnet_mobile", (1, 224, 224, 3),
                         "NASNet-A Mobile (4 @ 1056) at 224, TF-slim layout without the auxiliary head, 1001 classes, "
                         "BN folded")
    filters = 44
    stem = net.layer("conv", "conv0", out_channels=32, kernel=3, stride=2, padding="valid")
    cells: list[str | None] = [None, stem]
    for i, scale in enumerate((0.25, 0.5)):
        cells.append(_reduction_cell(net, f"cell_stem_{i}", cells[-1], cells[-2], int(filters * scale)))
    cell = 0
    for stage, scale in enumerate((1, 2, 4)):
        if stage > 0:
            out = _reduction_cell(net, f"reduction_cell_{stage - 1}", cells[-1], cells[-2], filters * scale)
            cells.append(out)
            prev = cells[-3]
        else:
            prev = cells[-2]
        for _ in range(4):
            out = _normal_cell(net, f"cell_{cell}", cells[-1], prev, filters * scale)
            cells.append(out)
            prev = cells[-2]
            cell += 1
    _classifier(net, 1001, relu_first=True)
    return net.spec()


# ------------------------------------------------------------------------------- MobileNet-v3, EfficientNet
def _same_pad(kernel: int) -> list[int] | str:
    """torchvision's symmetric conv padding ``(k - 1) // 2`` on every side, as explicit [top, bottom, left, right]
    (``valid`` for 1x1 kernels)."""
    p = (kernel - 1) // 2
    return [p, p, p, p] if p else "valid"


def _activate(net: NetSpecBuilder, name: str, kind: str) -> str:
    """A non-clamp activation after ``net.last``: ``relu`` fused is done by the caller; ``hardswish`` a layer;
    ``silu`` = x · sigmoid(x) as a ``sigmoid`` layer and a ``mul`` (torchvision's SiLU, which ONNX exports
    as Sigmoid + Mul)."""
    x = net.last
    if kind == "hardswish":
        return net.layer("hardswish", f"{name}/hardswish", inputs=[x])
    if kind == "silu":
        gate = net.layer("sigmoid", f"{name}/sigmoid", inputs=[x])
        return net.layer("mul", f"{name}/silu", inputs=[x, gate])
    raise ValueError(f"unknown activation {kind!r}")


def _conv_act(net: NetSpecBuilder, name: str, act: str, inputs: list[str] | None = None, *, out_channels: int,
              kernel: int = 1, stride: int = 1, groups: int = 1) -> str:
    """torchvision's ``Conv2dNormActivation``: conv (BN folded into the bias) and its activation (``relu``
    fused as a clamp; ``hardswish`` / ``silu`` as separate layers; ``none``)."""
    fused = "relu" if act == "relu" else "none"
    if groups == 1:
        net.layer("conv", name, inputs=inputs, out_channels=out_channels, kernel=kernel, stride=stride,
                  padding=_same_pad(kernel), activation=fused)
    else:
        net.layer("depthwise", name, inputs=inputs, kernel=kernel, stride=stride, padding=_same_pad(kernel),
                  activation=fused)
    return net.last if act in ("relu", "none") else _activate(net, name, act)


def _squeeze_excite(net: NetSpecBuilder, name: str, x: str, squeeze: int, act: str, gate: str) -> str:
    """torchvision ``ops.SqueezeExcitation`` (Hu et al. 2018): global average pool, 1x1 conv to ``squeeze``
    channels (with bias) + ``act``, 1x1 conv back (with bias), ``gate`` (``hardsigmoid`` / ``sigmoid``), and the
    input scaled per channel: a ``mul`` of (N, H, W, C) by (N, 1, 1, C) with broadcasting."""
    channels = net.channels(x)
    net.layer("gap", f"{name}/se/pool", inputs=[x])
    _conv_act(net, f"{name}/se/fc1", act, out_channels=squeeze)
    net.layer("conv", f"{name}/se/fc2", out_channels=channels, kernel=1, padding="valid")
    g = net.layer(gate, f"{name}/se/gate")
    return net.layer("mul", f"{name}/se/scale", inputs=[x, g])


#: MobileNet-v3 bottlenecks ([ref:Howard19] Tables 1 and 2; [ref:torchvision] ``_mobilenet_v3_conf``):
#: (kernel, expanded channels, output channels, squeeze-excite, activation, stride).
MOBILENET_V3_LARGE = (
    (3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hardswish", 2), (3, 200, 80, False, "hardswish", 1), (3, 184, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1), (3, 480, 112, True, "hardswish", 1), (3, 672, 112, True, "hardswish", 1),
    (5, 672, 160, True, "hardswish", 2), (5, 960, 160, True, "hardswish", 1), (5, 960, 160, True, "hardswish", 1),
)
MOBILENET_V3_SMALL = (
    (3, 16, 16, True, "relu", 2), (3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hardswish", 2), (5, 240, 40, True, "hardswish", 1), (5, 240, 40, True, "hardswish", 1),
    (5, 120, 48, True, "hardswish", 1), (5, 144, 48, True, "hardswish", 1), (5, 288, 96, True, "hardswish", 2),
    (5, 576, 96, True, "hardswish", 1), (5, 576, 96, True, "hardswish", 1),
)


def _mobilenet_v3(name: str, title: str, blocks: tuple[tuple[int, int, int, bool, str, int], ...],
                  last_channels: int) -> WorkloadSpec:
    """MobileNet-v3 (Howard et al. 2019) in torchvision's layout at 224: stem 3x3/2 conv to 16 + hard-swish;
    inverted residual bottlenecks (1x1 expand unless the expansion is 1, kxk depthwise, optional
    squeeze-excitation with ``make_divisible(expanded / 4, 8)`` squeeze channels, ReLU and a hard-sigmoid gate,
    1x1 project; a residual Add when stride 1 and the widths match); 1x1 conv to 6x the last width +
    hard-swish; global pool; FC to ``last_channels`` + hard-swish (dropout is inference-free); FC to 1000."""
    net = NetSpecBuilder(name, (1, 224, 224, 3),
                         f"{title}, torchvision layout, 1000 classes, BN folded; hard-swish, "
                         "squeeze-excitation with a hard-sigmoid gate")
    _conv_act(net, "features.0", "hardswish", out_channels=16, kernel=3, stride=2)
    for i, (kernel, expanded, out, se, act, stride) in enumerate(blocks, start=1):
        prefix = f"features.{i}"
        block_input = net.last
        c_in = net.channels(block_input)
        if expanded != c_in:
            _conv_act(net, f"{prefix}/expand", act, out_channels=expanded)
        x = _conv_act(net, f"{prefix}/depthwise", act, kernel=kernel, stride=stride, groups=expanded,
                      out_channels=expanded)
        if se:
            _squeeze_excite(net, prefix, x, make_divisible(expanded // 4, 8), "relu", "hardsigmoid")
        net.layer("conv", f"{prefix}/project", out_channels=out, kernel=1, padding="valid")
        if stride == 1 and c_in == out:
            net.layer("add", f"{prefix}/add", inputs=[block_input, f"{prefix}/project"])
    _conv_act(net, f"features.{len(blocks) + 1}", "hardswish", out_channels=6 * net.channels(net.last))
    net.layer("gap", "avgpool")
    net.layer("fc", "classifier.0", out_channels=last_channels)
    _activate(net, "classifier.1", "hardswish")
    net.layer("fc", "classifier.3", out_channels=1000)
    return net.spec()


def mobilenet_v3_large() -> WorkloadSpec:
    """MobileNet-v3-Large 1.0/224 (Howard et al. 2019, Table 1), torchvision ``mobilenet_v3_large``."""
    return _mobilenet_v3("mobilenet_v3_large", "MobileNet-v3-Large", MOBILENET_V3_LARGE, 1280)


def mobilenet_v3_small() -> WorkloadSpec:
    """MobileNet-v3-Small 1.0/224 (Howard et al. 2019, Table 2), torchvision ``mobilenet_v3_small``."""
    return _mobilenet_v3("mobilenet_v3_small", "MobileNet-v3-Small", MOBILENET_V3_SMALL, 1024)


#: EfficientNet-B0 stages ([ref:Tan19] Table 1; [ref:torchvision] ``_efficientnet_conf``):
#: (expand ratio, kernel, stride, output channels, layers).
EFFICIENTNET_B0 = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
                   (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


def efficientnet_b0() -> WorkloadSpec:
    """EfficientNet-B0 (Tan & Le 2019, Table 1) in torchvision's layout at 224: stem 3x3/2 conv to 32 + SiLU;
    MBConv blocks (1x1 expand unless the ratio is 1, kxk depthwise, squeeze-excitation to
    ``max(1, block input channels // 4)`` with SiLU and a sigmoid gate, 1x1 project; a residual Add when
    stride 1 and the widths match; stochastic depth is inference-free); 1x1 conv to 1280 + SiLU; global pool;
    FC to 1000. SiLU is x · sigmoid(x): a ``sigmoid`` and a ``mul`` layer."""
    net = NetSpecBuilder("efficientnet_b0", (1, 224, 224, 3),
                         "EfficientNet-B0, torchvision layout, 1000 classes, BN folded; SiLU as sigmoid + mul, "
                         "squeeze-excitation with a sigmoid gate")
    _conv_act(net, "features.0", "silu", out_channels=32, kernel=3, stride=2)
    for stage, (ratio, kernel, first_stride, out, layers) in enumerate(EFFICIENTNET_B0, start=1):
        for j in range(layers):
            prefix = f"features.{stage}.{j}"
            block_input = net.last
            c_in = net.channels(block_input)
            stride = first_stride if j == 0 else 1
            expanded = make_divisible(c_in * ratio, 8)
            if expanded != c_in:
                _conv_act(net, f"{prefix}/expand", "silu", out_channels=expanded)
            x = _conv_act(net, f"{prefix}/depthwise", "silu", kernel=kernel, stride=stride, groups=expanded,
                          out_channels=expanded)
            _squeeze_excite(net, prefix, x, max(1, c_in // 4), "silu", "sigmoid")
            net.layer("conv", f"{prefix}/project", out_channels=out, kernel=1, padding="valid")
            if stride == 1 and c_in == out:
                net.layer("add", f"{prefix}/add", inputs=[block_input, f"{prefix}/project"])
    _conv_act(net, f"features.{len(EFFICIENTNET_B0) + 1}", "silu", out_channels=4 * net.channels(net.last))
    net.layer("gap", "avgpool")
    net.layer("fc", "classifier.1", out_channels=1000)
    return net.spec()


# ---------------------------------------------------------------------------------------------- the zoo
ZOO: dict[str, Callable[[], WorkloadSpec]] = {
    "mobilenet_v1_1.0_224": mobilenet_v1,
    "mobilenet_v2_1.0_224": lambda: mobilenet_v2(1.0),
    "mobilenet_v2_1.4_224": lambda: mobilenet_v2(1.4),
    "mobilenet_v2_0.5_224": lambda: mobilenet_v2(0.5),
    "mobilenet_v2_1.5_224": lambda: mobilenet_v2(1.5),
    "mobilenet_v2_2.0_224": lambda: mobilenet_v2(2.0),
    "mobilenetv4_conv_small": lambda: mobilenet_v4(MNV4_CONV_S, "mobilenetv4_conv_small", 224),
    "mobilenetv4_conv_medium": lambda: mobilenet_v4(MNV4_CONV_M, "mobilenetv4_conv_medium", 256),
    "nasnet_mobile": nasnet_mobile,
    "inception_v3": inception_v3,
    "resnet_v1_50": lambda: resnet_v1(50),
    "resnet_v2_50": lambda: resnet_v2(50),
    "resnet_v1_152": lambda: resnet_v1(152),
    "resnet_v2_152": lambda: resnet_v2(152),
    "resnet_18": resnet_18,
    "squeezenet_1.1": squeezenet_1_1,
    "alexnet": alexnet,
    "vgg_16": vgg_16,
    "mobilenet_v3_large": mobilenet_v3_large,
    "mobilenet_v3_small": mobilenet_v3_small,
    "efficientnet_b0": efficientnet_b0,
}

#: Short names accepted by ``load_workload``.
ALIASES = {"mobilenet_v1": "mobilenet_v1_1.0_224", "mobilenet_v2": "mobilenet_v2_1.0_224",
           "mobilenet_v2_1.4": "mobilenet_v2_1.4_224", "squeezenet": "squeezenet_1.1"}


def zoo_spec(name: str) -> WorkloadSpec:
    """The spec of a zoo network by name or alias (KeyError if unknown)."""
    return ZOO[ALIASES.get(name, name)]()


def zoo_yaml(name: str) -> str:
    """The text of ``workloads/<name>.yaml``: a generated-by comment and the spec."""
    from accelsim.workloads.export_yaml import spec_to_yaml

    header = (f"# Generated by accelsim.workloads.zoo (network {name!r}); edit freely: the quant block and\n"
              "# per-layer overrides are the usual things to change. Format: docs/workloads.md.\n")
    return header + spec_to_yaml(zoo_spec(name))


def write_zoo(directory: str | Path) -> list[Path]:
    """Write every zoo network to ``directory/<name>.yaml``; returns the paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ZOO:
        path = directory / f"{name}.yaml"
        path.write_text(zoo_yaml(name))
        paths.append(path)
    return paths
