"""Technology scaling of energy, leakage power and area between process nodes ([ref:Stillmaker17]).

Stillmaker & Baas fit, per node, energy per operation as ``E(V) = e V^2 + f V + g`` and power as
``P(V) = h V^2 + i V + j`` (Table 5 and the power table of the paper, HP flavour at 45 and 32 nm, HP FinFET at
20-7 nm), and give a node-to-node area factor table. A figure at node x, supply Vx scales to node y, supply Vy by
``E_y(Vy) / E_x(Vx)`` (energy), ``P_y(Vy) / P_x(Vx)`` (leakage power, an ASSUMPTION: the paper fits the power
of its benchmark circuits, not leakage alone) and ``area[x][y]`` (area). The coefficients live in
``accelsim/energy/models/stillmaker17_scaling.yaml``.

A node between two tabulated nodes (e.g. 28 nm) takes its polynomial values (at its own supply) interpolated
linearly in node size between the two neighbours, and its area factors interpolated in log(factor) - node;
nodes outside 7-180 nm are an error. Every function is pure and memoised.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from accelsim.config.loading import read_yaml
from accelsim.errors import UnsupportedError

SCALING_TABLE = "stillmaker17_scaling"
#: Source recorded with every scaling result.
SCALING_SOURCE = ("Stillmaker & Baas, Integration 58 (2017): energy Table 5, power and area-factor tables "
                  "[ref:Stillmaker17]")


@dataclass(frozen=True)
class _NodeFit:
    node_nm: float
    vdd_v: float
    energy: tuple[float, float, float]
    power: tuple[float, float, float]


@lru_cache(maxsize=1)
def _table() -> tuple[dict[float, _NodeFit], tuple[float, ...], dict[float, tuple[float, ...]]]:
    path = Path(str(resources.files("accelsim.energy") / "models" / f"{SCALING_TABLE}.yaml"))
    data = read_yaml(path)
    fits = {float(node): _NodeFit(float(node), float(v["vdd"]), tuple(map(float, v["energy"])),
                                  tuple(map(float, v["power"])))
            for node, v in data["nodes"].items()}
    area_nodes = tuple(float(n) for n in data["area_nodes"])
    area = {float(node): tuple(map(float, row)) for node, row in data["area"].items()}
    return fits, area_nodes, area


def supported_nodes_nm() -> tuple[float, ...]:
    """The nodes the paper fits (nm), largest first."""
    return tuple(sorted(_table()[0], reverse=True))


def _neighbours(node_nm: float) -> tuple[float, float, float]:
    """(larger node, smaller node, weight of the smaller one) for linear interpolation in node size."""
    nodes = supported_nodes_nm()
    if not nodes[-1] <= node_nm <= nodes[0]:
        raise UnsupportedError(f"technology node {node_nm} nm is outside the scaling equations' range "
                               f"{nodes[-1]:g}-{nodes[0]:g} nm [Stillmaker & Baas 2017]")
    if node_nm in nodes:
        return node_nm, node_nm, 0.0
    larger = min(n for n in nodes if n > node_nm)
    smaller = max(n for n in nodes if n < node_nm)
    return larger, smaller, (larger - node_nm) / (larger - smaller)


@lru_cache(maxsize=None)
def nominal_vdd_v(node_nm: float) -> float:
    """Nominal supply of a node in V (the YAML's ``vdd``; interpolated linearly in node between fitted nodes)."""
    fits = _table()[0]
    larger, smaller, t = _neighbours(node_nm)
    return (1 - t) * fits[larger].vdd_v + t * fits[smaller].vdd_v


def _poly(coefficients: tuple[float, float, float], vdd_v: float) -> float:
    a, b, c = coefficients
    return a * vdd_v**2 + b * vdd_v + c


@lru_cache(maxsize=None)
def energy_polynomial(node_nm: float, vdd_v: float) -> float:
    """The paper's energy polynomial ``e V^2 + f V + g`` of ``node_nm`` at ``vdd_v`` (arbitrary unit; only ratios
    mean something); between fitted nodes, linear in node size between the neighbours' values at ``vdd_v``."""
    fits = _table()[0]
    larger, smaller, t = _neighbours(node_nm)
    return (1 - t) * _poly(fits[larger].energy, vdd_v) + t * _poly(fits[smaller].energy, vdd_v)


@lru_cache(maxsize=None)
def power_polynomial(node_nm: float, vdd_v: float) -> float:
    """The paper's power polynomial ``h V^2 + i V + j`` of ``node_nm`` at ``vdd_v`` (ratios only), interpolated
    like :func:`energy_polynomial`."""
    fits = _table()[0]
    larger, smaller, t = _neighbours(node_nm)
    return (1 - t) * _poly(fits[larger].power, vdd_v) + t * _poly(fits[smaller].power, vdd_v)


def energy_factor(from_node_nm: float, from_vdd_v: float, to_node_nm: float, to_vdd_v: float) -> float:
    """Energy per operation at (to node, to supply) / at (from node, from supply): ratio of the energy polynomials
    ([ref:Stillmaker17] Table 5)."""
    return energy_polynomial(to_node_nm, to_vdd_v) / energy_polynomial(from_node_nm, from_vdd_v)


def leakage_power_factor(from_node_nm: float, from_vdd_v: float, to_node_nm: float, to_vdd_v: float) -> float:
    """Leakage power at (to) / at (from) per device: ratio of the paper's power polynomials (ASSUMPTION: leakage
    scales like the fitted circuit power; [ref:Stillmaker17])."""
    return power_polynomial(to_node_nm, to_vdd_v) / power_polynomial(from_node_nm, from_vdd_v)


@lru_cache(maxsize=None)
def _area_row(from_node_nm: float) -> tuple[float, ...]:
    """Area factors from ``from_node_nm`` to every tabulated node (log-interpolated between table rows)."""
    _, nodes, area = _table()
    larger, smaller, t = _neighbours(from_node_nm)
    return tuple(math.exp((1 - t) * math.log(a) + t * math.log(b)) for a, b in zip(area[larger], area[smaller]))


@lru_cache(maxsize=None)
def area_factor(from_node_nm: float, to_node_nm: float) -> float:
    """Area at ``to_node_nm`` / area at ``from_node_nm`` (the paper's area-factor table; a node between columns
    is interpolated in log(factor) linearly in node size)."""
    _, nodes, _ = _table()
    row = dict(zip(nodes, _area_row(from_node_nm)))
    larger, smaller, t = _neighbours(to_node_nm)
    return math.exp((1 - t) * math.log(row[larger]) + t * math.log(row[smaller]))


@dataclass(frozen=True)
class TechnologyScaling:
    """The factors that take a table's figures (at ``from_node_nm``, ``from_vdd_v``) to a design's node."""

    from_node_nm: float
    from_vdd_v: float
    to_node_nm: float
    to_vdd_v: float
    energy_factor: float
    leakage_power_factor: float
    area_factor: float
    source: str = SCALING_SOURCE

    def as_metadata(self) -> dict[str, float | str]:
        """The record a report keeps (``metadata["technology_scaling"]``)."""
        return {"source": self.source, "from_node_nm": self.from_node_nm, "from_vdd_v": self.from_vdd_v,
                "to_node_nm": self.to_node_nm, "to_vdd_v": self.to_vdd_v, "energy_factor": self.energy_factor,
                "leakage_power_factor": self.leakage_power_factor, "area_factor": self.area_factor}


@lru_cache(maxsize=None)
def technology_scaling(from_node_nm: float, from_vdd_v: float | None, to_node_nm: float | None,
                       to_vdd_v: float | None) -> TechnologyScaling:
    """Factors from a table at (``from_node_nm``, ``from_vdd_v``; None = that node's nominal supply) to a design at
    (``to_node_nm``, ``to_vdd_v``). ``to_node_nm`` None = the table's own node (all factors 1); ``to_vdd_v`` None =
    the table's supply when the nodes are equal, else the design node's nominal supply."""
    from_vdd = from_vdd_v if from_vdd_v is not None else nominal_vdd_v(from_node_nm)
    to_node = from_node_nm if to_node_nm is None else to_node_nm
    if to_vdd_v is None:
        to_vdd = from_vdd if to_node == from_node_nm else nominal_vdd_v(to_node)
    else:
        to_vdd = to_vdd_v
    if to_node == from_node_nm and to_vdd == from_vdd:
        return TechnologyScaling(from_node_nm, from_vdd, to_node, to_vdd, 1.0, 1.0, 1.0)
    return TechnologyScaling(
        from_node_nm, from_vdd, to_node, to_vdd,
        energy_factor=energy_factor(from_node_nm, from_vdd, to_node, to_vdd),
        leakage_power_factor=leakage_power_factor(from_node_nm, from_vdd, to_node, to_vdd),
        area_factor=area_factor(from_node_nm, to_node),
    )
