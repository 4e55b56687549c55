"""Writing workload YAML: a :class:`WorkloadSpec` to text (one layer per line), and a quantized graph back to a spec.

``graph_to_spec`` lets an imported model (ONNX, TFLite) be saved as an editable workload file: it recovers the
layers, their inputs and the per-layer bit widths, not the weights.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import yaml

from accelsim.config.loading import SafeDumper
from accelsim.errors import UnsupportedError
from accelsim.graph import ops as O
from accelsim.graph.ir import Graph, Node
from accelsim.workloads.yaml_format import (
    INPUT_NAME, LAYER_TYPES, Layer, LayerOverride, QuantSpec, WorkloadSpec,
)

_FIRST_KEYS = ("name", "op")


def layer_to_dict(layer: Layer) -> dict[str, Any]:
    """A layer as a plain mapping without default-valued attributes: name, op, attributes, then inputs."""
    data = layer.model_dump(mode="json", exclude_defaults=True)
    data["op"] = layer.op
    ordered = {k: data[k] for k in _FIRST_KEYS}
    ordered.update({k: v for k, v in data.items() if k not in _FIRST_KEYS and k != "inputs"})
    if "inputs" in data:
        ordered["inputs"] = data["inputs"]
    return ordered


def spec_to_yaml(spec: WorkloadSpec) -> str:
    """The YAML text of a workload: a block-style header and one flow-style mapping per layer."""
    header: dict[str, Any] = {"name": spec.name}
    if spec.description:
        header["description"] = spec.description
    header["input_shape"] = list(spec.input_shape)
    header["quant"] = spec.quant.model_dump(mode="json", exclude_none=True)
    header["quant"]["overrides"] = {k: v.model_dump(exclude_none=True) for k, v in spec.quant.overrides.items()}
    if spec.outputs is not None:
        header["outputs"] = list(spec.outputs)
    text = yaml.dump(header, Dumper=SafeDumper, sort_keys=False, default_flow_style=None, width=120)
    lines = [text.rstrip("\n"), "layers:"]
    for layer in spec.layers:
        flow = yaml.dump(layer_to_dict(layer), Dumper=SafeDumper, sort_keys=False, default_flow_style=True, width=10_000)
        lines.append(f"- {flow.strip()}")
    return "\n".join(lines) + "\n"


def _node_layer(graph: Graph, node: Node, layer_name: dict[str, str], previous: str) -> dict[str, Any]:
    definition = O.op_def(node.kind)
    if definition.to_yaml is None:
        raise UnsupportedError(f"node {node.name!r}: op {node.kind} has no workload YAML form")
    acts = node.inputs[:definition.activation_count(len(node.inputs))]
    data: dict[str, Any] = {"name": node.name, **definition.to_yaml(graph, node)}
    inputs = [layer_name.get(t, t) for t in acts]
    if inputs != [previous]:
        data["inputs"] = inputs
    return data


def graph_to_spec(graph: Graph) -> WorkloadSpec:
    """The workload spec of a quantized graph with one NHWC input: layers, inputs and per-layer bit widths.

    The most common weight / activation widths and per-channel setting become the defaults; layers that differ
    get ``quant.overrides``. Weights are not kept (a YAML workload has shape-only weights). Every node must use
    the same requantization mode (``quant.requant``); mixed modes raise ``UnsupportedError``.
    """
    if len(graph.inputs) != 1 or len(graph.tensor(graph.inputs[0]).shape) != 4:
        raise UnsupportedError(f"graph {graph.name!r}: only graphs with one 4-D NHWC input can be written as YAML")
    layer_name = {graph.inputs[0]: INPUT_NAME}
    for node in graph.nodes:
        layer_name[node.outputs[0]] = node.name
    layers: list[Layer] = []
    previous = INPUT_NAME
    widths: dict[str, tuple[int | None, int, bool | None]] = {}
    for node in graph.nodes:
        data = _node_layer(graph, node, layer_name, previous)
        layers.append(LAYER_TYPES[data["op"]].model_validate(data))
        out_bits = graph.tensors[node.outputs[0]].bits
        if O.op_def(node.kind).has_weights:
            w = graph.tensors[node.inputs[1]]
            widths[node.name] = (w.bits, out_bits, w.quant.per_channel_quantized)
        else:
            widths[node.name] = (None, out_bits, None)
        previous = node.name
    mac = [v for v in widths.values() if v[0] is not None]
    weight_bits = Counter(v[0] for v in mac).most_common(1)[0][0] if mac else 8
    per_channel = Counter(v[2] for v in mac).most_common(1)[0][0] if mac else True
    activation_bits = graph.tensor(graph.inputs[0]).bits
    overrides: dict[str, LayerOverride] = {}
    for name, (wb, ab, pc) in widths.items():
        fields = {}
        if wb is not None and wb != weight_bits:
            fields["weight_bits"] = wb
        if ab != activation_bits:
            fields["activation_bits"] = ab
        if pc is not None and pc != per_channel:
            fields["per_channel"] = pc
        if fields:
            overrides[name] = LayerOverride(**fields)
    modes = sorted({n.requant for n in graph.nodes})
    if len(modes) > 1:
        raise UnsupportedError(f"graph {graph.name!r}: its nodes use requantization modes {', '.join(modes)}; a "
                               f"YAML workload has one quant.requant for every layer")
    requant = modes[0] if modes else "fixed_point"
    quant = QuantSpec(weight_bits=weight_bits, activation_bits=activation_bits, per_channel=per_channel,
                      symmetric_weights=bool(graph.metadata.get("symmetric_weights", True)), requant=requant,
                      overrides=overrides)
    outputs = tuple(layer_name[o] for o in graph.outputs)
    return WorkloadSpec(graph.name, str(graph.metadata.get("description", "")), graph.tensor(graph.inputs[0]).shape,
                        quant, tuple(layers), None if outputs == (previous,) else outputs)
