"""The accelsim exception hierarchy.

Every error a user can cause is an :class:`AccelsimError`; the CLI prints its message and exits non-zero
without a traceback.
"""
from __future__ import annotations


class AccelsimError(Exception):
    """Base class of every user-facing accelsim error."""


class ConfigError(AccelsimError):
    """A config file (hardware, workload, sweep) is invalid.

    The message names the file, the key path, what was expected and what was found.
    """

    def __init__(self, file: str, key_path: str, expected: str, found: object) -> None:
        self.file = file
        self.key_path = key_path
        self.expected = expected
        self.found = found
        where = f"{file}: " if file else ""
        key = key_path or "<top level>"
        super().__init__(f"{where}{key}: expected {expected}, found {found!r}")


class GraphError(AccelsimError):
    """A graph is malformed; the message names the node (or tensor) at fault."""


class UnsupportedError(AccelsimError):
    """An op, attribute or data type that accelsim does not support; the message names what is supported."""


class ImportError_(AccelsimError):
    """A model file (ONNX, TFLite) cannot be read."""


class AccumulatorOverflowError(AccelsimError):
    """An accumulation exceeded the configured accumulator width."""

    def __init__(self, node: str, count: int, accumulator_bits: int) -> None:
        self.node = node
        self.count = count
        self.accumulator_bits = accumulator_bits
        super().__init__(
            f"node {node!r}: {count} accumulation(s) overflow the {accumulator_bits}-bit accumulator"
        )


class MappingError(AccelsimError):
    """A workload cannot be mapped onto the hardware (e.g. per-channel scales without support)."""


class ModelWarning(UserWarning):
    """A result is valid but the model leaves part of the configuration out (e.g. a level it does not price yet)."""
