"""accelsim: a cycle-approximate simulator and design-space explorer for fixed-point DNN accelerators.

The public API is re-exported here lazily, so ``import accelsim`` stays fast and the layers stay one-way.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "execute": "accelsim.execute",
    "execute_float": "accelsim.execute",
    "load_workload": "accelsim.workloads",
    "load_hw": "accelsim.config.hw",
    "simulate": "accelsim.simulate",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'accelsim' has no attribute {name!r}")
