"""Loading YAML files and turning pydantic validation errors into messages that name file and key path."""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from accelsim.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file with ``yaml.safe_load``; a missing file or a syntax error is a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(str(path), "", "a readable YAML file", exc.strerror or str(exc)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(str(path), "", "valid YAML", f"a syntax error at {where}") from None


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


def validation_error_to_config_error(exc: ValidationError, file: str) -> ConfigError:
    """Convert the first error of a pydantic ValidationError to a ConfigError (file, key path, expected, found)."""
    first = exc.errors(include_url=False)[0]
    loc = tuple(p for p in first["loc"] if not _is_union_tag(p))
    expected = first["msg"]
    if expected.startswith("Value error, "):
        expected = expected[len("Value error, "):]
    found = first.get("input", "<missing>") if first["type"] != "missing" else "<missing>"
    if first["type"] == "extra_forbidden":
        expected = "a known key (this one is not in the schema: a typo?)"
    if isinstance(found, dict):
        found = f"a mapping with keys {sorted(found)}"
    err = ConfigError(file, key_path(loc), expected, found)
    extra = len(exc.errors()) - 1
    if extra:
        err.args = (f"{err.args[0]} (and {extra} more error(s))",)
    return err


def validate_model(model: type[ModelT], data: Any, file: str) -> ModelT:
    """Validate ``data`` into ``model``; raise ConfigError naming ``file`` and the key path on failure."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_config_error(exc, file) from None


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
