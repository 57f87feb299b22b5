"""mnasnet_b1: the zoo's mnasnet_b1 backbone; each block picks its operator (and, when configured, its
kernel and expansion ratio). References: the paper's four FuSe variants and the baseline."""
from __future__ import annotations

from nos import zoo
from nos.arch import OPERATORS
from nos.search.space import BackboneSpace
from search_spaces import register


@register("mnasnet_b1")
def space(ops=OPERATORS, kernels=None, expansions=None) -> BackboneSpace:
    refs = {variant: zoo.get("mnasnet_b1", variant) for variant in zoo.VARIANTS}
    return BackboneSpace("mnasnet_b1", zoo.get("mnasnet_b1"), ops, kernels, expansions, references=refs)
