"""mobilenet_v3_large: the zoo's mobilenet_v3_large backbone; each block picks its operator (and, when configured, its
kernel and expansion ratio). References: the paper's four FuSe variants and the baseline."""
from __future__ import annotations

from nos import zoo
from nos.arch import OPERATORS
from nos.search.space import BackboneSpace
from search_spaces import register


@register("mobilenet_v3_large")
def space(ops=OPERATORS, kernels=None, expansions=None) -> BackboneSpace:
    refs = {variant: zoo.get("mobilenet_v3_large", variant) for variant in zoo.VARIANTS}
    return BackboneSpace("mobilenet_v3_large", zoo.get("mobilenet_v3_large"), ops, kernels, expansions, references=refs)
