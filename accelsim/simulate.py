"""``simulate(workload, hw) -> Report``: map every node, time its tile pipeline, price its energy.

Layers run one after another; with ``prefetch`` (default) the next layer's first weight tile loads while the
current layer computes (:mod:`accelsim.timing.network`). Activations stay in the on-chip activation level when
they fit next to each layer's tile buffers (:func:`accelsim.mapping.residency.plan_residency`; graph inputs and
outputs too with ``graph_io: onchip``); the others go through DRAM. Per layer: :func:`accelsim.mapping.map_layer`
(unit, tiling, traffic), a tile pipeline (:mod:`accelsim.timing.pipeline`), the network schedule timed by the
simpy event model (default) or the closed form, and the row of :func:`accelsim.report.layer_result`.
"""
from __future__ import annotations

import dataclasses
import warnings
import weakref
from pathlib import Path

import numpy as np

from accelsim._version import __version__
from accelsim.config.hw import HardwareConfig, load_hw
from accelsim.errors import ModelWarning, UnsupportedError
from accelsim.graph.ir import Graph, Node
from accelsim.graph.ops import op_def
from accelsim.graph.ptq import with_batch_size
from accelsim.graph.stats import op_label
from accelsim.hw.compression import CompressionResult, best_codec
from accelsim.hw.energy_model import energy_table_of, table_sources, technology_scaling_of
from accelsim.hw.ethos import linear_format_outputs, lut_fusion
from accelsim.hw.layer import LayerShape, layer_shape
from accelsim.mapping import compute_cost, map_layer, operand_bytes
from accelsim.mapping.residency import ResidencyPlan, minimum_tile_bytes, plan_residency
from accelsim.mapping.tiling import OBJECTIVES
from accelsim.report import (
    LayerResult,
    Report,
    repeated,
    flatten,
    layer_result,
    results_frame,
    network_totals,
    unused_register_file_notes,
)
from accelsim.timing.network import network_timing
from accelsim.timing.pipeline import (
    TIMING_MODELS,
    layer_decompression_cycles,
    layer_pipeline,
    onchip_port_cycles,
    tile_runs,
)

# Re-exported: these moved to mapping/residency.py, timing/pipeline.py and report.py.
__all__ = ["TIMING_MODELS", "ResidencyPlan", "layer_decompression_cycles",
           "onchip_port_cycles", "plan_residency", "simulate", "tile_runs", "unused_register_file_notes"]


