"""Golden behaviour of the cost model and the engine, frozen before a refactoring that must not change either.

``simulate_records()``: every canonical zoo network x every shipped hardware config, the whole per-layer table
(latency, energy by component, bytes per level, mapping) and the totals, or the error message when a pair
cannot map. ``execute_digests()``: every zoo network with synthetic int8 weights executed on a seeded input, a
SHA-256 of every tensor's integers. ``python tests/golden_behaviour.py`` rewrites ``tests/data/golden/``;
``tests/test_golden_behaviour.py`` compares the current code with the files at tolerance 0.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
SIMULATE_FILE = GOLDEN / "simulate.json.gz"
EXECUTE_FILE = GOLDEN / "execute.json"
CONFIGS = sorted((REPO / "hw_configs").glob("*.yaml"))
#: The canonical zoo names (the zoo's short aliases name the same graphs).
NETWORKS = ("mobilenet_v1_1.0_224", "mobilenet_v2_1.0_224", "mobilenet_v2_1.4_224", "nasnet_mobile",
            "inception_v3", "resnet_v1_50", "resnet_v2_50", "resnet_v1_152", "resnet_v2_152", "resnet_18",
            "squeezenet_1.1")
#: Networks executed (the large ones take seconds each; these cover every op kind the zoo uses).
EXECUTED = ("mobilenet_v2_1.0_224", "nasnet_mobile", "inception_v3", "resnet_v2_50", "resnet_18",
            "squeezenet_1.1")


def _plain(value: object) -> object:
    """JSON-safe plain value (numpy scalars unwrapped; floats kept exactly by JSON's repr round trip)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


#: Quant settings tried in order until a pair maps: the zoo's own (per-channel int8), per-tensor (TPU, Gemmini,
#: Bit Fusion scale units), per-tensor W16A16 (Eyeriss's only mode).
QUANT_VARIANTS = (None, {"per_channel": False}, {"per_channel": False, "weight_bits": 16, "activation_bits": 16})


def simulate_records() -> dict[str, dict]:
    """``"network @ config"`` -> ``{"quant": settings, "errors": [messages of the variants tried first],
    "layers": {column: [values]}, "totals": {...}}`` (no layers/totals when no variant maps)."""
    import warnings

    from accelsim import load_hw, load_workload, simulate
    from accelsim.errors import AccelsimError

    records: dict[str, dict] = {}
    hws = {path.stem: load_hw(path) for path in CONFIGS}
    for network in NETWORKS:
        graphs = [load_workload(network, quant=q) for q in QUANT_VARIANTS]
        for name, hw in hws.items():
            record: dict = {"errors": []}
            for quant, graph in zip(QUANT_VARIANTS, graphs):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        report = simulate(graph, hw)
                except AccelsimError as exc:
                    record["errors"].append(f"{type(exc).__name__}: {exc}")
                    continue
                record["quant"] = quant
                record["layers"] = {c: [_plain(v) for v in report.layers[c].tolist()] for c in report.layers.columns}
                record["totals"] = {k: _plain(v) for k, v in report.totals.items()}
                break
            records[f"{network} @ {name}"] = record
    return records


def execute_digests() -> dict[str, dict[str, str]]:
    """network -> tensor name -> SHA-256 of its integers (dtype and shape included)."""
    from accelsim import execute, load_workload
    from accelsim.graph.synthetic import synthesize_weights

    out: dict[str, dict[str, str]] = {}
    for network in EXECUTED:
        graph = synthesize_weights(load_workload(network))
        rng = np.random.default_rng(0)
        inputs = {}
        for name in graph.inputs:
            t = graph.tensors[name]
            info = np.iinfo(np.dtype(t.dtype))
            inputs[name] = rng.integers(info.min, info.max + 1, size=t.shape, dtype=info.dtype)
        result = execute(graph, inputs)
        out[network] = {}
        for name in sorted(graph.tensors):
            array = np.ascontiguousarray(result[name])
            h = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
            h.update(array.tobytes())
            out[network][name] = h.hexdigest()
    return out


def load_simulate_golden() -> dict[str, dict]:
    with gzip.open(SIMULATE_FILE, "rt") as f:
        return json.load(f)


def load_execute_golden() -> dict[str, dict[str, str]]:
    return json.loads(EXECUTE_FILE.read_text())


def main() -> int:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    text = json.dumps(simulate_records(), sort_keys=True, separators=(",", ":"))
    # mtime 0: the same records give the same bytes (no spurious diff when nothing changed)
    SIMULATE_FILE.write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    EXECUTE_FILE.write_text(json.dumps(execute_digests(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SIMULATE_FILE.relative_to(REPO)} and {EXECUTE_FILE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
