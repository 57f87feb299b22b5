"""``nos-zoo``: list the reference networks with params and MACs, or print one network.

Usage: ``nos-zoo`` (table of all 25) or ``nos-zoo NAME [VARIANT]`` (the compact text form).
"""
from __future__ import annotations

import sys

from nos import zoo


def table() -> str:
    """A fixed-width table of every zoo network: params (M) and conv+linear MACs (M)."""
    rows = [f"{'network':<20} {'variant':<14} {'params (M)':>11} {'MACs (M)':>10} {'layers':>7}"]
    for (name, variant), arch in zoo.all_archs().items():
        called = sum(layer.called for layer in arch.layers())
        rows.append(f"{name:<20} {variant:<14} {arch.params() / 1e6:>11.4f} {arch.macs() / 1e6:>10.2f} {called:>7}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(table())
        return 0
    if len(args) > 2:
        print("usage: nos-zoo [NAME [VARIANT]]", file=sys.stderr)
        return 2
    try:
        print(zoo.get(*args).to_text(), end="")
    except ValueError as err:
        print(f"nos-zoo: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