def simulate(workload: Graph | str | Path, hw: HardwareConfig | str | Path, *, objective: str = "latency",
             timing_model: str = "event", scalesim_compat: bool = False, prefetch: bool | None = None,
             sub_batch: int | None = None) -> Report:
    """Simulate ``workload`` (a Graph, a workload/model path or a zoo name) on ``hw`` (a config or a YAML path).

    ``objective`` ranks tilings (``latency`` then DRAM bytes, or ``dram_bytes`` then latency);
    ``timing_model`` is ``event`` (simpy) or ``closed_form``; ``scalesim_compat`` reports systolic compute
    cycles as SCALE-Sim does (its one-cycle-per-layer offset). ``prefetch`` loads each layer's first weight
    tile under the previous layer (:mod:`accelsim.timing.network`); None = on, except in SCALE-Sim mode (SCALE-Sim
    times layers alone). ``sub_batch`` runs a batch of ``N`` images as ``N / sub_batch`` passes of ``sub_batch``
    images (a divisor of ``N``); None = the whole batch at once, unless its intermediate activations do not all
    fit on chip and a smaller divisor gives a lower latency (:func:`choose_sub_batch`). Raises UnsupportedError for
    an unknown ``objective`` or ``timing_model`` or a bad ``sub_batch``, MappingError naming the layer when a node
    cannot run on ``hw``.
    """
    if timing_model not in TIMING_MODELS:
        raise UnsupportedError(f"unknown timing model {timing_model!r}; use one of {', '.join(TIMING_MODELS)}")
    if objective not in OBJECTIVES:
        raise UnsupportedError(f"unknown objective {objective!r}; use one of {', '.join(OBJECTIVES)}")
    if prefetch is None:
        prefetch = not scalesim_compat
    if not isinstance(hw, HardwareConfig):
        hw = load_hw(hw)
    graph = workload if isinstance(workload, Graph) else _load_workload(workload)
    graph, float_note = _quantized_for_cost(graph)
    graph, synthetic = _weights_for_compression(graph, hw)
    batch = batch_size(graph)
    if sub_batch is not None and (not isinstance(sub_batch, int) or sub_batch < 1 or batch % sub_batch):
        raise UnsupportedError(f"sub_batch must be a divisor of the batch size {batch}, got {sub_batch!r}")
    settings = (objective, timing_model, scalesim_compat, prefetch)
    rows, spills = _layer_results(graph, hw, *settings)
    passes = 1
    if sub_batch is not None and sub_batch != batch:
        passes = batch // sub_batch
        rows, _ = _layer_results(with_batch_size(graph, sub_batch), hw, *settings)
    elif sub_batch is None and spills:
        passes, rows = choose_sub_batch(graph, hw, rows, settings)
    if passes > 1:
        rows = [repeated(row, passes) for row in rows]
    table = energy_table_of(hw)
    sram_levels, rf_levels = _levels_by_kind(hw)
    layers = results_frame(rows)
    totals = flatten(network_totals(layers, hw, table, sram_levels))
    notes = unused_register_file_notes(layers, hw, rf_levels)
    for note in notes:
        warnings.warn(note, ModelWarning, stacklevel=2)
    metadata = {
        "config_hash": hw.config_hash(), "hw_name": hw.name, "workload_name": graph.name,
        "energy_table": table.name, "energy_table_sources": list(table_sources(table)),
        "technology_scaling": technology_scaling_of(hw, table).as_metadata(),
        "accelsim_version": __version__, "synthetic_weights": synthetic, "timing_model": timing_model,
        "objective": objective, "clock_mhz": hw.clock_mhz, "scalesim_compat": scalesim_compat, "prefetch": prefetch,
        "batch": batch, "sub_batch": batch // passes, "warnings": notes,
        **({"float_model": float_note} if float_note else {}),
    }
    return Report(layers=layers, totals=totals, metadata=metadata)


def _layer_results(graph: Graph, hw: HardwareConfig, objective: str, timing_model: str, scalesim_compat: bool,
                   prefetch: bool) -> tuple[list[LayerResult], bool]:
    """The rows of one pass of ``graph`` through ``hw``, and whether an intermediate activation spilled off chip."""
    table = energy_table_of(hw)
    sram_levels, rf_levels = _levels_by_kind(hw)
    shapes = {node.name: layer_shape(graph, node) for node in graph.nodes}
    engine = hw.compute.of_kind("mac_engine")
    for activation, producer in lut_fusion(graph, engine).items():
        shapes[activation] = dataclasses.replace(shapes[activation], lut_fused=True)
        shapes[producer] = dataclasses.replace(shapes[producer], output_lut=True)
    for name in linear_format_outputs(graph) if engine is not None else ():
        shapes[name] = dataclasses.replace(shapes[name], output_linear=True)
    weights = {node.name: _compressed_weights(graph, node, shapes[node.name], hw) for node in graph.nodes}
    reserves: dict[tuple, float] = {}

    def tile_reserve(node: Node) -> float:
        layer, (compressed, _) = shapes[node.name], weights[node.name]
        key = (dataclasses.replace(layer, name=""), compressed)
        if key not in reserves:
            reserves[key] = _tile_reserve_bytes(layer, hw, compressed, scalesim_compat)
        return reserves[key]

    plan = plan_residency(graph, hw, tile_reserve)
    cache: dict[tuple, tuple] = {}
    rows = []
    for node in graph.nodes:
        layer = shapes[node.name]
        compressed, codec = weights[node.name]
        residency, reserved = plan.residency(graph, node), plan.reserved_bytes[node.name]
        raw = _graph_input_share(graph, node)
        key = (dataclasses.replace(layer, name=""), residency, reserved, raw)
        if compressed is not None or key not in cache:
            mapping = map_layer(layer, hw, compressed, codec, objective, scalesim_compat, residency, reserved, raw)
            pipeline = layer_pipeline(mapping, hw, reserved)
            if compressed is None:
                cache[key] = (mapping, pipeline)
        else:
            mapping, pipeline = cache[key]
            mapping = dataclasses.replace(mapping, layer=layer)
        rows.append((node, mapping, pipeline))
    timing = network_timing(tuple(pipeline for _, _, pipeline in rows), timing_model, prefetch)
    results = [layer_result(op_label(graph, node), mapping, latency, hw, table, sram_levels, rf_levels, hidden)
               for (node, mapping, _), latency, hidden in zip(rows, timing.latency_cycles, timing.hidden_cycles)]
    return results, plan.spills_intermediates(graph)


