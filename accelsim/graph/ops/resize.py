"""Resize: nearest-neighbour and bilinear scaling of the H and W axes of an NHWC tensor.

Semantics follow the ONNX Resize operator (opset 11+, [ref:ONNXResize]): an output pixel ``x`` maps to the input
coordinate given by ``coordinate_mode`` (with ``scale = out / in``, or the model's own ``scales``):

* ``half_pixel``: ``(x + 0.5) / scale − 0.5``; ``pytorch_half_pixel``: the same, but 0 when the output length
  is 1; ``align_corners``: ``x · (in − 1) / (out − 1)``; ``asymmetric``: ``x / scale``;
  ``tf_half_pixel_for_nn``: ``(x + 0.5) / scale`` (TFLite ``half_pixel_centers`` for nearest).

Nearest rounds that coordinate by ``nearest_mode`` (``round_prefer_floor``, ``round_prefer_ceil``, ``floor``,
``ceil``) and clamps it to the input; bilinear clamps it to ``[0, in − 1]`` and interpolates the two neighbours
along each axis. TFLite's RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR ``align_corners`` / ``half_pixel_centers``
are the ``align_corners`` / ``tf_half_pixel_for_nn`` (nearest) or ``half_pixel`` (bilinear) modes, and neither
is ``asymmetric`` ([ref:TFLiteRef], reference_ops::ResizeNearestNeighbor / ResizeBilinear).

The output keeps the input's quantization (both runtimes require it: TFLite's kernels and onnxruntime's QDQ
Resize fusion copy the integer domain). Cost: per output vector a SIMD unit loads 1 input vector for nearest,
4 for bilinear, and issues 0 ALU instructions for nearest and 3 lerps (each a multiply-add pair: 6 ALU
instructions) for bilinear; no rescale. On a scale unit's lanes: 1 move per output (nearest, as Pad) or 6 element
operations (bilinear).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from accelsim.graph.ops.common import none_per_output, window_extents
from accelsim.graph.ops.registry import CostDescriptor, EngineModule, LoopExtents, OpDef, VectorKernel, register_op

if TYPE_CHECKING:
    from accelsim.graph.ir import Graph, Node
    from accelsim.hw.layer import LayerShape

ResizeMode = Literal["nearest", "bilinear"]
CoordinateMode = Literal["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"]
NearestMode = Literal["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
RESIZE_MODES: tuple[str, ...] = get_args(ResizeMode)
COORDINATE_MODES: tuple[str, ...] = get_args(CoordinateMode)
NEAREST_MODES: tuple[str, ...] = get_args(NearestMode)


@dataclass(frozen=True)
class Resize:
    """Resize H and W to ``size`` (output H, W).

    ``scales``: the (H, W) scale factors the coordinate mapping divides by, when the model gives them
    (ONNX ``scales`` input); None: ``out / in``. ``nearest_mode`` is used by nearest only. ``dequantized``
    (bilinear on integers): interpolate the dequantized real values and quantize the result again (round half to
    even), as onnxruntime runs a float Resize between DequantizeLinear and QuantizeLinear; otherwise the stored
    integers are interpolated (the runtimes' integer kernels).
    """

    size: tuple[int, int]
    mode: ResizeMode = "nearest"
    coordinate_mode: CoordinateMode = "asymmetric"
    nearest_mode: NearestMode = "floor"
    scales: tuple[float, float] | None = None
    dequantized: bool = False
    kind = "Resize"

    def __post_init__(self) -> None:
        if self.mode not in RESIZE_MODES:
            raise ValueError(f"Resize mode {self.mode!r}; supported: {', '.join(RESIZE_MODES)}")
        if self.coordinate_mode not in COORDINATE_MODES:
            raise ValueError(f"Resize coordinate_mode {self.coordinate_mode!r}; supported: "
                             f"{', '.join(COORDINATE_MODES)}")
        if self.nearest_mode not in NEAREST_MODES:
            raise ValueError(f"Resize nearest_mode {self.nearest_mode!r}; supported: {', '.join(NEAREST_MODES)}")
        if len(self.size) != 2 or any(int(s) <= 0 for s in self.size):
            raise ValueError(f"Resize size must be two positive lengths (H, W), got {self.size}")


def axis_scale(op: Resize, axis: int, in_len: int) -> float:
    """The scale factor of H (axis 0) or W (axis 1): the model's, else ``float32(out) / float32(in)``."""
    if op.scales is not None:
        return float(np.float32(op.scales[axis]))
    return float(np.float32(op.size[axis]) / np.float32(in_len))


def ort_coordinates(op: Resize, axis: int, in_len: int) -> np.ndarray:
    """onnxruntime's GetOriginalCoordinateFromResizedCoordinate in float32 for every output position."""
    f32 = np.float32
    out_len = op.size[axis]
    scale = f32(axis_scale(op, axis, in_len))
    coords = np.empty(out_len, np.float32)
    for i in range(out_len):
        x = f32(i)
        mode = op.coordinate_mode
        if mode == "asymmetric":
            c = x / scale
        elif mode == "pytorch_half_pixel":
            c = (x + f32(0.5)) / scale - f32(0.5) if out_len > 1 else f32(0.0)
        elif mode == "tf_half_pixel_for_nn":
            c = (x + f32(0.5)) / scale
        elif mode == "align_corners":
            c = f32(0.0) if out_len == 1 else x * (f32(in_len) - f32(1)) / (f32(out_len) - f32(1))
        else:  # half_pixel
            c = (x + f32(0.5)) / scale - f32(0.5)
        coords[i] = c
    return coords


def ort_nearest(op: Resize, axis: int, in_len: int) -> np.ndarray:
    """onnxruntime's nearest index: the float32 coordinate rounded by ``nearest_mode`` (round_prefer_floor: a
    ``.5`` goes down, otherwise std::round; round_prefer_ceil: std::round, half away from zero), clamped to
    ``[0, in − 1]``."""
    idx = np.empty(op.size[axis], np.int64)
    for i, c in enumerate(ort_coordinates(op, axis, in_len).astype(np.float64)):
        rounded = float(np.sign(c) * np.floor(abs(c) + 0.5))       # std::round
        if op.nearest_mode == "floor":
            k = np.floor(c)
        elif op.nearest_mode == "ceil":
            k = np.ceil(c)
        elif op.nearest_mode == "round_prefer_ceil":
            k = rounded
        else:
            k = np.floor(c) if c == float(np.float32(np.trunc(c) + 0.5)) else rounded
        idx[i] = min(max(int(k), 0), in_len - 1)
    return idx


def _resize_shape(op: Resize, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    if len(inputs[0]) != 4:
        raise ValueError(f"Resize needs a 4-D NHWC input, got {inputs[0]}")
    n, _, _, c = inputs[0]
    return (n, int(op.size[0]), int(op.size[1]), c)


def resize_float(x: np.ndarray, op: Resize) -> np.ndarray:
    """The float reference: nearest gathers, bilinear interpolates (in float64) at the clamped coordinates; the
    coordinates are computed in float32 as onnxruntime does, so ``.5`` ties of nearest fall the same way."""
    x = np.asarray(x, np.float64)
    _, h, w, _ = x.shape
    if op.mode == "nearest":
        return x[:, ort_nearest(op, 0, h)][:, :, ort_nearest(op, 1, w)]
    ys = ort_coordinates(op, 0, h).astype(np.float64)
    xs = ort_coordinates(op, 1, w).astype(np.float64)
    rows = _linear_taps(ys, h)
    cols = _linear_taps(xs, w)
    top = x[:, rows[0]] * rows[2][None, :, None, None] + x[:, rows[1]] * rows[3][None, :, None, None]
    return top[:, :, cols[0]] * cols[2][None, None, :, None] + top[:, :, cols[1]] * cols[3][None, None, :, None]


def _linear_taps(coord: np.ndarray, in_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lower index, upper index, lower weight, upper weight) of linear interpolation at clamped coordinates."""
    c = np.clip(coord, 0, in_len - 1)
    lo = np.minimum(np.floor(c).astype(np.int64), in_len - 1)
    hi = np.minimum(lo + 1, in_len - 1)
    frac = c - lo
    return lo, hi, 1.0 - frac, frac


def _float_ref(op: Resize, args: list[np.ndarray]) -> np.ndarray:
    return resize_float(args[0], op)


def _loads(layer: LayerShape) -> int:
    """Input vectors loaded per output vector: 1 (nearest) or 4 (bilinear: the 2×2 neighbours)."""
    return 4 if layer.kernel_h * layer.kernel_w > 1 else 1


def _lerp_alu(layer: LayerShape) -> int:
    """ALU instructions per output vector: 0 for nearest; bilinear's 3 lerps, a multiply and an add each (6)."""
    return 6 if layer.kernel_h * layer.kernel_w > 1 else 0


def _resize_extents(graph: Graph, node: Node) -> LoopExtents:
    """Loop extents: the output and input; bilinear is recorded as a 2×2 window (its four taps)."""
    return window_extents(graph, node, (2, 2) if node.op.mode == "bilinear" else (1, 1))


def _alu_per_output(layer: LayerShape) -> int:
    """Element operations per output on a scale unit's lanes: 1 move (nearest, as Pad and Concat) or 6 (bilinear:
    3 lerps of a multiply and an add)."""
    return _lerp_alu(layer) or 1


_VECTORS = VectorKernel(loads_per_output_vector=_loads, alu_per_output_vector=_lerp_alu)


def _yaml(graph: Graph, node: Node) -> dict[str, Any]:
    op = node.op
    fields: dict[str, Any] = dict(op="resize", size=list(op.size), mode=op.mode, coordinate_mode=op.coordinate_mode)
    if op.mode == "nearest":
        fields["nearest_mode"] = op.nearest_mode
    if op.scales is not None:
        fields["scales"] = [float(s) for s in op.scales]
    if op.dequantized:
        fields["dequantized"] = True
    return fields


RESIZE = register_op(OpDef(
    attrs=Resize, arity=(1, 1), infer_shape=_resize_shape, float_ref=_float_ref,
    engine=EngineModule("accelsim.engine.resize"), ptq="inherit",
    cost=CostDescriptor(alu_ops_per_output=_alu_per_output, requant_per_output=none_per_output,
                        extents=_resize_extents, preserves_quant=True, vector=_VECTORS),
    to_yaml=_yaml))

__all__ = ["COORDINATE_MODES", "NEAREST_MODES", "RESIZE", "RESIZE_MODES", "Resize", "axis_scale",
           "ort_coordinates", "ort_nearest", "resize_float"]
