"""Shape inference: pure functions from op attributes and input shapes to the output shape.

Each op's rule lives with the op (``accelsim.graph.ops``); :func:`infer_shape` looks it up in the registry.
"""
from __future__ import annotations

from accelsim.graph.ops import op_def_of
from accelsim.graph.ops.conv import conv2d_shape
from accelsim.graph.ops.geometry import resolve_padding, window_output_size
from accelsim.graph.ops.pool import pool_shape

__all__ = ["conv2d_shape", "infer_shape", "pool_shape", "resolve_padding", "window_output_size"]


def infer_shape(op: object, inputs: list[tuple[int, ...]]) -> tuple[int, ...]:
    """Output shape of ``op`` for the given input shapes; raises ValueError with the reason on a mismatch."""
    try:
        rule = op_def_of(op).infer_shape
    except Exception:
        raise ValueError(f"no shape rule for op {type(op).__name__}") from None
    return rule(op, inputs)
