"""Proxy accuracy: zero-cost scores, short training, and the data sets they run on.

``score(model_or_arch, name, data="digits", seed=0)`` is the one entry for zero-cost
scores (higher = predicted more accurate); :data:`NAMES` lists them and :data:`DEFAULT`
is the one the calibration (``experiments/results/proxy_calibration.md``) chose.
:func:`train_accuracy` and :func:`successive_halving` are the short-training proxy;
:class:`Supernet` and :func:`train_supernet` the weight-sharing one (train once, read each
candidate's accuracy with inherited weights); :func:`rank_ensemble` aggregates several
scores over a population.
"""
from __future__ import annotations

import torch
from torch import nn

from nos.arch import Arch
from nos.proxies.data import DATASETS, Dataset, load
from nos.proxies.ensemble import rank_ensemble
from nos.proxies.scores import SCORES
from nos.proxies.supernet import Supernet, train_supernet
from nos.proxies.train import Budget, HalvingResult, materialize, successive_halving, train_accuracy

NAMES: tuple[str, ...] = tuple(SCORES)
DEFAULT = "params"  # experiments/results/proxy_calibration.md: no zero-cost score beat it
DEFAULT_BATCH_SIZE = 64

__all__ = ["DATASETS", "DEFAULT", "NAMES", "Budget", "Dataset", "HalvingResult", "Supernet", "load", "rank_ensemble",
           "score", "score_population", "successive_halving", "train_accuracy", "train_supernet"]


def score(model_or_arch: nn.Module | Arch, name: str, data: str | Dataset = "digits", seed: int = 0,
          resolution: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE, root: str | None = None) -> float:
    """Zero-cost score ``name`` (one of :data:`NAMES`) of a network; higher = predicted better.

    An :class:`Arch` is built with the data set's class count (its ``input_size`` is left
    alone; the score runs at ``resolution`` pixels); a module is scored on a deep copy.
    Deterministic for ``seed``: it seeds the initialisation of a built arch, the random
    inputs of data-free scores and the choice of the ``batch_size`` training images
    (the caller's torch RNG state is restored afterwards).

    Args:
        model_or_arch: a :class:`nos.Arch` or a ``torch.nn.Module`` taking (N, C, H, W) images.
        name: the score.
        data: a data set name (``digits``, ``synthetic``, ``cifar10``, ``folder``) or a :class:`Dataset`.
        seed: random seed.
        resolution: input side length in pixels; None: a Dataset's own, else 32.
        batch_size: images per minibatch.
        root: the local CIFAR-10 folder or image folder (``data="cifar10"`` or ``"folder"`` only).
    """
    if name not in SCORES:
        raise ValueError(f"name: unknown proxy {name!r} (allowed: {', '.join(NAMES)})")
    dataset = load(data, resolution, root)
    x, y = dataset.sample(batch_size, seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = materialize(model_or_arch, dataset)
        return float(SCORES[name](model, x, y))


def score_population(population: list[nn.Module | Arch], names: tuple[str, ...] | list[str],
                     data: str | Dataset = "digits", seed: int = 0, **options) -> dict[str, list[float]]:
    """Each score in ``names`` for every member of ``population`` (inputs to :func:`rank_ensemble`)."""
    return {name: [score(member, name, data, seed, **options) for member in population] for name in names}
