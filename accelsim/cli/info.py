"""``accelsim info WORKLOAD [--json]``: a workload's layers, parameter and MAC counts, and weight bytes."""
from __future__ import annotations

import argparse
import json

from accelsim.graph import ops as O
from accelsim.graph.ir import Graph
from accelsim.graph.stats import node_macs, node_params, op_label, param_count, total_macs
from accelsim.workloads import load_workload, zoo_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workload", help="a workload .yaml, an .onnx / .tflite model, or a zoo name "
                                         f"({', '.join(zoo_names())})")
    parser.add_argument("--json", action="store_true", help="print the table and totals as JSON")


def workload_info(graph: Graph) -> dict[str, object]:
    """Per-layer rows and totals; weight bytes are packed at each layer's weight width (int4: 2 per byte)."""
    layers = []
    weight_bytes = 0.0
    bias_bytes = 0.0
    for node in graph.nodes:
        out = graph.tensors[node.outputs[0]]
        weight_bits = None
        if node.kind in O.MAC_OPS:
            w = graph.tensors[node.inputs[1]]
            weight_bits = w.bits
            weight_bytes += w.storage_bytes
            bias_bytes += sum(graph.tensors[b].storage_bytes for b in node.inputs[2:])
        layers.append({
            "name": node.name,
            "op": op_label(graph, node), "output_shape": list(out.shape),
            "weight_bits": weight_bits,
            "activation_bits": out.bits, "params": node_params(graph, node), "macs": node_macs(graph, node),
        })
    totals = {"layers": len(layers), "params": param_count(graph), "macs": total_macs(graph),
              "weight_bytes": weight_bytes, "bias_bytes": bias_bytes}
    return {"name": graph.name, "synthetic_weights": bool(graph.metadata.get("synthetic_weights", False)),
            "layers": layers, "totals": totals}


def _table(info: dict[str, object]) -> str:
    headers = ["name", "op", "output shape", "w bits", "a bits", "params", "MACs"]
    rows = [[r["name"], r["op"], "x".join(str(d) for d in r["output_shape"]),
             "-" if r["weight_bits"] is None else str(r["weight_bits"]), str(r["activation_bits"]),
             f"{r['params']:,}", f"{r['macs']:,}"] for r in info["layers"]]  # type: ignore[union-attr]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    right = {3, 4, 5, 6}

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    t = info["totals"]
    lines = [f"workload {info['name']}", fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows),
             "",
             f"layers        {t['layers']}",  # type: ignore[index]
             f"params        {t['params']:,}",  # type: ignore[index]
             f"MACs          {t['macs']:,}",  # type: ignore[index]
             f"weight bytes  {t['weight_bytes']:,.0f}",  # type: ignore[index]
             f"bias bytes    {t['bias_bytes']:,.0f}"]  # type: ignore[index]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    info = workload_info(load_workload(args.workload))
    print(json.dumps(info, indent=2) if args.json else _table(info))
    return 0
