"""``nos-zoo``: list the reference networks with params and MACs, or print one network.

Usage: ``nos-zoo`` (table of all 25) or ``nos-zoo NAME [VARIANT]`` (the compact text form).
"""
from __future__ import annotations

import argparse
import sys

from nos import zoo


def table() -> str:
    """A fixed-width table of every zoo network: params (M) and conv+linear MACs (M)."""
    rows = [f"{'network':<20} {'variant':<14} {'params (M)':>11} {'MACs (M)':>10} {'layers':>7}"]
    for (name, variant), arch in zoo.all_archs().items():
        called = sum(layer.called for layer in arch.layers())
        rows.append(f"{name:<20} {variant:<14} {arch.params() / 1e6:>11.4f} {arch.macs() / 1e6:>10.2f} {called:>7}")
    return "\n".join(rows)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, as every nos app
        self.exit(2, f"nos-zoo: {message} (see nos-zoo --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nos-zoo", description="The reference networks (MobileNet-V1/V2/V3-Small/V3-Large, MnasNet-B1) "
                "and the FuSeConv paper's variants of each. Without arguments: a table of all of them with "
                "parameters and conv+linear MACs; with NAME [VARIANT]: that network in the compact "
                "one-line-per-block text form.",
                epilog=f"networks: {', '.join(zoo.names())}; variants: {', '.join(zoo.VARIANTS)}. "
                       "Example: nos-zoo mobilenet_v2 fuse_half")
    p.add_argument("name", nargs="?", help="a network (default: print the table of all)")
    p.add_argument("variant", nargs="?", default="baseline", help="its variant (default: baseline)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.name is None:
        print(table())
        return 0
    try:
        print(zoo.get(args.name, args.variant).to_text(), end="")
    except ValueError as err:
        print(f"nos-zoo: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
