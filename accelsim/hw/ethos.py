"""Ethos-U-like NPU MAC engine: block-structured throughput of conv / FC, depthwise, pooling and elementwise ops.

The engine computes one *micro-block* of outputs (``uh × uw`` pixels × ``uc`` output channels) per step, each output a
dot product over ``dot_channels`` input channels, so ``uh·uw·uc·dot_channels`` MACs per cycle (2×2×8×8 = 256 on
Ethos-U55-256 / U65-256, 2×1×8×8 = 128 on U55-128). A layer runs as a sequence of *output blocks* (at most
``output_block_max``) whose input block and accumulators must fit the shared buffer (SHRAM, double-buffered, in
banks). The block is the one re-fetching the fewest input and weight elements per output among those that fit
(Vela's compiler's own ranking, :func:`block_refetch_cost`; vectorised over every block shape, memoised per layer
shape); ties go to the fastest, then to the largest. Per block:

* **dense conv / FC** (``lowering="conv"``): per kernel tap and input-channel slice of ``ifm_depth`` channels, every
  micro-block of the block takes ``ifm_depth / dot_channels`` cycles, but at least ``weight_load_cycles`` per step
  (the weights of one step are loaded once and used by all micro-blocks: a block of fewer than
  ``weight_load_cycles / 4`` micro-blocks is weight-load bound). Two kernel traversals: *depth-first* (slices of
  32 channels, every tap) or *part-kernel* (slices of 8 channels, taps in groups of 4); the compiler takes the one
  with the better channel × tap utilisation.
* **depthwise** (``"depthwise"``) and **global average pool** (``"depthwise"``, lowered to a depthwise conv with the
  whole map as kernel): 4 cycles per micro-block per group of 4 taps, at least ``weight_load_cycles``.
* **pooling** (``"pool"``; also a rescaling Concat, one 1×1 pass per input): ``pool_tap_cycles × max(4, taps)``
  cycles per micro-block (Vela's Python model has ``max(4, taps)``; the factor ``pool_tap_cycles`` = 4 is fitted
  to Vela 5.2.0's C++ estimates, see docs/compute-units.md §5).
* kernels larger than ``subkernel_max`` are split into sub-kernels, each costed on its own.
* a block of a single micro-block in x and y pays ``block_delay_cycles`` per step (accumulator pipeline latency).
* with ``cores`` engines (Ethos-U65-512: 2) each block's MAC cycles are divided among them.
* the output unit writes ``output_cycles_per_element`` per output element of the block; it overlaps the next
  block's MACs, so a layer takes ``max(mac, output) × blocks + min(mac, output)``.
* **elementwise** (``"elementwise"``; Add): the output unit alone, ``rate × N·OH·OW·ceil16(C)``
  (feature maps are stored in 16-channel bricks).

A lookup-table activation (HardSwish, Sigmoid, Tanh, LeakyReLU on 8-bit data) that Vela fuses into the op producing
its input (:func:`lut_fusion`) runs no pass of its own; that op's output unit writes through the table at
``max(rate, lut_activation_cycles_per_element)`` per element (:func:`output_rate`).

16-bit activations halve the rate of every MAC step (depthwise / pooling cycles × 2; input slices of 16 channels,
2 taps per part-kernel step). Memory stalls are not in these cycles: the memory model adds them.

Data movement (:func:`block_streaming`, :func:`elementwise_blocks`): the engine streams each output block's input
block and each output plane's weights from the memory holding them; the mapping honours that pattern
(:func:`accelsim.mapping.tiling.streamed_tiling`, docs/model.md §2.2).

Source: Arm Vela 5.2.0 [ref:Vela] public performance model, read (not copied) from ``ethosu/vela/npu_performance.py``
(``_estimate_conv_cycles``, ``_estimate_output_cycles_per_element``, ``measure_cycle_cost``),
``architecture_allocator.py`` (``find_block_config``: block search and its re-fetch ranking, SHRAM bank layout,
kernel-traversal choice) and ``architecture_features.py`` (``accelerator_configs``: micro-blocks, SHRAM banks and
granules; output/activation cycles per element; ``SubKernelMax``; ``ofm_block_max``); graph lowering of MEAN to a
depthwise conv and the fusion of LUT activations (``fuse_activation_function_with_prev``) from
``tflite_graph_optimiser.py``. Checked against Vela's per-layer estimates in
``tests/test_ethos.py`` and ``accelsim validate``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from accelsim.config.hw import MacEngine
from accelsim.errors import UnsupportedError
from accelsim.graph.ir import Graph
from accelsim.hw.layer import LayerShape

#: How the engine runs a layer (``UnitWork.lowering``).
EngineLowering = Literal["conv", "depthwise", "pool", "elementwise"]
#: Output-unit rate classes of :class:`accelsim.config.hw.OutputRates`.
RateClass = Literal["mac", "mac_wide_accumulator", "add", "max_pool", "other"]
#: Feature-map storage brick depth (NHCWB16): elementwise work is counted on channels rounded up to it.
BRICK_CHANNELS = 16
#: Output-block depths are multiples of this when the block does not cover all output channels (Vela
#: ``ArchitectureFeatures.OFMSplitDepth``).
SPLIT_DEPTH = 16


#: Activations Vela runs as a 256-entry lookup table on 8-bit data: it rewrites each into a no-op Add whose fused
#: activation is the table, marked ``is_nop`` (Vela 5.2.0 [ref:Vela] ``tflite_graph_optimiser.py``
#: ``convert_hardswish_to_lut``, ``convert_tanh_sigmoid_to_lut``, ``convert_lrelu`` -> ``lut.py``
#: ``convert_to_lut``; a LeakyReLU of slope 0 becomes a ReLU instead).
LUT_ACTIVATION_KINDS = frozenset({"HardSwish", "Sigmoid", "Tanh", "LeakyReLU"})
#: Ops the NPU runs with a block type other than ``Default`` (Vela ``operation.py``: ConvolutionMxN,
#: ConvolutionDepthWise, VectorProduct, Pooling, ElementWise; MEAN is lowered to a depthwise conv): the
#: producers a LUT activation can be fused into.
LUT_PRODUCER_KINDS = frozenset({"Conv2D", "FullyConnected", "AvgPool", "MaxPool", "GlobalAveragePool", "Mean",
                                "Add", "Sub", "Mul"})
#: Vela reserves two unused SHRAM end banks, where the LUT lives, only on engines with more SHRAM banks than this;
#: with fewer the LUT shares the accumulator banks and Vela does not fuse it (Vela 5.2.0
#: ``architecture_features.py`` ``shram_reserved_unused_banks``, ``tflite_graph_optimiser.py``
#: ``fuse_activation_function_with_prev``).
LUT_SHARED_SHRAM_BANKS_MAX = 16


def lut_fusion(graph: Graph, engine: MacEngine | None) -> dict[str, str]:
    """The lookup-table activations Vela fuses into the op producing their input: activation name -> producer
    name (empty without a MAC engine, or on one whose LUT would share the accumulator banks).

    Vela 5.2.0 [ref:Vela] ``tflite_graph_optimiser.py`` ``fuse_activation_function_with_prev``: a no-op LUT
    activation (:data:`LUT_ACTIVATION_KINDS` on 8-bit data, input and output of one type) moves into the op
    producing its input when that op runs on the NPU with a block type (:data:`LUT_PRODUCER_KINDS`), its output
    has this activation as its only consumer (here: and is no graph output), and it has no fused activation of its
    own; not when the SHRAM has no banks to spare for the LUT (:data:`LUT_SHARED_SHRAM_BANKS_MAX`). The fused op
    writes the activation's output through its output unit's LUT: the activation runs no pass of its own, and the
    producer's output rate becomes at least the LUT rate (:func:`output_rate`). Memory-only ops between the two
    (which Vela bypasses first) are not looked through."""
    if engine is None or engine.shram_banks <= LUT_SHARED_SHRAM_BANKS_MAX:
        return {}
    fused = {}
    for node in graph.nodes:
        if node.kind not in LUT_ACTIVATION_KINDS or (node.kind == "LeakyReLU" and node.op.alpha == 0):
            continue
        x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
        if x.dtype != y.dtype or x.dtype not in ("int8", "uint8"):
            continue
        prev = graph.producer(node.inputs[0])
        if (prev is not None and prev.kind in LUT_PRODUCER_KINDS and len(graph.consumers(node.inputs[0])) == 1
                and node.inputs[0] not in graph.outputs and getattr(prev.op, "activation", "NONE") == "NONE"):
            fused[node.name] = prev.name
    return fused


#: Elementwise ops whose output Vela may store NHWC to overwrite an NHWC input (Vela ``is_elementwise_op``; the
#: ones accelsim's graphs have).
ELEMENTWISE_KINDS = frozenset({"Add", "Sub", "Mul"})


def linear_format_outputs(graph: Graph) -> frozenset[str]:
    """The nodes whose output Vela stores NHWC (linear) rather than in 16-channel bricks: the graph's outputs, and
    each elementwise op (:data:`ELEMENTWISE_KINDS`) whose output depth is not a multiple of 16 and that has an
    activation input of the output's shape and type stored NHWC (a graph input, or such an op's output, in
    execution order): its output is then kept NHWC so it may overwrite that input in place (Vela 5.2.0 [ref:Vela]
    ``scheduler.py`` ``avoid_nhcwb16_for_ofm``; graph inputs and outputs are NHWC, ``graph_optimiser_util.py``
    ``check_format_restrictions``, ``extract_npu_subgraphs.py``). Other reasons Vela has for NHWC (CPU
    neighbours, concat / split / reshape shapes) are not modelled."""
    linear = {t for t in graph.inputs if not graph.tensors[t].is_constant}
    outputs = set(graph.outputs)
    nodes = set()
    for node in graph.nodes:
        y = graph.tensors[node.outputs[0]]
        keep = node.outputs[0] in outputs
        if not keep and node.kind in ELEMENTWISE_KINDS and y.shape[-1] % BRICK_CHANNELS:
            keep = any(t in linear and graph.tensors[t].shape == y.shape and graph.tensors[t].dtype == y.dtype
                       for t in node.inputs)
        if keep:
            linear.add(node.outputs[0])
            nodes.add(node.name)
    return frozenset(nodes)


@dataclass(frozen=True)
class EngineGeometry:
    """The numbers of a :class:`MacEngine` config the cycle formulas use (hashable, for memoisation)."""

    ublock_h: int
    ublock_w: int
    ublock_c: int
    dot_channels: int
    block_max_h: int
    block_max_w: int
    block_max_c: int
    subkernel_max: int
    shram_banks: int            # banks available to the input and accumulator buffers
    shram_bank_bytes: int
    ifm_bank_granule: int
    accumulator_bank_granule: int
    wide_accumulator_bank_granule: int
    weight_load_cycles: int
    block_delay_cycles: int
    cores: int
    rate_mac: float
    rate_mac_wide: float
    rate_add: float
    rate_max_pool: float
    rate_other: float
    pool_tap_cycles: int
    rate_lut: float             # output-unit cycles per element through a fused LUT activation

    @classmethod
    def of(cls, engine: MacEngine) -> "EngineGeometry":
        r = engine.output_cycles_per_element
        return cls(engine.micro_block.height, engine.micro_block.width, engine.micro_block.depth,
                   engine.dot_product_channels, engine.output_block_max.height, engine.output_block_max.width,
                   engine.output_block_max.depth, engine.subkernel_max,
                   engine.shram_banks - engine.shram_reserved_banks,
                   engine.shram_bank_bytes, engine.ifm_bank_granule, engine.accumulator_bank_granule,
                   engine.wide_accumulator_bank_granule, engine.weight_load_cycles, engine.block_delay_cycles,
                   engine.cores,
                   r.mac, r.mac_wide_accumulator, r.add, r.max_pool, r.other,
                   engine.pool_tap_cycles, engine.lut_activation_cycles_per_element)

    @property
    def macs_per_cycle(self) -> int:
        return self.ublock_h * self.ublock_w * self.ublock_c * self.dot_channels * self.cores

    def rate(self, rate_class: str) -> float:
        """Output-unit cycles per output element of a rate class."""
        return {"mac": self.rate_mac, "mac_wide_accumulator": self.rate_mac_wide, "add": self.rate_add,
                "max_pool": self.rate_max_pool, "other": self.rate_other}[rate_class]


@dataclass(frozen=True)
class EngineOp:
    """A layer as the engine sees it: output ``N × OH × OW × O``, input ``H × W × C``, kernel and strides,
    activation width, lowering and output-rate class."""

    lowering: EngineLowering
    batch: int
    out_h: int
    out_w: int
    out_c: int
    in_c: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride_h: int = 1
    stride_w: int = 1
    activation_bits: int = 8
    rate_class: RateClass = "mac"
    lut_activation: bool = False       # the output passes through a fused lookup-table activation
    linear_output: bool = False        # the output is stored NHWC, not in 16-channel bricks


@dataclass(frozen=True)
class EngineTiming:
    """Cycles of one layer on the engine and the output block it ran with."""

    cycles: float
    block: tuple[int, int, int]        # output block (height, width, channels)
    blocks: int                        # output blocks of the layer
    mac_cycles_per_block: float        # MAC-array cycles of one full block
    output_cycles_per_block: float     # output-unit cycles of one full block
    part_kernel: bool                  # dense conv: part-kernel traversal (else depth-first)
    ifm_fetch_elements: float          # input elements read into the shared buffer, halos and re-reads included
    weight_fetch_elements: float       # weight elements read, re-reads per block included


def _ceil_div(a, b):
    return -(-a // b)


def _round_up(a, b):
    return _ceil_div(a, b) * b


def engine_op(layer: LayerShape) -> EngineOp:
    """The engine's view of a layer: dense MAC ops -> ``conv``, depthwise -> ``depthwise``, a global average pool
    -> ``depthwise`` with the whole input map as kernel (as Vela lowers MEAN), windowed pools and rescaling
    Concats (a 1×1 pass) -> ``pool``, Add -> ``elementwise``; ``lut_activation`` when a lookup-table activation
    is fused into the layer's output (:attr:`LayerShape.output_lut`, :func:`lut_fusion`). UnsupportedError for a
    grouped (not depthwise) conv."""
    wide = layer.activation_bits > 8
    common = dict(batch=layer.batch, out_h=layer.out_h, out_w=layer.out_w, out_c=layer.out_channels,
                  in_c=layer.in_channels, activation_bits=layer.activation_bits, lut_activation=layer.output_lut,
                  linear_output=layer.output_linear)
    if layer.is_mac:
        if layer.groups == 1:
            lowering = "conv"
        elif layer.is_depthwise:
            lowering = "depthwise"
        else:
            raise UnsupportedError(f"layer {layer.name!r}: the MAC engine runs dense and depthwise convolutions, "
                                   f"not grouped ones (groups={layer.groups})")
        return EngineOp(lowering, kernel_h=layer.kernel_h, kernel_w=layer.kernel_w, stride_h=layer.stride_h,
                        stride_w=layer.stride_w, rate_class="mac_wide_accumulator" if wide else "mac", **common)
    if layer.kind == "GlobalAveragePool":
        return EngineOp("depthwise", kernel_h=layer.in_h, kernel_w=layer.in_w, rate_class="other", **common)
    if layer.kind in ("AvgPool", "MaxPool"):
        return EngineOp("pool", kernel_h=layer.kernel_h, kernel_w=layer.kernel_w, stride_h=layer.stride_h,
                        stride_w=layer.stride_w, rate_class="max_pool" if layer.kind == "MaxPool" else "other",
                        **common)
    if layer.kind == "Concat":           # a rescaling copy per input: a 1×1 pass through the engine
        return EngineOp("pool", rate_class="other", **common)
    return EngineOp("elementwise", rate_class="add" if layer.kind == "Add" else "other", **common)


def elementwise_elements(op: EngineOp) -> int:
    """Output elements an elementwise op's output unit writes: ``N·OH·OW·ceil16(C)`` for a map stored in
    16-channel bricks (NHCWB16), ``N·OH·OW·C`` for one stored NHWC (:func:`linear_format_outputs`). Vela 5.2.0
    [ref:Vela] ``npu_performance.py`` ``measure_cycle_cost`` (the OFM shape rounded up to the storage rounding
    quantum of its format: ``architecture_features.py`` ``storage_rounding_quantums``)."""
    depth = op.out_c if op.linear_output else _round_up(op.out_c, BRICK_CHANNELS)
    return op.batch * op.out_h * op.out_w * depth


def output_rate(g: EngineGeometry, op: EngineOp) -> float:
    """Output-unit cycles per output element of ``op``: its rate class's rate, raised to the lookup-table rate
    when a LUT activation is fused into its output, ``max(rate, rate_lut)`` (Vela 5.2.0 [ref:Vela]
    ``npu_performance.py`` ``_estimate_output_cycles_per_element``: the max of ``output_cycles_per_elem`` of the
    op and ``activation_cycles_per_elem`` of its fused activation, index 0 for ``Op.LUT``)."""
    rate = g.rate(op.rate_class)
    return max(rate, g.rate_lut) if op.lut_activation else rate


def part_kernel_traversal(in_channels: int, taps: int, activation_bits: int) -> bool:
    """Whether a dense conv walks its kernel part-first (8-channel slices × groups of 4 taps, 2 at 16 bits)
    rather than depth-first (32-channel slices, 16 at 16 bits): the traversal that wastes fewer MAC slots on
    channel and tap padding; part-kernel for at most 8 input channels (Vela ``_choose_kernel_method``)."""
    if in_channels <= 8:
        return True
    depth_slice = 32 if activation_bits <= 8 else 16
    tap_group = 4 if activation_bits <= 8 else 2
    depth_util = in_channels / _round_up(in_channels, depth_slice)
    part_util = in_channels * taps / (_round_up(in_channels, 8) * _round_up(taps, tap_group))
    return part_util > depth_util


def ifm_block_depth(in_channels: int, activation_bits: int, part_kernel: bool, ifm_ublock_c: int = 8) -> int:
    """Input channels per slice of a dense conv: 32 (16 part-kernel) at 8 bits, 16 at 16 bits, never more than
    the layer's channels rounded up to the micro-block depth."""
    if activation_bits > 8:
        return _round_up(min(in_channels, 16), 4)
    return _round_up(min(in_channels, 16 if part_kernel else 32), ifm_ublock_c)


