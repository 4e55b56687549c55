"""Shape inference: pure functions from op attributes and input shapes to the output shape."""
from __future__ import annotations

import math

from accelsim.graph import ops as O


def resolve_padding(
    padding: O.Padding, in_hw: tuple[int, int], kernel_hw: tuple[int, int], stride: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
) -> tuple[int, int, int, int]:
    """Explicit (top, bottom, left, right) padding.

    SAME follows TFLite: ``out = ceil(in / s)``, ``total = max((out − 1)·s + K_eff − in, 0)``, ``before = total // 2``
    (TFLite SAME padding, [ref:TFLiteRef]), with the effective kernel ``K_eff = (K − 1)·d + 1``.
    """
    if padding == "VALID":
        return (0, 0, 0, 0)
    if padding == "SAME":
        pads = []
        for size, k, s, d in zip(in_hw, kernel_hw, stride, dilation):
            out = math.ceil(size / s)
            total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return (pads[0], pads[1], pads[2], pads[3])
    return tuple(int(p) for p in padding)  # type: ignore[return-value]


def window_output_size(size: int, kernel: int, stride: int, dilation: int, pad_before: int, pad_after: int) -> int:
    """``floor((size + pads − ((k − 1)·d + 1)) / s) + 1``."""
    return (size + pad_before + pad_after - ((kernel - 1) * dilation + 1)) // stride + 1


def conv2d_shape(op: O.Conv2D, x: tuple[int, ...], w: tuple[int, ...]) -> tuple[int, ...]:
    n, h, wd, c = x
    o, kh, kw, ci = w
    if c != ci * op.groups:
        raise ValueError(f"input has {c} channels but weights expect {ci} x {op.groups} groups")
    if o % op.groups:
        raise ValueError(f"{o} output channels are not divisible by {op.groups} groups")
    top, bottom, left, right = resolve_padding(op.padding, (h, wd), (kh, kw), op.stride, op.dilation)
    oh = window_output_size(h, kh, op.stride[0], op.dilation[0], top, bottom)
    ow = window_output_size(wd, kw, op.stride[1], op.dilation[1], left, right)
    if oh <= 0 or ow <= 0:
        raise ValueError(f"kernel {kh}x{kw} does not fit the {h}x{wd} input")
    return (n, oh, ow, o)


def pool_shape(op: O.AvgPool | O.MaxPool, x: tuple[int, ...]) -> tuple[int, ...]:
    n, h, w, c = x
    top, bottom, left, right = resolve_padding(op.padding, (h, w), op.kernel, op.stride)
    oh = window_output_size(h, op.kernel[0], op.stride[0], 1, top, bottom)
    ow = window_output_size(w, op.kernel[1], op.stride[1], 1, left, right)
    if oh <= 0 or ow <= 0:
        raise ValueError(f"pool window {op.kernel} does not fit the {h}x{w} input")
    return (n, oh, ow, c)


def infer_shape(op: O.Op, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    """Output shape of ``op`` for the given input shapes; raises ValueError with the reason on a mismatch."""
    if isinstance(op, O.Conv2D):
        if len(inputs[0]) != 4 or len(inputs[1]) != 4:
            raise ValueError(f"Conv2D needs a 4-D NHWC input and 4-D OHWI weights, got {inputs[0]} and {inputs[1]}")
        return conv2d_shape(op, inputs[0], inputs[1])
    if isinstance(op, O.FullyConnected):
        x, w = inputs[0], inputs[1]
        features = math.prod(x[1:])
        if len(w) != 2 or w[1] != features:
            raise ValueError(f"input {x} flattens to {features} features but weights are {w}")
        return (x[0], w[0])
    if isinstance(op, O.Add):
        if inputs[0] != inputs[1]:
            raise ValueError(f"Add inputs differ in shape: {inputs[0]} vs {inputs[1]}")
        return inputs[0]
    if isinstance(op, (O.AvgPool, O.MaxPool)):
        return pool_shape(op, inputs[0])
    if isinstance(op, O.GlobalAveragePool):
        n, _, _, c = inputs[0]
        return (n, 1, 1, c)
    if isinstance(op, O.Concat):
        rank = len(inputs[0])
        axis = op.axis % rank
        for s in inputs[1:]:
            if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, inputs[0])) if i != axis):
                raise ValueError(f"Concat inputs {inputs} differ outside axis {op.axis}")
        out = list(inputs[0])
        out[axis] = sum(s[axis] for s in inputs)
        return tuple(out)
    if isinstance(op, O.Reshape):
        shape = list(op.shape)
        total = math.prod(inputs[0])
        if shape.count(-1) == 1:
            known = math.prod(d for d in shape if d != -1)
            shape[shape.index(-1)] = total // known if known else 0
        if math.prod(shape) != total:
            raise ValueError(f"cannot reshape {inputs[0]} to {op.shape}")
        return tuple(shape)
    if isinstance(op, O.Flatten):
        return (inputs[0][0], math.prod(inputs[0][1:]))
    if isinstance(op, O.Pad):
        if len(op.pads) != len(inputs[0]):
            raise ValueError(f"Pad has {len(op.pads)} (before, after) pairs for a {len(inputs[0])}-D input")
        return tuple(d + a + b for d, (a, b) in zip(inputs[0], op.pads))
    raise ValueError(f"no shape rule for op {type(op).__name__}")
