"""Handler tables of the importers and exporters: handlers keyed by operator name (ONNX op type, TFLite builtin
operator, accelsim op kind), filled by the ``handles`` decorator next to each built-in handler and by the public
``register_*`` functions."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TypeVar

from accelsim.errors import GraphError

H = TypeVar("H", bound=Callable[..., object])


class HandlerTable:
    """One table: ``entries`` (what dispatch reads), its read-only ``view``, and ``register`` / ``handles``."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.entries: dict[str, Callable[..., object]] = {}
        self.view: Mapping[str, Callable[..., object]] = MappingProxyType(self.entries)

    def register(self, key: str, handler: Callable[..., object], *, replace: bool = False) -> None:
        """Add ``handler`` under ``key``; registering over another handler needs ``replace=True``."""
        if not callable(handler):
            raise GraphError(f"{self.what} for {key!r} must be callable, got {type(handler).__name__}")
        old = self.entries.get(key)
        if old is not None and not replace and old is not handler:
            raise GraphError(f"a {self.what} for {key!r} is already registered ({old.__qualname__}); pass "
                             f"replace=True to override it")
        self.entries[key] = handler

    def handles(self, *keys: str) -> Callable[[H], H]:
        """Decorator: register the decorated function under every key."""
        def add(handler: H) -> H:
            for key in keys:
                self.register(key, handler)
            return handler
        return add
