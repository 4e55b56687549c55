"""Reading config files safely and turning pydantic validation errors into messages that name file and key path.

Every YAML file accelsim reads (hardware, workload, sweep spec, energy table) goes through :func:`read_yaml`: a
bounded SafeLoader that refuses oversized files, non-UTF-8 text, alias bombs, deep nesting, duplicate keys and
YAML tags with a :class:`~accelsim.errors.ConfigError` naming the file, the key path and the line.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from accelsim.errors import MISSING, ConfigError, ConfigIssue

ModelT = TypeVar("ModelT", bound=BaseModel)

#: Config and workload-input files larger than this (16 MiB; the largest shipped file is 64 KiB) are refused
#: before they are read.
MAX_FILE_BYTES = 16 * 2**20
#: A YAML document may hold at most this many nodes, counting every use of an alias in full (alias bombs);
#: the largest shipped workload has about 6,000. Composing 100,000 nodes takes about 65 MB.
MAX_YAML_NODES = 100_000
#: Lists and mappings may nest at most this deep in a YAML document.
MAX_YAML_DEPTH = 100
#: Prefix of the YAML core tags (``!!str`` is ``tag:yaml.org,2002:str``).
_YAML_CORE = "tag:yaml.org,2002:"
#: Tags a config may hold: those plain YAML resolves to (and ``<<`` merge keys). Explicit tags of any other
#: kind (``!!python/object``, ``!!binary``, ``!!set``, ``!custom``) are refused.
_ALLOWED_TAGS = frozenset(_YAML_CORE + t for t in ("null", "bool", "int", "float", "str", "timestamp", "seq",
                                                   "map", "merge"))


def read_text_file(path: str | Path, what: str) -> str:
    """The UTF-8 text of a config or workload-input file (``what``, e.g. "YAML file", names it in errors).

    Refuses, with a ConfigError naming the file: a missing or unreadable file, one over ``MAX_FILE_BYTES``,
    UTF-16/UTF-32 text (byte-order mark), binary data (NUL bytes) and bytes that are not UTF-8.
    A UTF-8 byte-order mark is dropped.
    """
    path = Path(path)
    expected = f"a {what} (UTF-8 text)"
    too_big = f"a {what} of at most {MAX_FILE_BYTES // 2**20} MiB"
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(str(path), "", too_big, f"{size} bytes")
        with path.open("rb") as f:  # a device or pipe has no size: read in chunks, to one byte over the limit
            chunks: list[bytes] = []
            read = 0
            while read <= MAX_FILE_BYTES and (chunk := f.read(min(2**16, MAX_FILE_BYTES + 1 - read))):
                chunks.append(chunk)
                read += len(chunk)
    except OSError as exc:
        raise ConfigError(str(path), "", f"a readable {what}", exc.strerror or str(exc)) from None
    if read > MAX_FILE_BYTES:
        raise ConfigError(str(path), "", too_big, "more (a device or a pipe?)")
    data = b"".join(chunks)
    for bom, encoding in ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                          (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if data.startswith(bom):
            raise ConfigError(str(path), "", expected, f"{encoding} text (byte-order mark)")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ConfigError(str(path), "", expected, f"binary data (a NUL byte at offset {nul})")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "", expected, f"binary data (not UTF-8 at byte offset {exc.start})") from None


def _tag_name(tag: str) -> str:
    return "!!" + tag[len(_YAML_CORE):] if tag.startswith(_YAML_CORE) else tag


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses, while composing and before constructing anything: more than
    ``MAX_YAML_NODES`` nodes (aliases counted at their full expanded size), nesting deeper than
    ``MAX_YAML_DEPTH``, recursive aliases, duplicate keys and explicit tags (``!!python/object``).
    Errors are ConfigErrors naming ``file``, the key path and the line."""

    def __init__(self, stream: str, file: str) -> None:
        super().__init__(stream)
        self.file = file
        self._expanded: dict[int, int] = {}  # id(node) -> node count with aliases expanded
        self._composed = 0
        self._path: list[str | int] = []
        self._depth = 0  # nodes being composed (keys that are lists or mappings count, unlike in _path)

    def _refuse(self, expected: str, found: str) -> ConfigError:
        return ConfigError(self.file, key_path(tuple(self._path)), expected, found)

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        # checked while scanning: the scanner's cost grows with the square of the flow nesting depth
        if self.flow_level >= MAX_YAML_DEPTH:
            mark = self.get_mark()
            raise ConfigError(self.file, "", f"at most {MAX_YAML_DEPTH} levels of nesting",
                              f"deeper nesting at line {mark.line + 1}, column {mark.column + 1}")
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        part = index if isinstance(index, int) else index.value if isinstance(index, ScalarNode) else None
        pushed = parent is not None and part is not None
        if pushed:
            self._path.append(part)
        line = self.peek_event().start_mark.line + 1
        if self._depth >= MAX_YAML_DEPTH:
            raise self._refuse(f"at most {MAX_YAML_DEPTH} levels of nesting", f"deeper nesting at line {line}")
        alias = self.check_event(AliasEvent)
        self._depth += 1
        node = super().compose_node(parent, index)
        self._depth -= 1
        if alias:
            size = self._expanded.get(id(node))
            if size is None:
                raise self._refuse("no recursive aliases", f"an alias inside its own anchor at line {line}")
        else:
            size = self._finish(node)
        if size > MAX_YAML_NODES:
            raise self._refuse(f"a document of at most {MAX_YAML_NODES} nodes (aliases counted in full)",
                               f"{size} nodes at line {line}")
        if pushed:
            self._path.pop()
        return node

    def _finish(self, node: Node) -> int:
        """Check a newly composed node; record and return its size with aliases expanded."""
        self._composed += 1
        if self._composed > MAX_YAML_NODES:
            raise self._refuse(f"a document of at most {MAX_YAML_NODES} nodes",
                               f"more (at line {node.start_mark.line + 1})")
        if node.tag not in _ALLOWED_TAGS:
            raise self._refuse("no YAML tags (plain values, lists and mappings only)",
                               f"tag {_tag_name(node.tag)} at line {node.start_mark.line + 1}")
        size = 1
        if isinstance(node, SequenceNode):
            size += sum(self._expanded[id(child)] for child in node.value)
        elif isinstance(node, MappingNode):
            lines: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                size += self._expanded[id(key)] + self._expanded[id(value)]
                if not isinstance(key, ScalarNode) or key.tag == _YAML_CORE + "merge":
                    continue
                line = key.start_mark.line + 1
                if (key.tag, key.value) in lines:
                    self._path.append(key.value)
                    raise self._refuse("each key once", f"the key {key.value!r} twice, on lines "
                                       f"{lines[(key.tag, key.value)]} and {line}")
                lines[(key.tag, key.value)] = line
        self._expanded[id(node)] = size
        return size


class SafeDumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that quotes every string :class:`BoundedSafeLoader` would read as another type (e.g. a
    layer named ``1e5``), so what accelsim writes it reads back unchanged."""


# YAML 1.1 reads 1e3 (no dot) as a string; read it as the number YAML 1.2 and JSON make of it (and quote such
# strings when writing).
for _cls in (BoundedSafeLoader, SafeDumper):
    _cls.add_implicit_resolver(_YAML_CORE + "float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"),
                               list("-+0123456789"))


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file with :class:`BoundedSafeLoader` (a SafeLoader); every problem is a ConfigError."""
    return parse_yaml(read_text_file(path, "YAML file"), str(path))


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text (e.g. a command-line value) as :func:`read_yaml` does; errors name ``source``."""
    loader = BoundedSafeLoader(text, source)
    try:
        return loader.get_single_data()
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(source, "", "YAML text", f"the non-printable character #x{exc.character:04x} at "
                          f"line {line}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None)
        raise ConfigError(source, "", "valid YAML", f"a syntax error at {where}"
                          + (f" ({problem})" if problem else "")) from None
    finally:
        loader.dispose()


def key_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as a dotted key path: ``compute.systolic.rows``, ``memories[2].size_kib``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _is_union_tag(part: int | str) -> bool:
    """pydantic inserts the tried union member into error locations (``int``, ``literal['a','b']``,
    ``function-after[...]``, ``tuple[int, int]``); they are not keys of the user's file."""
    if not isinstance(part, str):
        return False
    return part in {"int", "float", "str", "bool", "list", "dict", "none"} or any(
        part.startswith(prefix) for prefix in ("function-", "literal[", "tuple[", "list[", "dict[", "union[", "lax-or-strict")
    )


def _issue(error: Any, tagged: Mapping[str, Collection[str]] = {}) -> ConfigIssue:
    """One pydantic error as a ConfigIssue (key path without union tags, expected, found). ``tagged``: mappings
    whose values are discriminated unions (top-level key -> tags), whose tag pydantic puts after the entry's key
    (``compute.systolic.systolic.rows`` -> ``compute.systolic.rows``)."""
    loc = tuple(p for p in error["loc"] if not _is_union_tag(p))
    if len(loc) > 2 and loc[0] in tagged and loc[2] in tagged[loc[0]]:
        loc = loc[:2] + loc[3:]
    expected = error["msg"]
    if expected.startswith("Value error, "):
        expected = expected[len("Value error, "):]
    if error["type"] == "missing":
        return ConfigIssue(key_path(loc), "a value", MISSING)
    found = error.get("input", MISSING)
    if error["type"] == "extra_forbidden":
        expected = "a known key (this one is not in the schema: a typo?)"
    if isinstance(found, dict):
        found = f"a mapping with keys {sorted(map(str, found))[:20]}" + (" …" if len(found) > 20 else "")
    return ConfigIssue(key_path(loc), expected, found)


def validation_error_to_config_error(exc: ValidationError, file: str,
                                     tagged: Mapping[str, Collection[str]] = {}) -> ConfigError:
    """Convert a pydantic ValidationError to a ConfigError listing every error (file, key path, expected,
    found); its ``key_path``, ``expected`` and ``found`` are those of the first (``tagged``: see :func:`_issue`)."""
    issues = [_issue(e, tagged) for e in exc.errors(include_url=False)]
    first = issues[0]
    return ConfigError(file, first.key_path, first.expected, first.found, issues[1:])


def validate_model(model: type[ModelT], data: Any, file: str,
                   tagged: Mapping[str, Collection[str]] = {}) -> ModelT:
    """Validate ``data`` into ``model``; raise ConfigError naming ``file`` and the key path on failure
    (``tagged``: see :func:`_issue`)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_config_error(exc, file, tagged) from None


# ------------------------------------------------------------------------------------------ dotted key paths
_KEY_PATH_PART = re.compile(r"\.|\[(\d+)\]")


def split_key_path(path: str) -> list[str | int]:
    """``memories[2].size_kib`` -> ``["memories", 2, "size_kib"]`` (``[i]`` and all-digit parts become ints)."""
    return [int(p) if p.isdigit() else p for p in _KEY_PATH_PART.split(path) if p]


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"overrides.conv1.weight_bits": 4}`` -> ``{"overrides": {"conv1": {"weight_bits": 4}}}``."""
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top`` merged in; nested mappings merge, other values of ``top`` win."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
