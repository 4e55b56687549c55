"""Per-layer bit-width selectors: which MAC layers get which weight / activation width (mixed precision).

A selector list is an ordered list of entries; each entry picks MAC layers (Conv2D / FullyConnected nodes, the
only nodes whose weight width or output width PTQ sets) and sets any of ``weight_bits``, ``activation_bits``
(the width of the layer's output activation) and ``per_channel`` for them. Later entries override earlier ones,
field by field. What an entry's ``select`` picks, decided from the graph alone (loop extents, never a name):

* ``depthwise``: a Conv2D with one group per input channel (:func:`accelsim.graph.ops.conv.is_depthwise`);
* ``pointwise``: a 1x1 Conv2D with one group (any stride);
* ``conv``: every other Conv2D (KxK with K > 1, grouped but not depthwise);
* ``fc``: a FullyConnected;
* ``first`` / ``last``: the first / last MAC layer in topological order (the graph's node order);
* anything else: a layer name or an ``fnmatch`` glob (``block_3/*``, case-sensitive) over the MAC layers' names;
  ``name:<glob>`` forces the name reading for a layer called like a keyword (``name:fc``).

Forms accepted (:func:`parse_layer_bits`, the one parser of YAML, command line and API): a compact string
``"depthwise=w8a8,first=w8,last=w8,block_3/*=w4a8-pt"`` (value: ``w<bits>``, ``a<bits>`` and an optional
``pc`` / ``pt`` for per-channel / per-tensor weights, in that order, e.g. ``w4``, ``a16``, ``w4a8``, ``w8-pc``,
``pt``), or a list whose items are compact strings, mappings ``{select, weight_bits, activation_bits,
per_channel}`` or :class:`LayerSelector` objects. Every problem is a :class:`~accelsim.errors.ConfigError`
naming the entry (``<key path>[i]``): a malformed entry, a width the quantizer does not support
(:data:`accelsim.graph.ptq.WEIGHT_BITS` / ``ACTIVATION_BITS``), an entry that sets nothing, and — on
resolution against a graph (:func:`resolve_layer_bits`) — a selector that matches no MAC layer.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, NamedTuple

from accelsim.errors import ConfigError
from accelsim.graph import ops as O
from accelsim.graph.ir import Graph, Node

#: Op-kind keywords, in the order documented above.
OP_KINDS = ("depthwise", "pointwise", "conv", "fc")
#: Position keywords: the first / last MAC layer in topological order.
POSITIONS = ("first", "last")
#: Prefix forcing a selector to be read as a layer name or glob.
NAME_PREFIX = "name:"
#: What the compact value of one entry may be (documented in the module docstring).
_VALUE = re.compile(r"^(?:w(?P<w>\d+))?(?:a(?P<a>\d+))?(?:-?(?P<pc>pc|pt))?$")
#: A compact-form reminder used in error messages.
COMPACT_FORM = ("SELECT=VALUE, VALUE w<bits>, a<bits> and/or pc|pt in that order (e.g. depthwise=w8a8, first=w8, "
                "block_3/*=w4-pt)")


@dataclass(frozen=True)
class LayerSelector:
    """One selector entry: ``select`` (op kind, ``first`` / ``last``, layer name or glob) and the settings it
    gives the layers it matches; ``None`` leaves a field to earlier entries or the global setting.

    ``weight_bits`` and ``activation_bits`` are widths in bits; ``per_channel`` chooses per-output-channel weight
    scales. Built through :func:`parse_layer_bits`, which validates it."""

    select: str
    weight_bits: int | None = None
    activation_bits: int | None = None
    per_channel: bool | None = None

    def compact(self) -> str:
        """The entry in the compact string form, e.g. ``first=w8a8``."""
        value = "".join(f"{p}{b}" for p, b in (("w", self.weight_bits), ("a", self.activation_bits)) if b is not None)
        if self.per_channel is not None:
            value += ("-" if value else "") + ("pc" if self.per_channel else "pt")
        return f"{self.select}={value}"


class LayerBits(NamedTuple):
    """Resolved settings of one layer: ``(weight_bits, activation_bits, per_channel)``; ``None`` where no
    selector set the field (and no default was given)."""

    weight_bits: int | None
    activation_bits: int | None
    per_channel: bool | None


# ---------------------------------------------------------------------------------------------- parsing
def _supported_bits() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The supported weight and activation widths (accelsim.graph.ptq owns them: one definition)."""
    from accelsim.graph.ptq import ACTIVATION_BITS, WEIGHT_BITS  # ptq imports this module
    return WEIGHT_BITS, ACTIVATION_BITS


