"""The same small sweep on the local process pool and on a Dask LocalCluster (2 worker processes) gives
identical stored results."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from accelsim.analysis import load_results
from accelsim.sweep import load_spec, run_sweep

pytest.importorskip("dask.distributed")
REPO = Path(__file__).resolve().parents[1]


def test_process_pool_and_dask_local_cluster_agree(tmp_path):
    spec = {"name": "dask", "base": str(REPO / "hw_configs" / "gemmini_default.yaml"), "workloads": ["resnet_18"],
            "quant": {"per_channel": False},
            "parameters": {"grid": {"compute.systolic.rows": [8, 16, 32], "compute.systolic.dataflow": ["os", "ws"],
                                    "memories.dram.bandwidth_gb_s": [8, 16]}}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    loaded = load_spec(tmp_path / "spec.yaml")
    pool = run_sweep(loaded, tmp_path / "pool", workers=2)
    dask = run_sweep(loaded, tmp_path / "dask", dask="local", workers=2)
    assert pool.evaluated == dask.evaluated == 12 and pool.errors == dask.errors == 0
    a, b = (load_results(tmp_path / d).drop(columns=["wall_time_s"]) for d in ("pool", "dask"))
    pd.testing.assert_frame_equal(a, b)
    assert (a["status"] == "ok").all() and a["latency_ms"].gt(0).all()
