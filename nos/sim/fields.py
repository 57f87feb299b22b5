"""Frozen config dataclasses (``Hardware``, ``Tech``) built from mappings such as Hydra nodes."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

T = TypeVar("T")


def from_mapping(cls: type[T], data: Any, section: str, convert: Callable[[Any], Any] = lambda value: value) -> T:
    """``cls(**data)`` with each value passed through ``convert``; a non-mapping or an unknown key
    is a ValueError naming ``section`` (and the key) and the allowed fields."""
    if not hasattr(data, "keys"):
        raise ValueError(f"{section}: expected a mapping of fields, got {type(data).__name__}")
    names = [field.name for field in dataclasses.fields(cls)]
    for key in data.keys():
        if key not in names:
            raise ValueError(f"{section}.{key}: unknown field (allowed: {', '.join(names)})")
    return cls(**{key: convert(data[key]) for key in data.keys()})
