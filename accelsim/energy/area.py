"""Silicon area beyond the cells and arrays: what placing standard-cell logic on a die adds.

The area model of :func:`accelsim.hw.energy_model.area_mm2` counts *cell* area: the datapath cells of the MAC
array, scale unit and decompressor (Horowitz / Aladdin cell areas), the PE pipeline registers, and CACTI 7's
array area of every on-chip memory. A placed block is larger than the sum of its cells: standard cells fill only
a fraction of the rows they are placed in (the *core utilization*); the rest is left for routing, clock-tree
buffers, filler and decoupling cells. This module holds that rule as a small pure function.

Source and value ([ref:PDUtil]): physical-design practice sizes a standard-cell block as cell area / target
utilization, with about 70 % utilization the common assumption ("standard cells take about 70 % of the base
layers, leaving roughly 30 % for routing"; 60-70 % the preferred target for standard SoC blocks). The value is a
published convention, not fitted on any chip: ``accelsim validate --only area`` checks it against the Eyeriss v1
core and the TPU v1 floor plan, neither of which it was taken from. Hard macros (SRAM arrays) are placed as
macros, not in standard-cell rows, so the rule does not apply to them.
"""
from __future__ import annotations

from accelsim.errors import UnsupportedError

#: Standard-cell core utilization: placed cell area / block area ([ref:PDUtil]: ~70 %, the common assumption).
STD_CELL_UTILIZATION = 0.70

#: Where :data:`STD_CELL_UTILIZATION` comes from (recorded with the model's area figures).
PLACEMENT_SOURCE = ("standard-cell core utilization 0.70 (physical-design convention: cells ~70 % of the rows, "
                    "~30 % left for routing, clock buffers and filler) [ref:PDUtil]")


def placed_logic_area_mm2(cell_area_mm2: float, utilization: float = STD_CELL_UTILIZATION) -> float:
    """Area in mm^2 of a standard-cell block whose cells take ``cell_area_mm2``: cells / ``utilization``
    ([ref:PDUtil]). ``utilization`` outside (0, 1] or a
    negative area is an :class:`~accelsim.errors.UnsupportedError`."""
    if not 0.0 < utilization <= 1.0:
        raise UnsupportedError(f"standard-cell utilization must lie in (0, 1], got {utilization}")
    if cell_area_mm2 < 0:
        raise UnsupportedError(f"cell area must be >= 0 mm^2, got {cell_area_mm2}")
    return cell_area_mm2 / utilization


def placement_overhead_mm2(cell_area_mm2: float, utilization: float = STD_CELL_UTILIZATION) -> float:
    """Row area in mm^2 that placing ``cell_area_mm2`` of standard cells leaves to routing, clock buffers and
    filler: :func:`placed_logic_area_mm2` minus the cells themselves."""
    return placed_logic_area_mm2(cell_area_mm2, utilization) - cell_area_mm2
