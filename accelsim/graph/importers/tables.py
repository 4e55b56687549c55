"""Registration into the importer and exporter handler tables (shared by every table)."""
from __future__ import annotations

from collections.abc import Callable, MutableMapping

from accelsim.errors import GraphError

Handler = Callable[..., object]


def register_handler(table: MutableMapping[str, Handler], key: str, handler: Handler, replace: bool,
                     what: str) -> None:
    """Add ``handler`` under ``key`` to ``table``; registering over an existing entry needs ``replace=True``."""
    if not callable(handler):
        raise GraphError(f"{what} for {key!r} must be callable, got {type(handler).__name__}")
    if key in table and not replace and table[key] is not handler:
        raise GraphError(f"a {what} for {key!r} is already registered ({table[key].__qualname__}); pass "
                         f"replace=True to override it")
    table[key] = handler
