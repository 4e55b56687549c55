"""Benchmark: accelsim's systolic model against SCALE-Sim 3.0.0 on the same layers, time and cycle agreement.

- ResNet-18 (SCALE-Sim's ``resnet18.csv``, 21 layers) on its bundled 32x32 config (WS, CALC bandwidth mode, no
  traces): SCALE-Sim runs in a background process (several minutes) while the rest runs;
- a few single layers in each dataflow (os, ws, is), each through both;
- ResNet-18 through the whole ``accelsim.simulate`` (memories, tiling, overlap, energy) in SCALE-Sim mode, and
  MobileNet-v2 1.0/224 on ``hw_configs/hvx_690.yaml``.

For each: CPU seconds of both (the process's own CPU time, so other load on the machine does not inflate it;
SCALE-Sim's wall time is printed too), the speed ratio, and per-layer agreement of our ``scalesim_total_cycles``
with SCALE-Sim's Total Cycles minus Stall Cycles. Our time covers the per-layer model only (LayerShapes built
beforehand), averaged over repeated calls; the topology load + LayerShape time is printed too.

    python benchmarks/bench_vs_scalesim.py [--skip-network] [--repeat 200]
"""
from __future__ import annotations

import argparse
import configparser
import csv
import datetime
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from machine import cpu_model  # benchmarks/machine.py

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "scalesim"
CONFIG = DATA / "scale_bundled_32x32_ws.cfg"
LAYOUT = DATA / "layout_dummy.csv"
HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
SINGLE_LAYERS = {   # ResNet-18 rows and SCALE-Sim's own Inception test layer
    "Conv4_s": "Conv4_s,28,28,1,1,128,256,2,\n",
    "Conv5_s": "Conv5_s,14,14,1,1,256,512,2,\n",
    "Inc5b_3x3": "Inc5b_3x3, 7, 7, 3, 3, 192, 384, 1,\n",
}


def run_scalesim(topology: Path, rows: int, cols: int, dataflow: str) -> tuple[float, float, list[int]]:
    """Run SCALE-Sim (CALC mode, no traces) in a temp dir: (CPU seconds, wall seconds, per-layer Total − Stall
    cycles)."""
    from scalesim.scale_sim import scalesim

    cfg = configparser.ConfigParser()
    cfg.read(CONFIG)
    cfg["architecture_presets"].update(ArrayHeight=str(rows), ArrayWidth=str(cols), Dataflow=dataflow)
    with tempfile.TemporaryDirectory(prefix="bench-scalesim-") as tmp:
        cfg_path = Path(tmp) / "run.cfg"
        with open(cfg_path, "w") as f:
            cfg.write(f)
        start, cpu_start = time.perf_counter(), time.process_time()
        sim = scalesim(save_disk_space=True, verbose=False, config=str(cfg_path), topology=str(topology),
                       layout=str(LAYOUT))
        sim.run_scale(top_path=tmp)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        with open(Path(tmp) / cfg["general"]["run_name"] / "COMPUTE_REPORT.csv") as f:
            rows_out = list(csv.reader(f))[1:]
    return cpu_seconds, seconds, [int(r[2]) - int(r[3]) for r in rows_out]


def ours(topology: Path, rows: int, cols: int, dataflow: str, repeat: int) -> tuple[float, float, list[int]]:
    """(load + LayerShape CPU seconds, model CPU seconds per evaluation, per-layer scalesim_total_cycles)."""
    from accelsim.hw.layer import layer_shape
    from accelsim.hw.systolic import systolic_timing
    from accelsim.workloads.scalesim_topology import load_scalesim_topology

    start = time.process_time()
    graph = load_scalesim_topology(topology)
    shapes = [layer_shape(graph, node) for node in graph.nodes]
    load_seconds = time.process_time() - start
    start = time.process_time()
    for _ in range(repeat):
        timings = [systolic_timing(shape, rows, cols, dataflow) for shape in shapes]
    model_seconds = (time.process_time() - start) / repeat
    return load_seconds, model_seconds, [t.scalesim_total_cycles for t in timings]


def ours_full(topology: Path, repeat: int) -> tuple[float, list[int]]:
    """The whole accelsim simulation (memories, tiling, overlap model, energy) of a SCALE-Sim topology on the
    bundled config, in SCALE-Sim compatibility mode: (CPU seconds per simulation, per-layer compute cycles)."""
    import accelsim
    from accelsim.config.scalesim import load_scalesim_config
    from accelsim.workloads.scalesim_topology import load_scalesim_topology

    graph = load_scalesim_topology(topology)
    hw = load_scalesim_config(CONFIG).to_hardware_config()
    accelsim.simulate(graph, hw, scalesim_compat=True)  # warm-up: imports, first numba/simpy use
    start = time.process_time()
    for _ in range(repeat):
        result = accelsim.simulate(graph, hw, scalesim_compat=True)
    seconds = (time.process_time() - start) / repeat
    return seconds, [int(c) for c in result.layers["compute_cycles"]]


