"""Kernel benchmark: MobileNet-v2 1.0/224 int8 (zoo layer shapes, synthetic weights), batch 1, in one process:

(a) ``accelsim.execute`` (numba kernels): first call (JIT compile or numba cache load) and steady state;
(b) onnxruntime on ``export_onnx_qlinear`` of the same graph, 1 intra-op thread and all threads
    (CPUExecutionProvider, default graph optimizations);
(c) LiteRT ``BUILTIN_REF`` (the reference kernels, 1 thread) on ``export_tflite`` of the same graph.

Prints images/s, the ratios and a Markdown table for docs/benchmarks.md. Goals: accelsim ≥ 0.5x onnxruntime
(1 thread) and ≥ 10x LiteRT reference.

    python benchmarks/bench_kernels.py [--repeat 10] [--cold-cache] [--profile]

``--cold-cache`` points numba at an empty cache directory so the first call includes the full JIT compile;
``--profile`` prints the steady-state time per op kind.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict


def cpu_model() -> str:
    """The CPU model name from lscpu (falls back to platform.processor())."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def timed(fn, repeat: int) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="steady-state calls per engine (LiteRT: a third)")
    parser.add_argument("--cold-cache", action="store_true", help="compile numba kernels from scratch")
    parser.add_argument("--profile", action="store_true", help="time accelsim per op kind")
    args = parser.parse_args()
    if args.cold_cache:
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="accelsim-numba-")

    import numpy as np
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from accelsim.execute import execute
    from accelsim.graph.exporters.onnx_qlinear import export_onnx_qlinear
    from accelsim.graph.exporters.tflite import export_tflite
    from accelsim.graph.stats import total_macs
    from accelsim.graph.synthetic import synthesize_weights
    from accelsim.workloads.yaml_format import build_graph
    from accelsim.workloads.zoo import mobilenet_v2

    graph = synthesize_weights(build_graph(mobilenet_v2()), seed=0)
    (input_name,) = graph.inputs
    (output_name,) = graph.outputs
    x = np.random.default_rng(0).integers(-128, 128, graph.tensors[input_name].shape).astype(np.int8)
    print(f"{graph.name}: {len(graph.nodes)} nodes, {total_macs(graph) / 1e6:.0f} M MACs, input {x.shape} int8")

    # (a) accelsim
    start = time.perf_counter()
    ours = execute(graph, {input_name: x})[output_name]
    first_s = time.perf_counter() - start
    accelsim_s = statistics.median(timed(lambda: execute(graph, {input_name: x}), args.repeat))

    # (b) onnxruntime
    onnx_bytes = export_onnx_qlinear(graph).SerializeToString()
    ort_s = {}
    for threads in (1, 0):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        ort_out = session.run(None, {input_name: x})[0]
        ort_s[threads] = statistics.median(timed(lambda: session.run(None, {input_name: x}), args.repeat))

    # (c) LiteRT reference kernels
    interpreter = Interpreter(model_content=export_tflite(graph), num_threads=1,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    in_index = interpreter.get_input_details()[0]["index"]
    out_index = interpreter.get_output_details()[0]["index"]

    def litert() -> None:
        interpreter.set_tensor(in_index, x)
        interpreter.invoke()

    litert()
    litert_out = interpreter.get_tensor(out_index)
    litert_s = statistics.median(timed(litert, max(2, args.repeat // 3)))

    diff = lambda other: int(np.abs(other.astype(np.int64) - ours.astype(np.int64)).max())  # noqa: E731
    ips = lambda s: 1.0 / s  # noqa: E731
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs; numba cache "
          f"{'cold (' + os.environ['NUMBA_CACHE_DIR'] + ')' if args.cold_cache else 'default (warm if run before)'}")
    print(f"logits max |diff| vs accelsim: onnxruntime {diff(ort_out)} (float requantization), "
          f"LiteRT {diff(litert_out)}")
    print()
    print("| engine | ms / image | images/s | accelsim speed-up |")
    print("|---|---|---|---|")
    rows = [("accelsim.execute, first call (compile / cache load)", first_s),
            ("accelsim.execute, steady state", accelsim_s),
            ("onnxruntime QLinear, 1 thread", ort_s[1]),
            (f"onnxruntime QLinear, all threads ({os.cpu_count()})", ort_s[0]),
            ("LiteRT BUILTIN_REF, 1 thread", litert_s)]
    for label, seconds in rows:
        print(f"| {label} | {seconds * 1e3:.1f} | {ips(seconds):.2f} | {seconds / accelsim_s:.2f}x |")
    print()
    print(f"accelsim / onnxruntime(1 thread) = {ort_s[1] / accelsim_s:.2f}x (goal >= 0.5x); "
          f"accelsim / LiteRT reference = {litert_s / accelsim_s:.1f}x (goal >= 10x)")

    if args.profile:
        profile(graph, input_name, x, args.repeat)
    return 0


def profile(graph, input_name: str, x, repeat: int) -> None:
    """Steady-state seconds per op kind (and the slowest nodes), by executing one-node graphs."""
    import numpy as np

    from accelsim.execute import execute
    from accelsim.graph.ir import Graph

    values = execute(graph, {input_name: x})
    per_kind: dict[str, float] = defaultdict(float)
    per_node = []
    for node in graph.nodes:
        acts = [n for n in node.inputs if not graph.tensors[n].is_constant]
        sub = Graph(node.name, {n: graph.tensors[n] for n in (*node.inputs, *node.outputs)}, (node,),
                    tuple(acts), node.outputs, {})
        feeds = {n: np.asarray(values[n]) for n in acts}
        execute(sub, feeds)
        seconds = statistics.median(timed(lambda: execute(sub, feeds), max(3, repeat // 2)))
        kind = node.kind
        if node.kind == "Conv2D":
            w = graph.tensors[node.inputs[1]]
            kind = "Depthwise" if node.op.groups > 1 else ("Conv 1x1" if w.shape[1:3] == (1, 1) else "Conv kxk")
        per_kind[kind] += seconds
        per_node.append((seconds, node.name, kind))
    print("\nsteady-state ms per op kind (one-node graphs):")
    for kind, seconds in sorted(per_kind.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:18s} {seconds * 1e3:8.2f}")
    print("slowest nodes:")
    for seconds, name, kind in sorted(per_node, reverse=True)[:8]:
        print(f"  {name:40s} {kind:12s} {seconds * 1e3:8.2f} ms")


if __name__ == "__main__":
    raise SystemExit(main())
