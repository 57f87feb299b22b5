"""Search spaces, one module each, registered by name.

Every module in this package is imported on first use; a module registers its space with
``@register("<name>")`` on a factory that returns a :class:`nos.search.space.BackboneSpace`
(or anything with the same interface). Add a space by dropping a module here and a config
file in ``conf/space/``.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable

from nos.search.space import BackboneSpace

_REGISTRY: dict[str, Callable[..., BackboneSpace]] = {}


def register(name: str):
    """Decorator: register a space factory under ``name``."""

    def wrap(factory: Callable[..., BackboneSpace]) -> Callable[..., BackboneSpace]:
        _REGISTRY[name] = factory
        return factory

    return wrap


def _discover() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def names() -> list[str]:
    """Registered space names."""
    _discover()
    return sorted(_REGISTRY)


def get_space(name: str, **options: Any) -> BackboneSpace:
    """The space ``name`` built with ``options`` (e.g. ``kernels=(3, 5, 7)``)."""
    _discover()
    if name not in _REGISTRY:
        raise ValueError(f"space: unknown search space {name!r} (allowed: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name](**options)
