"""Import torchvision beside the CPU build of torch.

The PyPI torchvision 0.28.0 wheel (the release paired with torch 2.13.0) links CUDA torch libraries; beside the
CPU torch its C extension registers no ``torchvision::`` operators, and ``import torchvision`` then fails while
registering a fake (meta) kernel for one of them: ``RuntimeError: operator torchvision::nms does not exist``.
The classifiers in ``torchvision.models`` need none of those C ops (they are detection / video ops), so during
the import only, :func:`import_torchvision` wraps ``torch.library.register_fake`` so that a RuntimeError while
registering a fake for a missing ``torchvision::`` op is skipped; every other error is raised as before, and the
original function is restored afterwards.
"""
from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any, Callable


def _tolerant(original: Callable[..., Any]) -> Callable[..., Any]:
    def register_fake(op: Any, func: Any = None, /, *args: Any, **kwargs: Any) -> Any:
        def decorate(fn: Any) -> Any:
            try:
                return original(op, fn, *args, **kwargs)
            except RuntimeError as exc:
                name = op if isinstance(op, str) else getattr(op, "__name__", repr(op))
                if "torchvision::" in str(name) or "torchvision::" in str(exc):
                    return fn  # the C op is absent in this build: nothing to attach a fake kernel to
                raise
        return decorate if func is None else decorate(func)
    return register_fake


def import_torchvision() -> ModuleType:
    """``import torchvision`` with missing ``torchvision::`` C ops tolerated (see the module docstring)."""
    if "torchvision" in sys.modules:
        return sys.modules["torchvision"]
    import torch.library

    original = torch.library.register_fake
    torch.library.register_fake = _tolerant(original)
    try:
        return importlib.import_module("torchvision")
    finally:
        torch.library.register_fake = original