def time_mobilenet_v2_on_hvx(repeat: int) -> None:
    """CPU time of one full simulation of MobileNet-v2 1.0/224 on hw_configs/hvx_690.yaml (first call and steady)."""
    import accelsim

    root = Path(__file__).resolve().parent.parent
    start = time.process_time()
    graph = accelsim.load_workload(root / "workloads" / "mobilenet_v2_1.0_224.yaml")
    hw = accelsim.load_hw(root / "hw_configs" / "hvx_690.yaml")
    load_s = time.process_time() - start
    start = time.process_time()
    first = accelsim.simulate(graph, hw)
    first_s = time.process_time() - start
    start = time.process_time()
    for _ in range(repeat):
        accelsim.simulate(graph, hw)
    steady_s = (time.process_time() - start) / repeat
    print(f"MobileNet-v2 on hvx_690: load {load_s * 1e3:.0f} ms, first simulate {first_s * 1e3:.0f} ms, steady "
          f"{steady_s * 1e3:.1f} ms per simulation ({len(graph.nodes)} layers, "
          f"{first.totals['latency_ms']:.3f} ms simulated latency)", flush=True)


def report(label: str, scalesim_seconds: float, wall_seconds: float, theirs: list[int], load_s: float,
           model_s: float, mine: list[int]) -> None:
    agree = sum(a == b for a, b in zip(mine, theirs))
    print(f"{label:<22} SCALE-Sim {scalesim_seconds:8.2f} s CPU ({wall_seconds:.1f} s wall) | accelsim model "
          f"{model_s * 1e3:7.3f} ms "
          f"(+ load {load_s * 1e3:.1f} ms) | ratio {scalesim_seconds / model_s:12,.0f}x | cycles "
          f"{sum(mine):,} vs {sum(theirs):,}, {agree}/{len(theirs)} layers equal", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-network", action="store_true", help="only the single layers")
    parser.add_argument("--repeat", type=int, default=200, help="repeats of our model per measurement")
    args = parser.parse_args()
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu_model()}, "
          f"Python {platform.python_version()}", flush=True)

    resnet = DATA / "resnet18.csv"
    with ProcessPoolExecutor(max_workers=1) as pool:
        network = None if args.skip_network else pool.submit(run_scalesim, resnet, 32, 32, "ws")
        if network:
            print("ResNet-18 32x32 ws: SCALE-Sim started in the background", flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-layers-") as tmp:
            for name, row in SINGLE_LAYERS.items():
                topology = Path(tmp) / f"{name}.csv"
                topology.write_text(HEADER + row)
                for dataflow in ("os", "ws", "is"):
                    cpu_s, wall_s, theirs = run_scalesim(topology, 32, 32, dataflow)
                    load_s, model_s, mine = ours(topology, 32, 32, dataflow, args.repeat * 10)
                    report(f"{name} 32x32 {dataflow}", cpu_s, wall_s, theirs, load_s, model_s, mine)
        if network:
            load_s, model_s, mine = ours(resnet, 32, 32, "ws", args.repeat)
            print(f"ResNet-18 32x32 ws: accelsim model {model_s * 1e3:.3f} ms per network; waiting for SCALE-Sim",
                  flush=True)
            full_s, full_cycles = ours_full(resnet, max(args.repeat // 20, 3))
            cpu_s, wall_s, theirs = network.result()
            report("ResNet-18 32x32 ws", cpu_s, wall_s, theirs, load_s, model_s, mine)
            for i, (a, b) in enumerate(zip(mine, theirs)):
                if a != b:
                    print(f"  layer {i}: accelsim {a} vs SCALE-Sim {b}")
            agree = sum(a == b for a, b in zip(full_cycles, theirs))
            print(f"ResNet-18 32x32 ws, full accelsim.simulate (memories, tiling, overlap, energy): "
                  f"{full_s * 1e3:.1f} ms CPU | ratio {cpu_s / full_s:,.0f}x | compute cycles {agree}/{len(theirs)} "
                  f"layers equal to SCALE-Sim's", flush=True)
    time_mobilenet_v2_on_hvx(max(args.repeat // 20, 3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
