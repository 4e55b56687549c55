"""Compatibility module: the engine lives in :mod:`accelsim.engine` (``runner``, ``threads`` and one runner module
per op family). ``from accelsim.execute import execute`` keeps working; internals are imported from
``accelsim.engine.*``."""
from __future__ import annotations

from accelsim.engine.runner import ExecutionResult, execute, execute_float
from accelsim.engine.threads import engine_threads

__all__ = ["ExecutionResult", "engine_threads", "execute", "execute_float"]
