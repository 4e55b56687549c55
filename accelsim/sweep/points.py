"""Design points of a sweep: grid / zip / list / seeded random combination, safe constraint expressions, point ids.

A *point* is a mapping from dotted parameter paths (``compute.systolic.rows``, ``quant.weight_bits``) to values.
Every function here is pure; :mod:`accelsim.sweep.spec` validates the paths and values.
"""
from __future__ import annotations

import ast
import hashlib
import itertools
import json
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

Point = dict[str, Any]


# ------------------------------------------------------------------------------------------------ combination
def unique_values(values: Sequence[Any]) -> list[Any]:
    """``values`` without repeats (first occurrence kept), compared by their canonical JSON."""
    first: dict[str, Any] = {}
    for v in values:
        first.setdefault(canonical_json(v), v)
    return list(first.values())


def grid_count(axes: Mapping[str, Sequence[Any]]) -> int:
    """The number of points of :func:`grid_points` (the product of the axis lengths)."""
    return math.prod(len(v) for v in axes.values())


def grid_points(axes: Mapping[str, Sequence[Any]]) -> Iterator[Point]:
    """Cartesian product of the value lists, the last parameter varying fastest (generated one at a time)."""
    names = list(axes)
    for values in itertools.product(*(axes[n] for n in names)):
        yield dict(zip(names, values))


def zip_points(axes: Mapping[str, Sequence[Any]]) -> list[Point]:
    """The i-th point takes the i-th value of every list (all lists have the same length)."""
    names = list(axes)
    lengths = {len(axes[n]) for n in names}
    if len(lengths) > 1:
        raise ValueError(f"zip lists of one length, found lengths {sorted(lengths)}")
    return [dict(zip(names, values)) for values in zip(*(axes[n] for n in names))]


def random_points(space: Mapping[str, Mapping[str, Any]], samples: int, seed: int) -> Iterator[Point]:
    """``samples`` points drawn with ``numpy.random.default_rng(seed)``, generated one at a time (repeated
    draws are not removed: that would need a set of every point drawn).

    Each entry of ``space`` is ``{"choices": [...]}`` (uniform over the list) or ``{"low", "high", "integer",
    "log"}`` (uniform, or log-uniform, on [low, high]; ``integer`` rounds to the nearest integer). Parameters
    are drawn in the order given, one point after another, so a seed always gives the same points.
    """
    rng = np.random.default_rng(seed)
    for _ in range(samples):
        point: Point = {}
        for name, dist in space.items():
            if "choices" in dist:
                choices = dist["choices"]
                point[name] = choices[int(rng.integers(len(choices)))]
                continue
            low, high = float(dist["low"]), float(dist["high"])
            if dist.get("log"):
                value = math.exp(rng.uniform(math.log(low), math.log(high)))
            else:
                value = float(rng.uniform(low, high))
            point[name] = int(round(value)) if dist.get("integer") else value
        yield point


def unique_points(points: Iterable[Point]) -> list[Point]:
    """``points`` without repeats (first occurrence kept), compared by their canonical JSON (for the zip and
    list modes, whose points are written out in the spec file)."""
    seen: set[str] = set()
    out = []
    for p in points:
        key = canonical_json(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


# ------------------------------------------------------------------------------------------------ identity
def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def point_id(workload: str, parameters: Mapping[str, Any]) -> str:
    """16 hex digits of SHA-256 over the workload label and the parameter values: the store's primary key."""
    text = canonical_json({"workload": workload, "parameters": dict(parameters)})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------------ constraints
_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}


#: Longest string or list a constraint may build with ``+`` (sequence repetition ``*`` and ``%`` formatting of
#: strings are refused outright), and the most bits of an integer it may compute: no constraint can exhaust memory.
MAX_SEQUENCE_LEN = 10_000
MAX_INT_BITS = 4096
_SEQUENCES = (str, bytes, list, tuple, dict)


class ConstraintError(ValueError):
    """A constraint uses syntax outside the whitelist, or a value it may not compute."""


class UnknownNameError(ConstraintError):
    """A constraint names something that is neither a parameter nor a config key."""


def _binary(op: ast.operator, left: Any, right: Any) -> Any:
    """``left op right`` for a whitelisted operator, refusing results that could exhaust memory."""
    if isinstance(op, ast.Mult) and (isinstance(left, _SEQUENCES) or isinstance(right, _SEQUENCES)):
        raise ConstraintError("sequence repetition (a string or list times a number) is not allowed")
    if isinstance(op, ast.Mod) and isinstance(left, _SEQUENCES):
        raise ConstraintError("string formatting with % is not allowed")
    value = _BINARY[type(op)](left, right)
    if isinstance(value, _SEQUENCES) and len(value) > MAX_SEQUENCE_LEN:
        raise ConstraintError(f"a string or list longer than {MAX_SEQUENCE_LEN}")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ConstraintError(f"an integer wider than {MAX_INT_BITS} bits")
    return value


def _dotted_name(node: ast.expr) -> str | None:
    """``compute.systolic.rows`` for an Attribute chain ending in a Name; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def parse_constraint(text: str) -> ast.expr:
    """Parse a constraint and check it uses only the whitelist: numbers, strings, booleans, dotted names,
    ``+ - * / // %``, unary ``-``, comparisons (chains allowed), ``and`` / ``or`` / ``not``, parentheses."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise ConstraintError(f"invalid syntax ({exc.msg})") from None

    def check(node: ast.expr) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
            return
        if isinstance(node, (ast.Name, ast.Attribute)):
            if _dotted_name(node) is None:
                raise ConstraintError(f"unsupported expression {ast.unparse(node)!r}")
            return
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            check(node.left)
            check(node.right)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            check(node.operand)
        elif isinstance(node, ast.BoolOp):
            for v in node.values:
                check(v)
        elif isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            check(node.left)
            for c in node.comparators:
                check(c)
        else:
            raise ConstraintError(f"unsupported syntax {ast.unparse(node)!r} (allowed: numbers, names, "
                                  "+ - * / // %, comparisons, and, or, not)")

    check(tree)
    return tree


def evaluate_constraint(tree: ast.expr, lookup: Callable[[str], Any]) -> Any:
    """Evaluate a parsed constraint; ``lookup(dotted_name)`` gives a name's value (KeyError if unknown)."""

    def ev(node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = _dotted_name(node)
            try:
                return lookup(name)
            except KeyError:
                raise UnknownNameError(f"unknown name {name!r}") from None
        if isinstance(node, ast.BinOp):
            return _binary(node.op, ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp):
            value = ev(node.operand)
            return (not value) if isinstance(node.op, ast.Not) else (-value if isinstance(node.op, ast.USub)
                                                                    else +value)
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(ev(v) for v in node.values)
            return any(ev(v) for v in node.values)
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, comp in zip(node.ops, node.comparators):
                right = ev(comp)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        raise ConstraintError(f"unsupported syntax {ast.unparse(node)!r}")

    return ev(tree)
