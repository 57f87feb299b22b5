"""Short-training proxy: train briefly, report validation accuracy; successive halving.

:func:`train_accuracy` trains a candidate from scratch with SGD (Nesterov momentum, weight
decay, cosine or constant learning rate after a linear warm-up) for a :class:`Budget` and
returns its top-1 accuracy on the data set's validation split. It is deterministic for a
seed (initialisation, batch order, dropout).

:func:`successive_halving` spends a training budget on a population: every candidate
trains on a small budget, the best ``1/eta`` move up a rung and retrain from scratch on an
``eta`` times larger budget, until the last rung trains on the full budget. (Optuna cannot
prune multi-objective studies, so hopeless candidates are stopped here instead.)
"""
from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nos import train as engine
from nos.arch import Arch
from nos.network import build
from nos.proxies.data import Dataset, load
from nos.train import Budget, Checkpointing, Loss, Runtime, as_budget, cross_entropy

__all__ = ["Budget", "HalvingResult", "as_budget", "evaluate", "fit", "materialize", "measure", "sized",
           "successive_halving", "train_accuracy"]


def sized(arch: Arch, dataset: Dataset, width: float = 1.0) -> Arch:
    """``arch`` as trained on ``dataset``: width-scaled, with the data set's classes and
    resolution; its input channels must match the data set's."""
    arch = arch.scaled(width) if width != 1 else arch
    if arch.in_channels != dataset.channels:
        raise ValueError(f"in_channels: the arch takes {arch.in_channels} channels, "
                         f"data set {dataset.name!r} has {dataset.channels}")
    return dataclasses.replace(arch, num_classes=dataset.num_classes, input_size=dataset.resolution)


def materialize(model_or_arch: nn.Module | Arch, dataset: Dataset, width: float = 1.0) -> nn.Module:
    """A fresh module to work on: an :class:`Arch` is (width-scaled and) built with the data
    set's class count under the current torch seed; a module is deep-copied so the caller's
    weights, gradients and BN statistics are never touched."""
    if isinstance(model_or_arch, Arch):
        return build(sized(model_or_arch, dataset, width))
    if isinstance(model_or_arch, nn.Module):
        if width != 1:
            raise ValueError(f"width: only an Arch can be width-scaled, got a {type(model_or_arch).__name__} with width {width}")
        return copy.deepcopy(model_or_arch)
    raise TypeError(f"model_or_arch: expected a nos.Arch or a torch.nn.Module, got {type(model_or_arch).__name__}")


def evaluate(model: nn.Module, dataset: Dataset, batch_size: int = 256, runtime: Runtime | None = None) -> float:
    """Top-1 accuracy of ``model`` (eval mode, on its device) on the validation split, in [0, 1]."""
    return measure(model, dataset, batch_size=batch_size, runtime=runtime)[0]


def measure(model: nn.Module, dataset: Dataset, split: str = "val", count: int | None = None,
            batch_size: int = 256, runtime: Runtime | None = None) -> tuple[float, float]:
    """(top-1 accuracy in [0, 1], mean cross-entropy in nats) of ``model`` (eval mode, on its
    device) on the first ``count`` images of ``split`` (all of them when None), never augmented."""
    return engine.measure(model, dataset.split(split), runtime, batch_size, count)


def train_accuracy(model_or_arch: nn.Module | Arch, data: str | Dataset = "digits",
                   budget: Budget | Mapping = Budget(), seed: int = 0, root: str | None = None,
                   runtime: Runtime | None = None) -> float:
    """Validation accuracy in [0, 1] after training ``model_or_arch`` for ``budget``.

    An :class:`Arch` is built at ``budget.width`` with the data set's class count; a module
    is trained on a copy. ``data`` is a name (see :data:`nos.proxies.data.DATASETS`) or a
    :class:`Dataset`; ``root`` is the data set's folder where it needs one; ``runtime`` the
    device, precision and threads (default: CUDA when present, else the CPU).
    """
    budget = as_budget(budget)
    dataset = load(data, budget.resolution, root)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = materialize(model_or_arch, dataset, budget.width)
        fit(model, dataset, budget, seed, runtime=runtime)
        return evaluate(model, dataset, runtime=runtime)


def fit(model: nn.Module, dataset: Dataset, budget: Budget, seed: int, *, loss: Loss = cross_entropy,
        runtime: Runtime | None = None, progress: Callable[[int, int], None] | None = None,
        checkpoint: Checkpointing | None = None, fixed: bool = True) -> int:
    """Train ``model`` in place on ``dataset``'s training split (augmented where the data set
    augments) for ``budget`` with the engine (:func:`nos.train.fit`: SGD with Nesterov momentum,
    weight decay on weights only, warm-up then the budget's schedule, batch order seeded by
    ``seed``); its width and resolution are the caller's business. The other arguments are the
    engine's; returns the step it started from (0 unless a checkpoint was resumed)."""
    return engine.fit(model, dataset.split("train", augment=True), budget, seed, loss=loss, runtime=runtime,
                      progress=progress, checkpoint=checkpoint, fixed=fixed)


@dataclass(frozen=True)
class HalvingResult:
    """Outcome of one candidate in :func:`successive_halving`.

    Attributes:
        index: position in the input population.
        rung: last rung reached (0 = the smallest budget; ``rungs - 1`` = full budget).
        accuracy: validation accuracy in [0, 1] on that rung's budget.
        budget: the budget trained on that rung.
    """

    index: int
    rung: int
    accuracy: float
    budget: Budget


def successive_halving(candidates: Sequence[nn.Module | Arch], data: str | Dataset = "digits",
                       budget: Budget | Mapping = Budget(), eta: int = 3, rungs: int = 3, seed: int = 0,
                       root: str | None = None) -> list[HalvingResult]:
    """Successive halving over ``candidates``; the last rung trains on ``budget``.

    Rung ``r`` trains on ``budget`` scaled by ``eta ** (r - rungs + 1)``; after each rung the
    best ``ceil(n / eta)`` candidates (ties broken by index) go on. Returns one
    :class:`HalvingResult` per candidate, in input order; the winner is the candidate with
    the highest ``(rung, accuracy)``.
    """
    budget = as_budget(budget)
    for name, value, minimum in (("eta", eta, 2), ("rungs", rungs, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    if not candidates:
        raise ValueError("candidates: need at least one candidate")
    dataset = load(data, budget.resolution, root)
    results: dict[int, HalvingResult] = {}
    alive = list(range(len(candidates)))
    for rung in range(rungs):
        rung_budget = budget.times(float(eta) ** (rung - rungs + 1))
        for i in alive:
            results[i] = HalvingResult(i, rung, train_accuracy(candidates[i], dataset, rung_budget, seed), rung_budget)
        alive = sorted(alive, key=lambda i: -results[i].accuracy)[: math.ceil(len(alive) / eta)]
    return [results[i] for i in range(len(candidates))]
