"""Costs real HVX kernels pay beyond their software-pipelined inner loops (a SIMD unit's ``kernel_costs``).

The model follows the structure of Hexagon NN's int8 kernels ([ref:HexagonNN]: ``docs/d32.txt``,
``hexagon/ops/src/op_supernode_new.c`` for dense convolutions, ``op_dwise_snode_8bit.c`` for depthwise), read to
learn how they loop, not copied:

- **Layout (d32).** Activations live in a depth-32 layout: depth padded to a multiple of 32 and width (with its
  left/right padding) to a multiple of 4, so one row of ``width x 32`` bytes fills whole 128-byte vectors
  (``docs/d32.txt``). The inner loops therefore run over padded extents: :func:`padded_layer`. A graph input of
  3-4 channels is read by the shallow-input kernel in its flat layout, depth padded to 4 (``shallow_input_depth``).
  Ops whose kernel works on the flat layout (FullyConnected: a matrix multiply) take no d32 padding but first
  convert their input out of d32 (:func:`layout_conversion_cycles`).
- **Work items and calls.** A layer's output is cut into 32-deep output-depth slices; each context takes a share of
  the slices x rows and calls the assembly kernel once per output row of a slice, paying a scalar prologue and the
  loop's fill and drain each call (``call_cycles``): :func:`kernel_calls`.
- **Transfers.** Each slice's weights come from L2 (copied into VTCM where there is one, else prefetched into L2);
  the first transfer of each slice a context works on is exposed (``slice_transfer_latency_cycles``), later ones
  overlap compute.
- **Threads.** The contexts share the work list and meet at a barrier at the end of every layer
  (``sync_cycles_per_context`` per participating context), after a per-layer scalar set-up
  (``layer_setup_cycles``): :func:`overhead_cycles`.

Which parameters are sourced and which were fitted (and on what) is recorded in each HVX config and in
docs/validation.md (HVX section); ``tools/fit_hvx.py`` redoes the fit.
"""
from __future__ import annotations

import math
from dataclasses import replace

from accelsim.config.hw import SimdKernelCosts
from accelsim.hw.layer import LayerShape

#: Op kinds whose Hexagon NN kernel works on the flat (NHWC) layout, so their input is converted out of d32 and
#: their extents take no d32 padding ([ref:HexagonNN] ``docs/ops.txt``: QuantizedMatMul_8x8to32 works on flat
#: tensors; the d32 ops carry the ``_d32`` suffix).
FLAT_LAYOUT_KINDS = frozenset({"FullyConnected"})


def pad_to(value: int, multiple: int) -> int:
    """``value`` rounded up to a multiple of ``multiple``."""
    return math.ceil(value / multiple) * multiple


def padded_depth(channels: int, costs: SimdKernelCosts) -> int:
    """Depth as the kernels store it: up to ``shallow_input_depth`` channels padded to that figure (the flat
    shallow-input kernel), otherwise to a multiple of ``depth_multiple`` (d32)."""
    if 0 < channels <= costs.shallow_input_depth:
        return costs.shallow_input_depth
    return pad_to(channels, costs.depth_multiple)


def is_flat_layout(layer: LayerShape) -> bool:
    """True when the op's kernel works on the flat layout (:data:`FLAT_LAYOUT_KINDS`)."""
    return layer.kind in FLAT_LAYOUT_KINDS


def padded_layer(layer: LayerShape, costs: SimdKernelCosts) -> LayerShape:
    """``layer`` with the extents the d32 kernels loop over: output width padded to ``width_multiple``, input and
    output depth to :func:`padded_depth` (depthwise: the channel groups too). Flat-layout ops and grouped
    (non-depthwise) convolutions keep their extents."""
    if is_flat_layout(layer) or costs.is_ideal or (layer.groups > 1 and not layer.is_depthwise):
        return layer
    out_w = pad_to(layer.out_w, costs.width_multiple)
    out_c = padded_depth(layer.out_channels, costs)
    if layer.is_depthwise:
        in_c = pad_to(layer.in_channels, costs.depth_multiple)
        return replace(layer, out_w=out_w, in_channels=in_c, out_channels=in_c * layer.depth_multiplier, groups=in_c)
    in_c = padded_depth(layer.in_channels, costs) if layer.is_mac else out_c
    return replace(layer, out_w=out_w, in_channels=in_c, out_channels=out_c)


def depth_slices(layer: LayerShape, costs: SimdKernelCosts) -> int:
    """Output-depth slices of ``depth_multiple`` channels (one work-list column)."""
    return math.ceil(layer.out_channels / costs.depth_multiple)


def kernel_calls(layer: LayerShape, costs: SimdKernelCosts) -> int:
    """Kernel calls for ``layer`` (or one context's share of it): one per output row per depth slice,
    ``N·OH x ceil(O / depth_multiple)``; 0 for a view."""
    if layer.cost.is_view:
        return 0
    return layer.batch * layer.out_h * depth_slices(layer, costs)


def overhead_cycles(calls: int, slices: int, contexts_used: int, costs: SimdKernelCosts) -> float:
    """Cycles one context spends outside its inner loops on a layer: ``layer_setup + contexts_used x sync +
    calls x call_cycles + slices x slice_transfer_latency`` (``calls`` and ``slices`` of the busiest context's
    share; the barrier is paid once per participating context, serially at the join)."""
    if calls == 0:
        return 0.0
    return (costs.layer_setup_cycles + contexts_used * costs.sync_cycles_per_context + calls * costs.call_cycles
            + slices * costs.slice_transfer_latency_cycles)


def layout_conversion_cycles(layer: LayerShape, costs: SimdKernelCosts, contexts: int) -> float:
    """Cycles converting a flat-layout op's input out of d32: its input bytes, depth padded to ``depth_multiple``,
    at ``layout_conversion_bytes_per_cycle`` per context, shared by ``contexts``; 0 for d32 ops or when no rate
    is set."""
    rate = costs.layout_conversion_bytes_per_cycle
    if rate is None or not is_flat_layout(layer):
        return 0.0
    padded_bytes = layer.input_bytes / layer.in_channels * pad_to(layer.in_channels, costs.depth_multiple)
    return padded_bytes / (rate * contexts)