def subkernels(kernel_h: int, kernel_w: int, limit: int) -> tuple[int, ...]:
    """Taps of each sub-kernel when a ``kernel_h × kernel_w`` kernel is split into pieces of at most
    ``limit × limit``."""
    ys = [min(limit, kernel_h - i) for i in range(0, kernel_h, limit)]
    xs = [min(limit, kernel_w - i) for i in range(0, kernel_w, limit)]
    return tuple(y * x for y in ys for x in xs)


def mac_cycles_per_block(g: EngineGeometry, op: EngineOp, block_h, block_w, block_c, part_kernel: bool):
    """MAC-array cycles of one ``block_h × block_w × block_c`` output block (all sub-kernels, all input slices);
    the block sizes may be numpy arrays (one result per block).

    Per sub-kernel of ``t`` taps with ``xy`` micro-blocks in the block's plane and ``z`` in its depth:
    dense depth-first ``max(W, 4·xy)·t·z``; part-kernel ``max(W, 4·xy)·ceil(t/4)·(slice/8)·z``; depthwise
    ``max(W, 4·xy·a)·ceil(t/4)·z``; pooling ``P·max(4, t)·xy·z·a`` (``W`` = weight_load_cycles, ``P`` =
    pool_tap_cycles, ``a`` = 2 at 16-bit activations); plus the single-micro-block delay; dense convs repeat per
    input slice.
    """
    block_h, block_w, block_c = np.asarray(block_h), np.asarray(block_w), np.asarray(block_c)
    ublock_h, ublock_w = g.ublock_h, g.ublock_w
    if (ublock_h == 2 and op.lowering in ("conv", "depthwise") and op.out_h == 1 and op.out_w % 2 == 0
            and op.kernel_h == 1):
        ublock_h, ublock_w, block_h = 1, 4, np.ones_like(block_h)   # 1-D maps: a 1×4 micro-block fills the array
    nx, ny = _ceil_div(block_w, ublock_w), _ceil_div(block_h, ublock_h)
    xy, z = nx * ny, _ceil_div(block_c, g.ublock_c)
    single = (nx == 1) & (ny == 1)
    a = 2 if op.activation_bits > 8 else 1
    limit = g.subkernel_max
    if op.lowering == "conv" and op.out_h * op.out_w == 1 and op.kernel_h * op.kernel_w == 1:
        limit = 1                                        # a vector product (FC) walks one tap at a time
    slice_c = ifm_block_depth(op.in_c, op.activation_bits, part_kernel) if op.lowering == "conv" else 0
    total = np.zeros(np.broadcast(xy, z).shape)
    for taps in subkernels(op.kernel_h, op.kernel_w, limit):
        if op.lowering == "pool":
            steps = 1
            cycles = g.pool_tap_cycles * max(4, taps) * xy * z * a
        elif op.lowering == "depthwise":
            steps = _ceil_div(taps, 4)
            cycles = np.maximum(g.weight_load_cycles, 4 * xy * a) * steps * z
        elif part_kernel:
            steps = _ceil_div(taps, 2 if a == 2 else 4)
            cycles = np.maximum(g.weight_load_cycles, 4 * xy) * steps * _ceil_div(slice_c, 8) * z
        else:
            steps = taps
            cycles = np.maximum(g.weight_load_cycles, 4 * xy) * steps * z
        delay = np.where(single, np.where(z == 1, g.block_delay_cycles * steps,
                                          g.block_delay_cycles * (steps - 1) * z), 0)
        if op.lowering == "conv" and part_kernel:
            delay = delay * _ceil_div(slice_c, 8)
        total = total + cycles + delay
    if op.lowering == "conv":
        total = total * _ceil_div(op.in_c, slice_c)
    total = total / g.cores                              # the cores split each block's MAC work
    return total if total.ndim else float(total)


