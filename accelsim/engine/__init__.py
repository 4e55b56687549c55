"""The bit-exact integer engine: ``runner`` (``execute``, ``execute_float``), ``threads`` (the worker pool) and
one runner module per op family (``mac``, ``pool``, ``elementwise``, ``layout``), reached through the op
registry's ``OpDef.engine``.

The public names are bound lazily: op modules reference runner modules by name, so importing a runner must not
import the whole engine.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ExecutionResult": "accelsim.engine.runner", "execute": "accelsim.engine.runner",
    "execute_float": "accelsim.engine.runner", "engine_threads": "accelsim.engine.threads",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
