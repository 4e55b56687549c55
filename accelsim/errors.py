"""The accelsim exception hierarchy.

Every error a user can cause is an :class:`AccelsimError`; the CLI prints its message and exits non-zero
without a traceback.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: At most this many characters of a found value are quoted in an error message.
MAX_QUOTED_CHARS = 300
#: At most this many errors are listed in one ConfigError message.
MAX_LISTED_ERRORS = 20


class _Missing:
    """The ``found`` of a required key that is absent."""

    def __repr__(self) -> str:
        return "<missing>"


#: ``found`` value of a missing required key; the message reads "missing required key".
MISSING = _Missing()


def bounded_text(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """``text`` cut to ``limit`` characters, ending "… (N more characters)" where cut."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def bounded_repr(value: object, limit: int = MAX_QUOTED_CHARS) -> str:
    """``repr(value)`` cut to about ``limit`` characters, ending "… (N more)" where cut.

    Lists, tuples and dicts are rendered item by item and never expanded beyond the limit (a YAML alias bomb
    costs nothing); N counts the items (or characters of a string) left out.
    """
    parts: list[str] = []
    _emit(value, parts, [limit], 0)
    return "".join(parts)


_BRACKETS = {dict: ("{", "}"), tuple: ("(", ")"), list: ("[", "]")}


def _emit(value: object, parts: list[str], budget: list[int], depth: int) -> None:
    if isinstance(value, str):
        keep = max(budget[0], 20)
        text = repr(value[:keep])
        cut = len(value) - keep
        parts.append(text if cut <= 0 else f"{text}… ({cut} more characters)")
        budget[0] -= len(text)
        return
    if isinstance(value, (list, tuple, dict)):
        opening, closing = _BRACKETS[type(value) if type(value) in _BRACKETS else list]
        if depth >= 20:
            parts.append(f"{opening}…{closing}")
            return
        items = list(value.items()) if isinstance(value, dict) else value
        parts.append(opening)
        budget[0] -= 1
        for i, item in enumerate(items):
            if budget[0] <= 0:
                parts.append(f"… ({len(items) - i} more)")
                break
            if i:
                parts.append(", ")
                budget[0] -= 2
            if isinstance(value, dict):
                _emit(item[0], parts, budget, depth + 1)
                parts.append(": ")
                _emit(item[1], parts, budget, depth + 1)
            else:
                _emit(item, parts, budget, depth + 1)
        parts.append("," + closing if isinstance(value, tuple) and len(value) == 1 else closing)
        return
    text = repr(value)
    cut = len(text) - max(budget[0], 20)
    parts.append(text if cut <= 0 else f"{text[:max(budget[0], 20)]}… ({cut} more characters)")
    budget[0] -= len(text)


@dataclass(frozen=True)
class ConfigIssue:
    """One problem of a config file: key path, what was expected, what was found."""

    key_path: str
    expected: str
    found: object

    def __str__(self) -> str:
        key = bounded_text(self.key_path or "<top level>")
        expected = bounded_text(self.expected, 3 * MAX_QUOTED_CHARS)
        if self.found is MISSING:
            return f"{key}: missing required key, expected {expected}"
        return f"{key}: expected {expected}, found {bounded_repr(self.found)}"


class AccelsimError(Exception):
    """Base class of every user-facing accelsim error."""


class ConfigError(AccelsimError):
    """A config file (hardware, workload, sweep) is invalid.

    The message names the file, the key path, what was expected and what was found.
    """

    def __init__(self, file: str, key_path: str, expected: str, found: object,
                 more: Sequence[ConfigIssue] = ()) -> None:
        self.file = file
        self.key_path = key_path
        self.expected = expected
        self.found = found
        #: Every problem found, the first one (``key_path``, ``expected``, ``found``) included.
        self.issues: tuple[ConfigIssue, ...] = (ConfigIssue(key_path, expected, found), *more)
        where = f"{file}: " if file else ""
        if len(self.issues) == 1:
            super().__init__(f"{where}{self.issues[0]}")
            return
        listed = [f"  {issue}" for issue in self.issues[:MAX_LISTED_ERRORS]]
        if len(self.issues) > MAX_LISTED_ERRORS:
            listed.append(f"  … and {len(self.issues) - MAX_LISTED_ERRORS} more")
        super().__init__(f"{where}{len(self.issues)} errors:\n" + "\n".join(listed))

    def moved(self, file: str | None = None, prefix: str = "") -> ConfigError:
        """The same error(s) attributed to ``file`` (if given) with ``prefix`` prepended to every key path."""
        def key(path: str) -> str:
            return f"{prefix}.{path}" if prefix and path else prefix or path

        issues = [ConfigIssue(key(i.key_path), i.expected, i.found) for i in self.issues]
        return ConfigError(self.file if file is None else file, issues[0].key_path, issues[0].expected,
                           issues[0].found, issues[1:])


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