def _block_candidates(g: EngineGeometry, op: EngineOp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every output block shape: heights/widths in micro-block steps up to the map (rounded) and the maximum;
    depths in :data:`SPLIT_DEPTH` steps below the layer's channels, or all of them (rounded to the micro-block)."""
    hs = np.arange(g.ublock_h, min(_round_up(op.out_h, g.ublock_h), g.block_max_h) + 1, g.ublock_h)
    ws = np.arange(g.ublock_w, min(_round_up(op.out_w, g.ublock_w), g.block_max_w) + 1, g.ublock_w)
    c_all = min(_round_up(op.out_c, g.ublock_c), g.block_max_c)
    cs = sorted({c for c in range(SPLIT_DEPTH, c_all + 1, SPLIT_DEPTH)} | {c_all})
    h, w, c = np.meshgrid(hs, ws, np.array(cs), indexing="ij")
    return h.ravel(), w.ravel(), c.ravel()


def _fits_shram(g: EngineGeometry, op: EngineOp, ifm_h, ifm_w, ifm_c, h, w, c) -> np.ndarray:
    """Whether the input block and (for MAC/pool ops) the accumulator block, each double-buffered and rounded to
    its bank granule, fit the shared buffer's banks."""
    bank = g.shram_bank_bytes
    ifm_bytes = ifm_h * ifm_w * _round_up(ifm_c * op.activation_bits // 8, 8)
    ifm_banks = _round_up(_ceil_div(ifm_bytes, bank) * 2, g.ifm_bank_granule)
    if op.lowering == "elementwise":
        return 2 * ifm_banks <= g.shram_banks
    wide_acc = op.activation_bits > 8 and op.lowering != "pool"
    acc_bits, granule = (40, g.wide_accumulator_bank_granule) if wide_acc else (32, g.accumulator_bank_granule)
    acc_bytes = h * w * _round_up(c, 8) * acc_bits // 8
    acc_banks = _round_up(_ceil_div(acc_bytes, bank) * 2, granule)
    return ifm_banks + acc_banks <= g.shram_banks


def block_refetch_cost(ifm_fetch, weight_fetch, outputs: int, ifm_elements: int, ifm_block_elements):
    """The compiler's block ranking: input and weight elements fetched per output element, halved when the whole
    input fits in two input blocks (Vela 5.2.0 ``architecture_allocator.py`` ``find_block_config``: the block
    with the least re-fetch wins, whatever its cycles; the bias prefers a block whose input stays in the
    double-buffered SHRAM). ``ifm_elements``: the input map the output plane reads (padding excluded)."""
    cost = (np.asarray(ifm_fetch) + np.asarray(weight_fetch)) / outputs
    return np.where(ifm_elements < 2 * np.asarray(ifm_block_elements), cost / 2, cost)


def _ifm_extent(out: np.ndarray, stride: int, kernel: int, limit: int, ublock: int) -> np.ndarray:
    """Input rows (columns) an output block of ``out`` rows needs for one sub-kernel, rounded to the micro-block."""
    return _round_up((out - 1) * stride + min(kernel, limit), ublock)


@lru_cache(maxsize=4096)
def engine_timing(g: EngineGeometry, op: EngineOp) -> EngineTiming:
    """Cycles of ``op`` on the engine (memoised; see the module docstring for the formulas)."""
    if op.lowering == "elementwise":
        elements = elementwise_elements(op)
        cycles = output_rate(g, op) * elements
        return EngineTiming(float(math.ceil(cycles)), (op.out_h, op.out_w, op.out_c), 1, 0.0, cycles, False,
                            float(elements), 0.0)
    taps = op.kernel_h * op.kernel_w
    part_kernel = op.lowering == "conv" and part_kernel_traversal(op.in_c, taps, op.activation_bits)
    h, w, c = _block_candidates(g, op)
    ifm_h = _ifm_extent(h, op.stride_h, op.kernel_h, g.subkernel_max, g.ublock_h)
    ifm_w = _ifm_extent(w, op.stride_w, op.kernel_w, g.subkernel_max, g.ublock_w)
    if op.lowering == "conv":
        ifm_c = np.full_like(c, ifm_block_depth(op.in_c, op.activation_bits, part_kernel))
    else:
        ifm_c = c
    fits = _fits_shram(g, op, ifm_h, ifm_w, ifm_c, h, w, c)
    if not fits.any():
        raise UnsupportedError(f"no output block of a {op.lowering} op with a {op.kernel_h}x{op.kernel_w} kernel "
                               f"fits the MAC engine's shared buffer ({g.shram_banks} banks)")
    h, w, c, ifm_h, ifm_w, ifm_c = h[fits], w[fits], c[fits], ifm_h[fits], ifm_w[fits], ifm_c[fits]
    # Re-fetch per output element (the compiler's block criterion): input elements read per block, all channels,
    # once per sub-kernel (and per output-channel block for dense convs), plus weights re-read per block plane.
    blocks_y, blocks_x, blocks_c = _ceil_div(op.out_h, h), _ceil_div(op.out_w, w), _ceil_div(op.out_c, c)
    planes = blocks_y * blocks_x * op.batch
    repeats = len(subkernels(op.kernel_h, op.kernel_w, g.subkernel_max))
    ifm_fetch = ifm_h * ifm_w * op.in_c * repeats * planes * (blocks_c if op.lowering == "conv" else 1)
    weight_fetch = (taps * op.in_c * planes * (c * blocks_c if op.lowering == "conv" else 1)
                    if op.lowering in ("conv", "depthwise") else np.zeros_like(h))
    outputs = op.batch * op.out_h * op.out_w * op.out_c
    in_plane = ((op.out_h - 1) * op.stride_h + op.kernel_h) * ((op.out_w - 1) * op.stride_w + op.kernel_w)
    refetch = block_refetch_cost(ifm_fetch, weight_fetch, outputs, in_plane * op.in_c * op.batch,
                                 ifm_h * ifm_w * ifm_c)
    mac = mac_cycles_per_block(g, op, h, w, c, part_kernel)
    out = np.ceil(output_rate(g, op) * h * w * c)
    n_blocks = planes * blocks_c
    cycles = np.maximum(mac, out) * n_blocks + np.minimum(mac, out)
    # The compiler's choice: the least re-fetch per output; among equal ones the fastest, then the largest.
    best = np.lexsort((-c, -(h * w), cycles, refetch))[0]
    bh, bw, bc = int(h[best]), int(w[best]), int(c[best])
    mac, out, n_blocks, cycles = float(mac[best]), float(out[best]), int(n_blocks[best]), float(cycles[best])
    return EngineTiming(float(cycles), (bh, bw, bc), n_blocks, mac, float(out), part_kernel,
                        float(ifm_fetch[best]), float(weight_fetch[best]))


def block_streaming(op: EngineOp, timing: EngineTiming, input_elements: int, weight_elements: int
                    ) -> tuple[float, float, float]:
    """How the engine streams a layer's operands from the memory holding them, block by block: ``(input_reads,
    weight_reads, first_block_input_elements)``; reads are elements fetched per element of the operand.

    The engine holds one input block and one output block in its SHRAM, so every output block (each output-depth
    block of a dense conv included) fetches its input block, halo and all input channels, once per sub-kernel,
    from the memory holding the feature map (:attr:`EngineTiming.ifm_fetch_elements`), and every output spatial
    block fetches the weights of all its output channels (:attr:`EngineTiming.weight_fetch_elements`); outputs
    are written once. Vela 5.2.0 [ref:Vela] ``npu_performance.py`` ``measure_element_access`` (IFM, weight and
    OFM element access) and ``estimate_full_op_performance`` (they are charged to the memory area of the IFM
    tensor and of the weights, or of their SRAM buffer). Elementwise ops read each input once (channels rounded
    up to the 16-channel brick)."""
    if op.lowering == "elementwise":
        input_reads = timing.ifm_fetch_elements / (op.batch * op.out_h * op.out_w * op.out_c)
    else:
        input_reads = timing.ifm_fetch_elements / input_elements if input_elements else 0.0
    weight_reads = timing.weight_fetch_elements / weight_elements if weight_elements else 0.0
    return input_reads, weight_reads, input_reads * input_elements / max(1, timing.blocks)


def ifm_read_run_bytes(op: EngineOp, timing: EngineTiming) -> float:
    """Bytes of one contiguous run when the engine reads an input block from a channel-interleaved (NHWC) map:
    per pixel, one input-block depth of channels (a dense conv's slice depth, :func:`ifm_block_depth`, so a
    3-channel network input is fetched 8 channels = 8 bytes per pixel; other ops: the block's channels).
    Vela 5.2.0 [ref:Vela] ``npu_performance.py`` ``_estimate_memory_transfer_efficiency`` (NHWC reads: a burst
    of ``ifm_block.depth`` elements), checked on its debug database (``--enable-debug-db``, DramFeatureMap_read of
    ResNet-18's conv1 on Ethos-U65-256: 392 blocks × 22 × 38 × 3 bytes × 128 / 8). Feature maps between NPU ops
    are stored in 16-channel bricks (NHCWB16) whose block reads are long runs: not run-limited."""
    if op.lowering == "conv":
        depth = ifm_block_depth(op.in_c, op.activation_bits, timing.part_kernel)
    else:
        depth = timing.block[2]
    return depth * op.activation_bits / 8


def elementwise_blocks(g: EngineGeometry, op: EngineOp) -> int:
    """Blocks an elementwise op streams in: each block's two inputs, double buffered, fill the shared buffer's
    banks (``_fits_shram`` for elementwise ops), so a block holds at most a quarter of them; feature maps in
    16-channel bricks (Vela 5.2.0 [ref:Vela] ``architecture_allocator.py`` ``_try_block_config``: IFM and IFM2
    double-buffered, no accumulators)."""
    block_bytes = g.shram_banks * g.shram_bank_bytes // 4
    elements = elementwise_elements(op)
    return max(1, _ceil_div(elements * op.activation_bits // 8, block_bytes))
