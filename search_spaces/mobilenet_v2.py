"""mobilenet_v2: the zoo's mobilenet_v2 backbone; each block picks its operator (and, when configured, its
kernel and expansion ratio). References: the paper's four FuSe variants and the baseline."""
from __future__ import annotations

from nos import zoo
from nos.arch import OPERATORS
from nos.search.space import BackboneSpace
from search_spaces import register


@register("mobilenet_v2")
def space(ops=OPERATORS, kernels=None, expansions=None) -> BackboneSpace:
    refs = {variant: zoo.get("mobilenet_v2", variant) for variant in zoo.VARIANTS}
    return BackboneSpace("mobilenet_v2", zoo.get("mobilenet_v2"), ops, kernels, expansions, references=refs)
