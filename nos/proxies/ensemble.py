"""Rank aggregation of several proxy scores over a population."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import rankdata


def rank_ensemble(scores: Mapping[str, Sequence[float]]) -> np.ndarray:
    """Mean rank of each population member over the given scores (higher = better).

    ``scores`` maps a proxy name to its values over the same population. Each score is
    ranked 1 (lowest) .. n (highest), ties get their average rank, and the result is the
    per-member mean of these ranks (float array of length n).
    """
    if not scores:
        raise ValueError("scores: need at least one score to aggregate")
    arrays = {name: np.asarray(values, dtype=float) for name, values in scores.items()}
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 1 or not next(iter(arrays.values())).size:
        raise ValueError(f"scores: every score needs one value per member of the same non-empty population, got shapes {shapes}")
    for name, a in arrays.items():
        if np.isnan(a).any():
            raise ValueError(f"scores[{name!r}]: NaN at member(s) {np.flatnonzero(np.isnan(a)).tolist()}; cannot rank")
    return np.mean([rankdata(a) for a in arrays.values()], axis=0)
