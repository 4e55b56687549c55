"""Compatibility module: the engine lives in :mod:`accelsim.engine` (``runner``, ``threads`` and one runner module
per op family). ``from accelsim.execute import execute`` keeps working."""
from __future__ import annotations

from accelsim.engine.elementwise import PARALLEL_MIN_ELEMENTS, AddPlan
from accelsim.engine.layout import ConcatPlan
from accelsim.engine.mac import (
    FLOAT32_EXACT_MAX, FLOAT64_EXACT_MAX, GEMM_BLOCK_ELEMENTS, INT32_MAX, INT64_MAX, PARALLEL_MIN_MACS,
    REQUANT_INT64_INPUT_BITS, MacPlan, accumulator_dtype, exact_accumulators, gemm_float_type,
)
from accelsim.engine.pool import PoolPlan
from accelsim.engine.runner import ExecutionResult, OnOverflow, describe_inputs, execute, execute_float
from accelsim.engine.threads import CHUNKS_PER_THREAD, engine_threads

__all__ = [
    "AddPlan", "CHUNKS_PER_THREAD", "ConcatPlan", "ExecutionResult", "FLOAT32_EXACT_MAX", "FLOAT64_EXACT_MAX",
    "GEMM_BLOCK_ELEMENTS", "INT32_MAX", "INT64_MAX", "MacPlan", "OnOverflow", "PARALLEL_MIN_ELEMENTS",
    "PARALLEL_MIN_MACS", "PoolPlan", "REQUANT_INT64_INPUT_BITS", "accumulator_dtype", "describe_inputs",
    "engine_threads", "exact_accumulators", "execute", "execute_float", "gemm_float_type",
]
