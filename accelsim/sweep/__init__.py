"""Design-space sweeps: spec files (``spec``), point generation (``points``), execution on a process pool or a
Dask cluster (``runner``) and the resumable SQLite results store (``store``). Guide: ``docs/sweeps.md``."""
from __future__ import annotations

from accelsim.sweep.runner import SweepSummary, run_sweep
from accelsim.sweep.spec import PointCount, PointSet, SweepSpec, load_spec

__all__ = ["PointCount", "PointSet", "SweepSpec", "SweepSummary", "load_spec", "run_sweep"]