def _checked(entry: LayerSelector, source: str, key: str, found: object) -> LayerSelector:
    weight_bits, activation_bits = _supported_bits()
    select = entry.select
    if not isinstance(select, str) or not select.strip():
        raise ConfigError(source, key, f"an entry whose selector is an op kind ({', '.join(OP_KINDS)}), "
                          f"{' / '.join(POSITIONS)}, or a layer name or glob", found)
    if select != select.strip() or select == NAME_PREFIX:
        raise ConfigError(source, key, "a selector without surrounding blanks and a non-empty name after 'name:'",
                          found)
    if entry.weight_bits is None and entry.activation_bits is None and entry.per_channel is None:
        raise ConfigError(source, key, f"an entry that sets weight_bits, activation_bits or per_channel "
                          f"({COMPACT_FORM})", found)
    for field, value, allowed in (("weight_bits", entry.weight_bits, weight_bits),
                                  ("activation_bits", entry.activation_bits, activation_bits)):
        if value is not None and (isinstance(value, bool) or value not in allowed):
            raise ConfigError(source, key, f"{field} one of {', '.join(map(str, allowed))} (the widths the quantizer "
                              f"supports)", found)
    if entry.per_channel is not None and not isinstance(entry.per_channel, bool):
        raise ConfigError(source, key, "per_channel true or false", found)
    return entry


def _parse_compact(text: str, source: str, key: str) -> LayerSelector:
    select, sep, value = text.rpartition("=")
    m = _VALUE.match(value.strip().lower())
    if not sep or m is None or not any(m.groupdict().values()):
        raise ConfigError(source, key, COMPACT_FORM, text)
    w, a, pc = m.group("w"), m.group("a"), m.group("pc")
    entry = LayerSelector(select.strip(), int(w) if w else None, int(a) if a else None,
                          None if pc is None else pc == "pc")
    return _checked(entry, source, key, text)


_FIELDS = ("select", "weight_bits", "activation_bits", "per_channel")


def _parse_mapping(data: Mapping[Any, Any], source: str, key: str) -> LayerSelector:
    extra = [k for k in data if k not in _FIELDS]
    if extra or "select" not in data:
        raise ConfigError(source, key, f"a mapping with select: and any of weight_bits, activation_bits, per_channel "
                          f"(unknown key(s) {extra})" if extra else "a mapping with a select: key", dict(data))
    return _checked(LayerSelector(**{k: data[k] for k in _FIELDS if k in data}), source, key, dict(data))


def parse_layer_bits(value: Any, source: str = "layer_bits", key_path: str = "layer_bits"
                     ) -> tuple[LayerSelector, ...]:
    """Validate a selector list in any accepted form (see the module docstring) into :class:`LayerSelector`
    entries; ``None`` or ``""`` is the empty list. A bad entry is a ConfigError on ``source`` at
    ``key_path[i]`` (``i`` counts entries, also within a compact string)."""
    if value is None:
        return ()
    if isinstance(value, LayerSelector):
        value = [value]
    if isinstance(value, str):
        parts = [p for p in value.split(",")] if value.strip() else []
        return tuple(_parse_compact(p.strip(), source, f"{key_path}[{i}]") for i, p in enumerate(parts))
    if not isinstance(value, (list, tuple)):
        raise ConfigError(source, key_path, f"a list of selector entries or a compact string ({COMPACT_FORM})", value)
    entries = []
    for i, item in enumerate(value):
        key = f"{key_path}[{i}]"
        if isinstance(item, LayerSelector):
            entries.append(_checked(item, source, key, item.compact() if isinstance(item.select, str) else item))
        elif isinstance(item, str):
            entries.append(_parse_compact(item.strip(), source, key))
        elif isinstance(item, Mapping):
            entries.append(_parse_mapping(item, source, key))
        else:
            raise ConfigError(source, key, f"a compact string ({COMPACT_FORM}) or a mapping with select:", item)
    return tuple(entries)


