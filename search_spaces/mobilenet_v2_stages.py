"""mobilenet_v2_stages: the zoo's mobilenet_v2 backbone with MnasNet's factorized choices: the blocks of
each of the 7 stages share their operator (and, when configured, kernel and expansion ratio): 4^7 = 16,384
architectures, few enough to enumerate with a grid of arrays (experiments/cosearch.py). References: the
paper's four FuSe variants and the baseline, all stage-uniform."""
from __future__ import annotations

from nos import zoo
from nos.arch import OPERATORS
from nos.search.space import StageSpace
from search_spaces import register


@register("mobilenet_v2_stages")
def space(ops=OPERATORS, kernels=None, expansions=None) -> StageSpace:
    refs = {variant: zoo.get("mobilenet_v2", variant) for variant in zoo.VARIANTS}
    return StageSpace("mobilenet_v2_stages", zoo.get("mobilenet_v2"), ops, kernels, expansions, references=refs)
