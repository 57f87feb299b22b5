"""nos: hardware-aware Neural Operator Search for systolic arrays."""
from nos import zoo
from nos.arch import Arch, ArchError, Block, Head, Stem
from nos.build import build

__all__ = ["Arch", "ArchError", "Block", "Head", "Stem", "build", "zoo"]
