"""The result of :func:`accelsim.simulate`: a per-layer DataFrame, network totals and provenance metadata.

Column and key names carry their units (``_cycles``, ``_pj``, ``_bytes``, ``_gb_s``, ``_mm2``, ``_ms``); the
full list with definitions is in ``docs/model.md`` §Report.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

#: Per-layer columns every report has (plus ``energy_sram_<level>_pj`` and ``sram_<level>_{read,write}_bytes``
#: for each on-chip level of the config).
LAYER_COLUMNS = (
    "name", "kind", "unit", "requant_unit", "macs", "weight_bits", "activation_bits", "output_bits",
    "latency_cycles", "compute_cycles", "scale_cycles", "stall_cycles", "utilization",
    "energy_pj", "energy_mac_pj", "energy_rf_pj", "energy_dram_pj", "energy_scale_pj", "energy_alu_pj",
    "energy_decompression_pj", "energy_leakage_pj",
    "dram_read_bytes", "dram_write_bytes", "weight_dram_bytes", "ifmap_dram_bytes", "ofmap_dram_bytes",
    "psum_dram_bytes", "params_dram_bytes", "sram_read_bytes", "sram_write_bytes", "rf_read_bytes",
    "rf_write_bytes", "dram_gb_s", "arithmetic_intensity_ops_per_byte", "loop_order", "tile_rows",
    "tile_out_channels", "tile_in_channels", "num_tiles", "weight_refetch_factor", "weight_stored_bytes", "codec",
)

#: Columns of :meth:`Report.summary_table` with their printed headers.
SUMMARY_COLUMNS = {
    "name": "layer", "kind": "kind", "unit": "unit", "macs": "MACs", "latency_cycles": "latency [cyc]",
    "compute_cycles": "compute [cyc]", "stall_cycles": "stall [cyc]", "utilization": "util",
    "energy_pj": "energy [nJ]", "dram_read_bytes": "DRAM rd [KiB]", "dram_write_bytes": "DRAM wr [KiB]",
}


@dataclass(frozen=True, eq=False)
class Report:
    """Simulation result: ``layers`` (one row per graph node), ``totals`` and ``metadata``."""

    layers: pd.DataFrame
    totals: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: ``{"metadata", "totals", "layers": [row dicts]}``."""
        rows = [{k: _plain(v) for k, v in row.items()} for row in self.layers.to_dict(orient="records")]
        return {"metadata": {k: _plain(v) for k, v in self.metadata.items()},
                "totals": {k: _plain(v) for k, v in self.totals.items()}, "layers": rows}

    def json_text(self) -> str:
        """:meth:`to_dict` as indented JSON text (ends with a newline)."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def csv_text(self) -> str:
        """The per-layer table as CSV text (one row per node, columns as in ``layers``)."""
        return self.layers.to_csv(index=False)

    def to_json(self, path: str | Path) -> None:
        """Write :meth:`json_text` to ``path``."""
        Path(path).write_text(self.json_text())

    def to_csv(self, path: str | Path) -> None:
        """Write :meth:`csv_text` to ``path``."""
        Path(path).write_text(self.csv_text())

    def summary_table(self) -> str:
        """A fixed-width per-layer table followed by the totals, units in the headers."""
        df = self.layers[list(SUMMARY_COLUMNS)].copy()
        df["energy_pj"] = df["energy_pj"] / 1e3
        df["dram_read_bytes"] = df["dram_read_bytes"] / 1024
        df["dram_write_bytes"] = df["dram_write_bytes"] / 1024
        df = df.rename(columns=SUMMARY_COLUMNS)
        table = df.to_string(index=False, float_format=lambda v: f"{v:,.2f}")
        t = self.totals
        lines = [
            table, "",
            f"hardware {self.metadata.get('hw_name')} ({self.metadata.get('config_hash')}), workload "
            f"{self.metadata.get('workload_name')}, energy table {self.metadata.get('energy_table')}, "
            f"timing {self.metadata.get('timing_model')}",
            f"latency        {t['latency_cycles']:,.0f} cycles = {t['latency_ms']:.4f} ms",
            f"energy         {t['energy_pj'] / 1e6:,.4f} uJ  (MAC {t['energy_mac_pj'] / 1e6:,.4f}, "
            f"DRAM {t['energy_dram_pj'] / 1e6:,.4f}, leakage {t['energy_leakage_pj'] / 1e6:,.4f})",
            f"DRAM           {t['dram_read_bytes'] / 2**20:,.3f} MiB read, {t['dram_write_bytes'] / 2**20:,.3f} MiB "
            f"written; avg {t['dram_avg_gb_s']:.2f} GB/s, peak {t['dram_peak_gb_s']:.2f} GB/s",
            f"MACs           {t['macs']:,.0f}; peak {t['peak_macs_per_cycle']:,.0f} MAC/cycle; "
            f"utilization {t['utilization']:.3f}",
            f"area           {t['area_mm2']:.3f} mm2",
        ]
        return "\n".join(lines)


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers; NaN -> None (valid JSON)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
