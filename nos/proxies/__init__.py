"""Proxy accuracy: predicted ImageNet top-1, zero-cost scores, short training, and their data sets.

``score(model_or_arch, name, data="digits", seed=0)`` is the one entry for the scores
(higher = predicted more accurate); :data:`NAMES` lists them: the zero-cost scores and
``imagenet``, the predicted ImageNet top-1 in % of an :class:`Arch`
(:func:`nos.proxies.predictor.predict` gives it with its std). :data:`DEFAULT` is the one the
measurements chose.
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
from nos.proxies.predictor import Prediction, predict
from nos.proxies.scores import SCORES
from nos.proxies.supernet import Supernet, train_supernet
from nos.proxies.train import Budget, HalvingResult, materialize, sized, successive_halving, train_accuracy

IMAGENET = "imagenet"  # predicted from the Arch's shapes, no network is built
NAMES: tuple[str, ...] = (*SCORES, IMAGENET)
SHAPE_SCORES = ("params", "flops")  # exact from an Arch's shape arithmetic: no network is built
DEFAULT = IMAGENET  # experiments/results/accuracy_predictor.md: ranks published ImageNet accuracy best
DEFAULT_BATCH_SIZE = 64

__all__ = ["DATASETS", "DEFAULT", "IMAGENET", "NAMES", "Budget", "Dataset", "HalvingResult", "Prediction", "Supernet",
           "describe", "load", "predict", "rank_ensemble", "score", "score_population", "successive_halving",
           "train_accuracy", "train_supernet"]


def score(model_or_arch: nn.Module | Arch, name: str, data: str | Dataset = "digits", seed: int = 0,
          resolution: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE, root: str | None = None) -> float:
    """Score ``name`` (one of :data:`NAMES`) of a network; higher = predicted better.

    ``imagenet`` is the predicted ImageNet top-1 (%) of an :class:`Arch` (a module is refused:
    the prediction reads the architecture's shapes); the other arguments do not change it.
    For the zero-cost scores an :class:`Arch` is built with the data set's class count (its
    ``input_size`` is left alone; the score runs at ``resolution`` pixels); a module is scored
    on a deep copy.
    Deterministic for ``seed``: it seeds the initialisation of a built arch, the random
    inputs of data-free scores and the choice of the ``batch_size`` training images
    (the caller's torch RNG state is restored afterwards).

    Args:
        model_or_arch: a :class:`nos.Arch` or a ``torch.nn.Module`` taking (N, C, H, W) images.
        name: the score.
        data: a data set name (:data:`DATASETS`) or a :class:`Dataset`.
        seed: random seed.
        resolution: input side length in pixels; None: a Dataset's own, else 32.
        batch_size: images per minibatch.
        root: the data set's folder (see :func:`nos.proxies.data.load`).
    """
    if name not in NAMES:
        raise ValueError(f"name: unknown proxy {name!r} (allowed: {', '.join(NAMES)})")
    if name == IMAGENET:
        if not isinstance(model_or_arch, Arch):
            raise ValueError(f"model_or_arch: the {IMAGENET} proxy predicts from a nos.Arch, got {type(model_or_arch).__name__}")
        return predict(model_or_arch).mean
    dataset = load(data, resolution, root)
    if name in SHAPE_SCORES and isinstance(model_or_arch, Arch):
        return _shape_score(model_or_arch, name, dataset)
    x, y = dataset.sample(batch_size, seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = materialize(model_or_arch, dataset)
        return float(SCORES[name](model, x, y))


def _shape_score(arch: Arch, name: str, dataset: Dataset) -> float:
    """``params`` or ``flops`` of ``arch`` built for ``dataset``: the same numbers the module-level
    scores count (tests check it), without building the network."""
    built = sized(arch, dataset)
    return float(built.params() if name == "params" else built.macs(dataset.resolution))


def describe(name: str, data: str = "digits") -> str:
    """How reports name proxy ``name``'s value, with its unit (``train``: the short-training proxy,
    ``supernet``: accuracy read from the weight-sharing supernet)."""
    if name == IMAGENET:
        return "predicted ImageNet top-1 (%)"
    if name == "params":
        return f"parameters (network with a {data} classifier)"
    if name == "flops":
        return f"MACs per {data} image at the proxy resolution"
    if name == "train":
        return f"{data} validation accuracy after short training (fraction)"
    if name == "supernet":
        return f"{data} validation top-1, supernet weights (%)"
    return f"{name} score on {data} (zero-cost; higher = predicted better)"


def score_population(population: list[nn.Module | Arch], names: tuple[str, ...] | list[str],
                     data: str | Dataset = "digits", seed: int = 0, **options) -> dict[str, list[float]]:
    """Each score in ``names`` for every member of ``population`` (inputs to :func:`rank_ensemble`)."""
    return {name: [score(member, name, data, seed, **options) for member in population] for name in names}
