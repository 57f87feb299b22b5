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
import torch.nn.functional as F
from torch import nn

from nos.arch import Arch
from nos.network import build
from nos.proxies.data import DEFAULT_RESOLUTION, Dataset, load

SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class Budget:
    """How long and how a candidate is trained.

    Attributes:
        epochs: passes over the training split (may be fractional); ignored when ``steps`` is set.
        steps: optimizer steps (minibatches); overrides ``epochs``.
        batch_size: images per step.
        lr: peak learning rate.
        schedule: learning-rate schedule after warm-up, one of :data:`SCHEDULES`.
        warmup: fraction of the steps with a linear warm-up from 0 to ``lr``.
        momentum: Nesterov momentum.
        weight_decay: L2 weight decay.
        resolution: input side length in pixels.
        width: channel multiplier applied to an :class:`Arch` (``Arch.scaled``); 1 keeps it.
    """

    epochs: float = 5.0
    steps: int | None = None
    batch_size: int = 64
    lr: float = 0.1
    schedule: str = "cosine"
    warmup: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    resolution: int = DEFAULT_RESOLUTION
    width: float = 1.0

    def __post_init__(self) -> None:
        positive = {"epochs": self.epochs, "lr": self.lr, "width": self.width}
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"budget.{name}: expected a positive number, got {value!r}")
        for name in ("batch_size", "resolution") + (("steps",) if self.steps is not None else ()):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"budget.{name}: expected a positive integer, got {value!r}")
        for name, value, upper in (("warmup", self.warmup, 1.0), ("momentum", self.momentum, 1.0),
                                   ("weight_decay", self.weight_decay, math.inf)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < upper:
                raise ValueError(f"budget.{name}: expected a number in [0, {upper}), got {value!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"budget.schedule: unknown schedule {self.schedule!r} (allowed: {', '.join(SCHEDULES)})")

    def total_steps(self, train_size: int) -> int:
        """Optimizer steps for a training split of ``train_size`` images."""
        if self.steps is not None:
            return self.steps
        return max(1, math.ceil(self.epochs * train_size / self.batch_size))

    def times(self, factor: float) -> Budget:
        """This budget with ``factor`` times the epochs (or steps)."""
        if self.steps is not None:
            return dataclasses.replace(self, steps=max(1, round(self.steps * factor)))
        return dataclasses.replace(self, epochs=self.epochs * factor)


def as_budget(budget: Budget | Mapping, default: Budget | None = None) -> Budget:
    """``budget`` as a :class:`Budget`: a mapping (e.g. a Hydra config) gives the fields that
    replace ``default``'s (``Budget()``'s when None)."""
    if isinstance(budget, Budget):
        return budget
    if isinstance(budget, Mapping):
        names = {f.name for f in dataclasses.fields(Budget)}
        unknown = sorted(set(budget) - names)
        if unknown:
            raise ValueError(f"budget: unknown field(s) {', '.join(map(str, unknown))} (allowed: {', '.join(sorted(names))})")
        return dataclasses.replace(Budget() if default is None else default, **budget)
    raise TypeError(f"budget: expected a Budget or a mapping, got {type(budget).__name__}")


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


def _learning_rate(budget: Budget, step: int, total: int) -> float:
    warm = round(budget.warmup * total)
    if step < warm:
        return budget.lr * (step + 1) / warm
    if budget.schedule == "constant":
        return budget.lr
    progress = (step - warm) / max(1, total - warm)
    return 0.5 * budget.lr * (1 + math.cos(math.pi * progress))


def evaluate(model: nn.Module, dataset: Dataset, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` (eval mode) on the validation split, in [0, 1]."""
    return measure(model, dataset, batch_size=batch_size)[0]


@torch.no_grad()
def measure(model: nn.Module, dataset: Dataset, split: str = "val", count: int | None = None,
            batch_size: int = 256) -> tuple[float, float]:
    """(top-1 accuracy in [0, 1], mean cross-entropy in nats) of ``model`` (eval mode) on the first
    ``count`` images of ``split`` (all of them when None)."""
    model.eval()
    total = dataset.size(split) if count is None else min(count, dataset.size(split))
    correct, loss = 0, 0.0
    for start in range(0, total, batch_size):
        index = slice(start, min(start + batch_size, total))
        logits, labels = model(dataset.images(split, index)), dataset.labels(split, index)
        correct += (logits.argmax(1) == labels).sum().item()
        loss += F.cross_entropy(logits, labels, reduction="sum").item()
    return correct / total, loss / total


def train_accuracy(model_or_arch: nn.Module | Arch, data: str | Dataset = "digits",
                   budget: Budget | Mapping = Budget(), seed: int = 0, root: str | None = None) -> float:
    """Validation accuracy in [0, 1] after training ``model_or_arch`` for ``budget``.

    An :class:`Arch` is built at ``budget.width`` with the data set's class count; a module
    is trained on a copy. ``data`` is a name (see :data:`nos.proxies.data.DATASETS`) or a
    :class:`Dataset`; ``root`` is the local CIFAR-10 folder or image folder.
    """
    budget = as_budget(budget)
    dataset = load(data, budget.resolution, root)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = materialize(model_or_arch, dataset, budget.width)
        fit(model, dataset, budget, seed)
        return evaluate(model, dataset)


def fit(model: nn.Module, dataset: Dataset, budget: Budget, seed: int,
        forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
        progress: Callable[[int, int], None] | None = None) -> None:
    """Train ``model`` in place on ``dataset``'s training split for ``budget`` (its width and
    resolution are the caller's business): SGD with Nesterov momentum, weight decay on
    weights (not on BN parameters and biases), warm-up then the budget's schedule; the
    batch order is reshuffled each epoch by a generator seeded with ``seed``, the ragged
    tail is dropped. Parameters without a gradient in a step (an unsampled supernet path)
    are not updated in that step.

    Args:
        forward: the training forward pass (images -> logits), called once per step;
            default ``model(images)``.
        progress: called after every step with (steps done, total steps).
    """
    forward = model if forward is None else forward
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": budget.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=budget.lr, momentum=budget.momentum, nesterov=budget.momentum > 0)
    n = dataset.size("train")
    total = budget.total_steps(n)
    generator = torch.Generator().manual_seed(seed)
    order = torch.empty(0, dtype=torch.long)
    model.train()
    for step in range(total):
        if len(order) < budget.batch_size:  # reshuffle each epoch; drop the ragged tail
            order = torch.randperm(n, generator=generator)
        index, order = order[: budget.batch_size], order[budget.batch_size:]
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(budget, step, total)
        loss = F.cross_entropy(forward(dataset.images("train", index)), dataset.labels("train", index))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress is not None:
            progress(step + 1, total)


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
