"""What a training is: the :class:`Budget` (steps, batch, SGD settings, schedule, width and
resolution) and its learning-rate schedule.

A budget defines the result: the same budget, data and seed give the same weights. Where and
how the steps run (device, precision, processes, threads) is :class:`nos.train.runtime.Runtime`.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_RESOLUTION = 32  # pixels: the side of the square images a training sees unless told otherwise
SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class Budget:
    """How long and how a network is trained.

    Attributes:
        epochs: passes over the training split (may be fractional); ignored when ``steps`` is set.
        steps: optimizer steps (minibatches); overrides ``epochs``.
        batch_size: images per step (the global batch: all processes of a distributed job together).
        lr: peak learning rate.
        schedule: learning-rate schedule after warm-up, one of :data:`SCHEDULES`.
        warmup: fraction of the steps with a linear warm-up from 0 to ``lr``.
        momentum: Nesterov momentum.
        weight_decay: L2 weight decay.
        resolution: input side length in pixels.
        width: channel multiplier applied to an :class:`nos.arch.Arch` (``Arch.scaled``); 1 keeps it.
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

    def learning_rate(self, step: int, total: int) -> float:
        """The learning rate of step ``step`` (from 0) of ``total``: linear warm-up, then the schedule."""
        warm = round(self.warmup * total)
        if step < warm:
            return self.lr * (step + 1) / warm
        if self.schedule == "constant":
            return self.lr
        progress = (step - warm) / max(1, total - warm)
        return 0.5 * self.lr * (1 + math.cos(math.pi * progress))


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
