"""Kernel benchmark: MobileNet-v2 1.0/224 int8 (zoo layer shapes, synthetic weights), batch 1, in one process:

(a) ``accelsim.execute`` (numba kernels + BLAS for the exact float GEMMs): first call (JIT compile or numba cache
    load), then steady state with ``threads=1`` and with all cores (the engine's own worker threads; BLAS and
    numba's ``prange`` kernels are held at one thread inside ``execute``), the two timed in alternation so a
    change of machine load hits both alike;
(b) onnxruntime on ``export_onnx_qlinear`` of the same graph, 1 intra-op thread and all threads
    (CPUExecutionProvider, default graph optimizations);
(c) LiteRT ``BUILTIN_REF`` (the reference kernels, 1 thread) on ``export_tflite`` of the same graph.

Times are the best (and the median) of ``--repeat`` calls. Prints images/s, the ratios (like for like: 1 thread vs 1 thread, all vs all) and a Markdown table for
docs/benchmarks.md. Goals: accelsim ≥ 0.5x onnxruntime and ≥ 10x LiteRT reference.

    python benchmarks/bench_kernels.py [--repeat 10] [--cold-cache] [--profile]

``--cold-cache`` points numba at an empty cache directory so the first call includes the full JIT compile;
``--profile`` prints the steady-state time per op kind.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict

from machine import cpu_model  # benchmarks/machine.py


def timed(fn, repeat: int) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls (callers keep the best, as timeit does: on a shared machine the
    minimum is the figure least disturbed by other processes)."""
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

    import numba
    import numpy as np
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from accelsim.execute import engine_threads, execute
    from accelsim.graph.exporters.onnx_qlinear import export_onnx_qlinear
    from accelsim.graph.exporters.tflite import export_tflite
    from accelsim.graph.stats import total_macs
    from accelsim.graph.synthetic import synthesize_weights
    from accelsim.workloads.yaml_format import build_graph
    from accelsim.workloads.zoo import mobilenet_v2

    load_before = f"{os.getloadavg()[0]:.2f}"
    graph = synthesize_weights(build_graph(mobilenet_v2()), seed=0)
    (input_name,) = graph.inputs
    (output_name,) = graph.outputs
    x = np.random.default_rng(0).integers(-128, 128, graph.tensors[input_name].shape).astype(np.int8)
    print(f"{graph.name}: {len(graph.nodes)} nodes, {total_macs(graph) / 1e6:.0f} M MACs, input {x.shape} int8")

    # (a) accelsim
    start = time.perf_counter()
    ours = execute(graph, {input_name: x})[output_name]
    first_s = time.perf_counter() - start
    all_threads = engine_threads()
    samples: dict[int, list[float]] = {1: [], all_threads: []}
    for _ in range(args.repeat):
        for threads in samples:
            samples[threads] += timed(lambda: execute(graph, {input_name: x}, threads=threads), 1)
    accelsim_s = {threads: min(times) for threads, times in samples.items()}
    median_s = {threads: float(np.median(times)) for threads, times in samples.items()}

    # (b) onnxruntime
    onnx_bytes = export_onnx_qlinear(graph).SerializeToString()
    ort_s = {}
    for threads in (1, 0):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        ort_out = session.run(None, {input_name: x})[0]
        ort_s[threads] = min(timed(lambda: session.run(None, {input_name: x}), args.repeat))

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
    litert_s = min(timed(litert, max(2, args.repeat // 3)))

    diff = lambda other: int(np.abs(other.astype(np.int64) - ours.astype(np.int64)).max())  # noqa: E731
    ips = lambda s: 1.0 / s  # noqa: E731
    print(f"load average before / after: {load_before} / {os.getloadavg()[0]:.2f}")
    print(f"numba {numba.__version__} (serial kernels; accelsim's own engine threads), BLAS {threadpool_info_line()}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs; numba cache "
          f"{'cold (' + os.environ['NUMBA_CACHE_DIR'] + ')' if args.cold_cache else 'default (warm if run before)'}")
    print(f"logits max |diff| vs accelsim: onnxruntime {diff(ort_out)} (float requantization), "
          f"LiteRT {diff(litert_out)}")
    print()
    print("| engine | threads | ms / image | images/s |")
    print("|---|---|---|---|")
    rows = [("accelsim.execute, first call (compile or cache load)", all_threads, first_s),
            ("accelsim.execute, steady state", 1, accelsim_s[1]),
            ("accelsim.execute, steady state", all_threads, accelsim_s[all_threads]),
            ("onnxruntime QLinear", 1, ort_s[1]),
            ("onnxruntime QLinear", os.cpu_count(), ort_s[0]),
            ("LiteRT BUILTIN_REF", 1, litert_s)]
    for label, threads, seconds in rows:
        print(f"| {label} | {threads} | {seconds * 1e3:.1f} | {ips(seconds):.2f} |")
    print(f"accelsim steady state, median of {args.repeat}: 1 thread {median_s[1] * 1e3:.1f} ms, "
          f"{all_threads} threads {median_s[all_threads] * 1e3:.1f} ms")
    print()
    print(f"accelsim / onnxruntime, 1 thread each: {ort_s[1] / accelsim_s[1]:.2f}x; all threads each: "
          f"{ort_s[0] / accelsim_s[all_threads]:.2f}x (goal >= 0.5x)")
    print(f"accelsim / LiteRT reference, 1 thread each: {litert_s / accelsim_s[1]:.2f}x; accelsim on all threads: "
          f"{litert_s / accelsim_s[all_threads]:.2f}x (goal >= 10x)")

    if args.profile:
        profile(graph, input_name, x, args.repeat)
    return 0


def threadpool_info_line() -> str:
    """The BLAS library numpy uses (name, version, architecture) as threadpoolctl sees it."""
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})" for i in blas) or "none"


def profile(graph, input_name: str, x, repeat: int) -> None:
    """Steady-state time and MAC rate per op kind (and the slowest nodes), one-node graphs, ``threads=1``."""
    import numpy as np

    from accelsim.execute import execute
    from accelsim.graph.ir import Graph
    from accelsim.graph.stats import node_macs

    values = execute(graph, {input_name: x})
    per_kind: dict[str, float] = defaultdict(float)
    macs_kind: dict[str, int] = defaultdict(int)
    per_node = []
    for node in graph.nodes:
        acts = [n for n in node.inputs if not graph.tensors[n].is_constant]
        sub = Graph(node.name, {n: graph.tensors[n] for n in (*node.inputs, *node.outputs)}, (node,),
                    tuple(acts), node.outputs, {})
        feeds = {n: np.asarray(values[n]) for n in acts}
        execute(sub, feeds, threads=1)
        seconds = min(timed(lambda: execute(sub, feeds, threads=1), max(3, repeat // 2)))
        kind = node.kind
        if node.kind == "Conv2D":
            w = graph.tensors[node.inputs[1]]
            kind = "Depthwise" if node.op.groups > 1 else ("Conv 1x1" if w.shape[1:3] == (1, 1) else "Conv kxk")
        macs = node_macs(graph, node)
        per_kind[kind] += seconds
        macs_kind[kind] += macs
        per_node.append((seconds, node.name, kind, macs))
    print("\nsteady state, threads=1, one-node graphs:")
    print("| op kind | ms | M MACs | GMAC/s |")
    print("|---|---|---|---|")
    for kind, seconds in sorted(per_kind.items(), key=lambda kv: -kv[1]):
        print(f"| {kind} | {seconds * 1e3:.2f} | {macs_kind[kind] / 1e6:.1f} | {macs_kind[kind] / seconds / 1e9:.2f} |")
    print("slowest nodes:")
    for seconds, name, kind, macs in sorted(per_node, reverse=True)[:8]:
        print(f"  {name:34s} {kind:10s} {seconds * 1e3:7.2f} ms  {macs / seconds / 1e9:5.2f} GMAC/s")


if __name__ == "__main__":
    raise SystemExit(main())