def _levels_by_kind(hw: HardwareConfig) -> tuple[list[str], list[str]]:
    """(SRAM level names, register-file level names), innermost first."""
    levels = hw.onchip_levels().items()
    return ([name for name, lv in levels if lv.kind == "sram"],
            [name for name, lv in levels if lv.kind == "register_file"])


def batch_size(graph: Graph) -> int:
    """The leading (batch) dimension of the graph's first input (1 for a graph without inputs)."""
    if not graph.inputs:
        return 1
    shape = graph.tensors[graph.inputs[0]].shape
    return int(shape[0]) if shape else 1


def choose_sub_batch(graph: Graph, hw: HardwareConfig, whole: list[LayerResult], settings: tuple
                     ) -> tuple[int, list[LayerResult]]:
    """``(passes, rows of one pass)``: the batch split into the divisor ``b`` of its size ``N`` whose ``N / b``
    passes take the fewest cycles (``whole`` = the rows of the unsplit batch, kept on a tie).

    A compiler splits a batch whose activations do not fit the on-chip buffer: smaller passes keep activations on
    chip but fetch the weights once per pass (TPU v1 serves batches of 8–200 images from its 24 MiB Unified Buffer,
    Jouppi et al. ISCA 2017 §2 and Table 1 [ref:Jouppi17]; the weight-bandwidth roofline of §4 holds per pass).
    """
    batch = batch_size(graph)
    best = (sum(row.latency_cycles for row in whole), 1, whole)
    for b in sorted((d for d in range(1, batch) if batch % d == 0), reverse=True):
        rows, _ = _layer_results(with_batch_size(graph, b), hw, *settings)
        cycles = batch // b * sum(row.latency_cycles for row in rows)
        if cycles < best[0] * (1 - 1e-9):
            best = (cycles, batch // b, rows)
    return best[1], best[2]


# ------------------------------------------------------------------------------------------------- inputs
def _graph_input_share(graph: Graph, node: Node) -> float:
    """Share of ``node``'s activation-input bytes that are network inputs (stored raw in DRAM: an activation
    codec at the DRAM interface encodes only what the accelerator writes)."""
    ins = [t for t in node.inputs if not graph.tensors[t].is_constant]
    total = sum(graph.tensors[t].storage_bytes for t in ins)
    raw = sum(graph.tensors[t].storage_bytes for t in ins if t in graph.inputs)
    return raw / total if total else 0.0


def _load_workload(path: str | Path) -> Graph:
    from accelsim.workloads import load_workload

    return load_workload(path)


#: Inputs a float model is calibrated on before it is costed, and their distribution: images scaled to [-1, 1]
#: (the synthetic weights' input assumption, accelsim.graph.synthetic).
FLOAT_MODEL_CALIBRATION_INPUTS = 2
_QUANTIZED_FOR_COST: weakref.WeakKeyDictionary[Graph, Graph] = weakref.WeakKeyDictionary()


def _quantized_for_cost(graph: Graph) -> tuple[Graph, str | None]:
    """A float model (an ONNX export of a trained network, say) is costed as the int8 network PTQ makes of it: its
    own weights quantized with the default :class:`~accelsim.graph.ptq.PTQSettings` (W8A8, per-channel), the
    activation ranges calibrated on :data:`FLOAT_MODEL_CALIBRATION_INPUTS` uniform [-1, 1] inputs (seed 0). The
    ranges decide no cycle, byte or energy figure; accuracy needs the model's own data (a task, docs/tasks.md).
    Returns the graph and the note recorded in the report's metadata (None for a quantized graph)."""
    if not graph.is_float:
        return graph, None
    from accelsim.graph.ptq import PTQSettings, quantize_graph

    settings = PTQSettings()
    quantized = _QUANTIZED_FOR_COST.get(graph)
    if quantized is None:
        rng = np.random.default_rng(0)
        batch = batch_size(graph)
        calibration = {name: rng.uniform(-1.0, 1.0, (FLOAT_MODEL_CALIBRATION_INPUTS * batch,
                                                      *graph.tensors[name].shape[1:])).astype(np.float32)
                       for name in graph.inputs}
        quantized = quantize_graph(graph, calibration, settings)
        _QUANTIZED_FOR_COST[graph] = quantized
    granularity = "per-channel" if settings.weight_per_channel else "per-tensor"
    return quantized, (f"float model quantized for costing: PTQ W{settings.weight_bits}A{settings.activation_bits} "
                       f"{granularity}, activation ranges from {FLOAT_MODEL_CALIBRATION_INPUTS} uniform [-1, 1] "
                       f"inputs (not for accuracy)")


#: Synthesized-weight graph of each shape-only graph, kept while the original lives (a sweep simulates one
#: workload on many configs: synthesize once).
_SYNTHESIZED: weakref.WeakKeyDictionary[Graph, Graph] = weakref.WeakKeyDictionary()
#: Best-codec result per weight tensor (by identity) and (storage bits, codecs), kept while the tensor lives.
_COMPRESSED: weakref.WeakKeyDictionary[object, dict[tuple[int, tuple[str, ...]], CompressionResult]] = (
    weakref.WeakKeyDictionary())


def _weights_for_compression(graph: Graph, hw: HardwareConfig) -> tuple[Graph, bool]:
    """The graph with weight values when a decompression unit needs them (synthesized if shape-only, once per
    graph)."""
    synthetic = bool(graph.metadata.get("synthetic_weights", False))
    if hw.decompression is None:
        return graph, synthetic
    shape_only = any(graph.tensors[n.inputs[1]].data is None for n in graph.nodes if op_def(n.kind).has_weights)
    if shape_only:
        from accelsim.graph.synthetic import synthesize_weights

        synthesized = _SYNTHESIZED.get(graph)
        if synthesized is None:
            synthesized = _SYNTHESIZED[graph] = synthesize_weights(graph, seed=0)
        return synthesized, True
    return graph, synthetic


def _tile_reserve_bytes(layer: LayerShape, hw: HardwareConfig, compressed: float | None,
                        scalesim_compat: bool) -> float:
    """Bytes of the activation level the layer's smallest tile set needs
    (:func:`accelsim.mapping.residency.minimum_tile_bytes` with its unit's tile granules)."""
    cost = compute_cost(layer, hw, scalesim_compat)
    if cost.unit == "none":
        return 0.0
    ratio = compressed / layer.weight_bytes if compressed is not None and layer.weight_bytes else 1.0
    return minimum_tile_bytes(layer, hw, operand_bytes(layer, hw, ratio), cost.channel_granule,
                              cost.reduction_granule)


def _compressed_weights(graph: Graph, node: Node, layer: LayerShape, hw: HardwareConfig) -> tuple[float | None, str]:
    """(compressed bytes, codec) of the node's weights with the best configured codec
    (:func:`accelsim.hw.compression.best_codec`, memoized per weight tensor), or (None, "none") without a
    decompression unit or a saving."""
    if hw.decompression is None or not layer.has_weights:
        return None, "none"
    tensor = graph.tensors[node.inputs[1]]
    results = _COMPRESSED.setdefault(tensor, {})
    key = (layer.weight_bits, tuple(hw.decompression.codecs))
    best = results.get(key)
    if best is None:
        best = results[key] = best_codec(np.asarray(tensor.data), layer.weight_bits, hw.decompression.codecs)
    if best.compressed_bytes >= layer.weight_bytes and hw.decompression.raw_when_larger:
        return None, "none"
    return float(best.compressed_bytes), best.codec