# -------------------------------------------------------------------------------------------- resolution
def mac_kind(graph: Graph, node: Node) -> str | None:
    """The selector op kind of ``node`` (``depthwise``, ``pointwise``, ``conv``, ``fc``), None for a node without
    weights. Decided from the op and its weight shape (OHWI), never from the name."""
    if O.op_def(node.kind).ptq != "weights":
        return None
    if not isinstance(node.op, O.Conv2D):
        return "fc"
    c_in = graph.tensors[node.inputs[0]].shape[-1]
    if O.is_depthwise(node.op, c_in):
        return "depthwise"
    _, kh, kw, _ = graph.tensors[node.inputs[1]].shape
    return "pointwise" if (kh, kw) == (1, 1) and node.op.groups == 1 else "conv"


def mac_layers(graph: Graph) -> tuple[tuple[str, str], ...]:
    """``(name, kind)`` of every MAC layer of ``graph`` in topological order."""
    return tuple((n.name, kind) for n in graph.nodes if (kind := mac_kind(graph, n)) is not None)


def select_layers(layers: Iterable[tuple[str, str]], select: str) -> tuple[str, ...]:
    """Names of the MAC layers ``(name, kind)`` (topological order) that the selector ``select`` picks."""
    layers = tuple(layers)
    if select in OP_KINDS:
        return tuple(name for name, kind in layers if kind == select)
    if select in POSITIONS:
        if not layers:
            return ()
        return (layers[0][0],) if select == "first" else (layers[-1][0],)
    pattern = select[len(NAME_PREFIX):] if select.startswith(NAME_PREFIX) else select
    return tuple(name for name, _ in layers if fnmatchcase(name, pattern))


def _listed(names: list[str], limit: int = 12) -> str:
    return ", ".join(names[:limit]) + (f", … and {len(names) - limit} more" if len(names) > limit else "")


def resolve_layer_bits(graph: Graph, selectors: Any, defaults: LayerBits | None = None,
                       source: str = "layer_bits", key_path: str = "layer_bits") -> dict[str, LayerBits]:
    """Per-layer settings of ``graph``'s MAC layers under ``selectors`` (any form :func:`parse_layer_bits`
    takes): ``{layer name: LayerBits(weight_bits, activation_bits, per_channel)}``, entries applied in order,
    later ones overriding earlier ones field by field.

    Without ``defaults`` only the layers some entry matched are listed, with None in the fields no entry set;
    with ``defaults`` every MAC layer is listed, unset fields taking the default. A selector that matches no
    MAC layer is a ConfigError at ``key_path[i]`` listing what exists."""
    entries = parse_layer_bits(selectors, source, key_path)
    layers = mac_layers(graph)
    chosen: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        names = select_layers(layers, entry.select)
        if not names:
            raise ConfigError(source, f"{key_path}[{i}]", _no_match(graph, layers, entry.select), entry.compact())
        for name in names:
            fields = chosen.setdefault(name, {})
            for field in ("weight_bits", "activation_bits", "per_channel"):
                if (v := getattr(entry, field)) is not None:
                    fields[field] = v
    result: dict[str, LayerBits] = {}
    for name, _ in layers:
        fields = chosen.get(name)
        if fields is None and defaults is None:
            continue
        base = defaults if defaults is not None else LayerBits(None, None, None)
        result[name] = base._replace(**(fields or {}))
    return result


def _no_match(graph: Graph, layers: tuple[tuple[str, str], ...], select: str) -> str:
    kinds = sorted({kind for _, kind in layers})
    what = (f"a selector matching a MAC layer of {graph.name!r}: op kinds {', '.join(OP_KINDS)} (present: "
            f"{', '.join(kinds) or 'none'}), {' / '.join(POSITIONS)}, or a name / glob of its MAC layers "
            f"({_listed([n for n, _ in layers])})")
    if select in OP_KINDS:
        return f"{what}; it has no {select} layer"
    pattern = select[len(NAME_PREFIX):] if select.startswith(NAME_PREFIX) else select
    others = [n.name for n in graph.nodes if fnmatchcase(n.name, pattern)]
    if others:
        return f"{what}; {pattern!r} matches only node(s) without weights ({_listed(others, 5)})"
    if not any(c in pattern for c in "*?["):
        return f"{what}; {pattern!r} is neither an op kind nor a layer name"
    return what
