"""On-chip memories by organisation: energy per access, leakage and area of an SRAM (or register-file array) from
its bank capacity, access width and bank count, from a shipped CACTI 7 sweep ([ref:CACTI7]).

The sweep (``accelsim/energy/models/cacti7_sram.yaml``, made by ``tools/make_cacti_sram_table.py``) holds, per
node, capacity (256 B - 32 MiB, x2 steps) and access width (16-512 bits), CACTI 7's ED^2-optimal single-bank
scratch RAM with ITRS-LOP cells and one read-write port (at 45 nm also one read + one write port): read and write
energy per access, leakage power and area. A level of ``banks``
banks is ``banks`` such arrays of ``size / banks`` each; one access touches one bank, all banks leak and take
area (the wiring between banks is not modelled: an ASSUMPTION that under-counts large multi-bank levels).

Lookups interpolate in log(value) over log(capacity) and log(width) between the sweep's points (a power law
between neighbours); beyond the capacities they extrapolate the power law of the two outermost points; beyond the
widths energy per access is proportional to width and leakage and area stay those of the nearest width; a
(capacity, width) pair CACTI could not organise (a port too wide for a tiny array) takes the widest organisable
width's energy per bit. Every function is pure and memoised.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from accelsim.config.loading import read_yaml
from accelsim.errors import UnsupportedError

SWEEP_TABLE = "cacti7_sram"
#: Node of the sweep the organisation model reads (other nodes of the sweep check the node scaling).
REFERENCE_NODE_NM = 45
_FIELDS = ("read_energy_pj", "write_energy_pj", "leakage_mw", "area_mm2")


@dataclass(frozen=True)
class SramFigures:
    """One bank (array) of an SRAM at the sweep's node: energies per access of ``access_bits``, leakage, area."""

    read_energy_pj: float
    write_energy_pj: float
    leakage_mw: float
    area_mm2: float
    access_bits: int

    @property
    def read_pj_per_byte(self) -> float:
        return self.read_energy_pj * 8 / self.access_bits

    @property
    def write_pj_per_byte(self) -> float:
        return self.write_energy_pj * 8 / self.access_bits


@lru_cache(maxsize=1)
def _sweep_points() -> tuple[dict, ...]:
    path = Path(str(resources.files("accelsim.energy") / "models" / f"{SWEEP_TABLE}.yaml"))
    return tuple(read_yaml(path)["points"])


def sweep_citation() -> str:
    """The citation of the shipped CACTI sweep."""
    path = Path(str(resources.files("accelsim.energy") / "models" / f"{SWEEP_TABLE}.yaml"))
    return str(read_yaml(path)["citation"])


@lru_cache(maxsize=None)
def _grid(node_nm: float, ports: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(log2 sizes in KiB, log2 widths in bits, {field: log values [size, width]}) of one node and port
    organisation, holes filled."""
    points = [p for p in _sweep_points()
              if float(p["node_nm"]) == float(node_nm) and int(p.get("ports", 1)) == ports]
    if not points:
        raise UnsupportedError(f"the CACTI sweep {SWEEP_TABLE!r} has no {node_nm} nm points with {ports} port(s)")
    sizes = sorted({float(p["size_kib"]) for p in points})
    widths = sorted({int(p["access_bits"]) for p in points})
    grid = {f: np.full((len(sizes), len(widths)), np.nan) for f in _FIELDS}
    for p in points:
        i, j = sizes.index(float(p["size_kib"])), widths.index(int(p["access_bits"]))
        for f in _FIELDS:
            grid[f][i, j] = float(p[f])
    for i in range(len(sizes)):
        valid = [j for j in range(len(widths)) if not np.isnan(grid["read_energy_pj"][i, j])]
        if not valid:
            raise UnsupportedError(f"the CACTI sweep has no organisable width at {sizes[i]} KiB, {node_nm} nm")
        widest = max(valid)
        for j in range(len(widths)):
            if np.isnan(grid["read_energy_pj"][i, j]):
                k = min(valid, key=lambda v: abs(v - j)) if j < widest else widest
                for f in ("read_energy_pj", "write_energy_pj"):
                    grid[f][i, j] = grid[f][i, k] * widths[j] / widths[k]
                for f in ("leakage_mw", "area_mm2"):
                    grid[f][i, j] = grid[f][i, k]
    logs = {f: np.log(g) for f, g in grid.items()}
    return np.log2(sizes), np.log2(widths), logs


def _interp_1d(xs: np.ndarray, ys: np.ndarray, x: float) -> float:
    """Linear interpolation of ``ys`` over ascending ``xs``, extrapolating the outermost segments' slopes."""
    if x <= xs[0]:
        i = 0
    elif x >= xs[-1]:
        i = len(xs) - 2
    else:
        i = int(np.searchsorted(xs, x)) - 1
    t = (x - xs[i]) / (xs[i + 1] - xs[i])
    return float(ys[i] + t * (ys[i + 1] - ys[i]))


@lru_cache(maxsize=None)
def bank_figures(bank_kib: float, access_bits: int, node_nm: float = REFERENCE_NODE_NM,
                 ports: int = 1) -> SramFigures:
    """One bank of ``bank_kib`` KiB accessed ``access_bits`` at a time, at a node of the sweep, with one read-write
    port (``ports`` 1) or one read and one write port (2, swept at 45 nm): CACTI 7 figures interpolated as the
    module docstring says."""
    if bank_kib <= 0 or access_bits <= 0:
        raise UnsupportedError(f"an SRAM bank needs a positive size and width, got {bank_kib} KiB, {access_bits} b")
    log_sizes, log_widths, logs = _grid(float(node_nm), ports)
    ls, lw = math.log2(bank_kib), math.log2(access_bits)
    lw_in = min(max(lw, log_widths[0]), log_widths[-1])
    values = {}
    for f in _FIELDS:
        # Interpolate in width at every size, then in size.
        per_size = np.array([_interp_1d(log_widths, logs[f][i], lw_in) for i in range(len(log_sizes))])
        values[f] = math.exp(_interp_1d(log_sizes, per_size, ls))
    beyond = 2 ** (lw - lw_in)               # energy per access ~ width beyond the swept widths
    return SramFigures(values["read_energy_pj"] * beyond, values["write_energy_pj"] * beyond,
                       values["leakage_mw"], values["area_mm2"], access_bits)


def default_access_bits(bytes_per_cycle: float | None, banks: int) -> int:
    """The width one bank is accessed with when a config gives none: its share of the level's bytes per cycle
    (at least 8 bits); 64 bits without a bandwidth (ASSUMPTION)."""
    if bytes_per_cycle is None:
        return 64
    return max(8, int(round(bytes_per_cycle * 8 / banks)))
