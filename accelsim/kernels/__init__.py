"""Bit-exact integer kernels (numba), one module per op family.

Every kernel takes raw integer arrays plus precomputed constants (centered weights, per-channel requantization
parameters, clamp bounds) and writes into a preallocated output array. ``accelsim.engine`` prepares those
constants from the graph; the semantics are documented in docs/arithmetic.md.
"""
