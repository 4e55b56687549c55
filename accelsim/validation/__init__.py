"""Model vs reference: accelsim's figures next to references nobody here wrote, with the ratio (``accelsim
validate``, docs/validation.md).

Each reference set is one module with a function ``comparisons(live) -> list[Comparison]`` registered in
:data:`REFERENCE_SETS`; ``live`` matters only to sets that can run a peer tool (True: run it, False: use the
figures shipped in ``accelsim/validation/data/``, None: run it when installed).
"""
from __future__ import annotations

from typing import Callable

from accelsim.validation.area import area_comparisons
from accelsim.validation.common import Comparison, comparison_table, config_path
from accelsim.validation.eyeriss import eyeriss_comparisons
from accelsim.validation.hvx import hvx_comparisons
from accelsim.validation.perchannel import perchannel_comparisons
from accelsim.validation.scalesim import scalesim_comparisons
from accelsim.validation.tpu import tpu_comparisons
from accelsim.validation.vela import (
    REFERENCE_FILE, VELA_CASES, VELA_FIELDS, VELA_VERSION, run_vela, vela_comparisons, vela_installed_version,
    vela_live_references, vela_shipped_references,
)

#: Reference set name -> its comparisons (``live``: see the module docstring). Adding a set = one module + one
#: entry here.
REFERENCE_SETS: dict[str, Callable[[bool | None], list[Comparison]]] = {
    "vela": vela_comparisons,
    "scalesim": scalesim_comparisons,
    "eyeriss": eyeriss_comparisons,
    "tpu": tpu_comparisons,
    "hvx": hvx_comparisons,
    "perchannel": perchannel_comparisons,
    "area": area_comparisons,
}


def all_comparisons(live: bool | None = None, only: tuple[str, ...] = ()) -> list[Comparison]:
    """Every registered reference set's comparisons (or those named in ``only``), in registry order."""
    from accelsim.errors import UnsupportedError

    unknown = [name for name in only if name not in REFERENCE_SETS]
    if unknown:
        raise UnsupportedError(f"unknown reference set {', '.join(unknown)}; known: {', '.join(REFERENCE_SETS)}")
    return [c for name, run in REFERENCE_SETS.items() if not only or name in only for c in run(live)]


__all__ = ["REFERENCE_FILE", "REFERENCE_SETS", "VELA_CASES", "VELA_FIELDS", "VELA_VERSION", "Comparison",
           "all_comparisons", "area_comparisons", "comparison_table", "config_path", "eyeriss_comparisons",
           "hvx_comparisons", "perchannel_comparisons", "run_vela", "scalesim_comparisons", "tpu_comparisons",
           "vela_comparisons",
           "vela_installed_version", "vela_live_references", "vela_shipped_references"]
