"""Nested JSON-like values (dicts of dicts) addressed by dotted keys: ``lookup(tree, "a.b")`` and
``differences(a, b)``, the keys where two trees differ.

Used wherever a stored configuration is compared with the current one (a resumed study, a cached
supernet). Imports nothing of nos, so every floor may use it.
"""
from __future__ import annotations

from typing import Any, Mapping


def lookup(tree: Any, dotted: str) -> Any:
    """The value at ``dotted`` (``"proxy.budget.epochs"``) in nested mappings, or None where a
    part is missing (or a level is not a mapping)."""
    for part in dotted.split("."):
        tree = tree.get(part) if isinstance(tree, Mapping) else None
    return tree


def differences(stored: Any, current: Any, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two nested mappings, sorted (a key present on
    one side only differs; a non-mapping value is compared whole)."""
    if isinstance(stored, Mapping) and isinstance(current, Mapping):
        out = []
        for key in sorted(set(stored) | set(current), key=str):
            out += differences(stored.get(key), current.get(key), f"{prefix}{key}.")
        return out
    return [] if stored == current else [prefix.rstrip(".")]
