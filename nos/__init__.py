"""nos: hardware-aware Neural Operator Search for systolic arrays."""
from nos import zoo
from nos.arch import Arch, ArchError, Block, Head, Stem
from nos.build import build
from nos.export import export, load

__all__ = ["Arch", "ArchError", "Block", "Head", "Stem", "build", "export", "load", "zoo"]
