"""One training engine for everything nos trains (short-training proxy, weight-sharing supernet,
``nos-train``'s finalists): the :class:`Budget` (what is trained), the :class:`Runtime` (device,
precision, workers, threads), data views and their batch order (:mod:`nos.train.data`), the loop
with checkpoints and DDP under ``torchrun`` (:func:`fit`, :func:`evaluate`).

It knows networks and tensors, not search spaces, data-set names or the simulator: those live
above it (``nos.proxies``, ``nos.run``). See docs/training.md.
"""
from __future__ import annotations

from nos.train.budget import DEFAULT_RESOLUTION, SCHEDULES, Budget, as_budget
from nos.train.loop import Checkpointing, Loss, cross_entropy, evaluate, fit, measure
from nos.train.runtime import DEFAULT_THREADS, Runtime, default_threads

__all__ = ["DEFAULT_RESOLUTION", "DEFAULT_THREADS", "SCHEDULES", "Budget", "Checkpointing", "Loss", "Runtime",
           "as_budget", "cross_entropy", "default_threads", "evaluate", "fit", "measure"]
