"""The training loop: one for short training, the supernet and ``nos-train``.

:func:`fit` trains a module in place with SGD (Nesterov momentum, weight decay on weights but
not on BatchNorm parameters and biases) under the :class:`~nos.train.budget.Budget`'s warm-up and
schedule, on the device, precision and processes of a :class:`~nos.train.runtime.Runtime`:

* each step asks ``loss(model, images, labels, step)`` for the loss (default: cross-entropy of
  ``model(images)``): a supernet picks its path there, distillation adds its term there; one
  loop serves them all;
* in a job of several processes (``torchrun``) the module is wrapped in PyTorch's
  ``DistributedDataParallel`` and its BatchNorms compute their statistics over the global batch
  (unless ``runtime.sync_batchnorm`` is false), so N processes reach the weights one process
  reaches with the same global batch (up to float rounding); dropout draws differ per process;
* a :class:`Checkpointing` saves the whole state (weights, optimizer, gradient scaler, every
  process's RNG, the step) atomically every N steps and after the last; a restarted training with
  the same key resumes there and ends with the weights of an uninterrupted one.

On the CPU with fp32, a step does exactly what the loop before this engine did (same batch
order, same operations in the same order), so its numbers are unchanged (tests/test_train_numbers.py).
"""
from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from nos.train import checkpoint as files
from nos.train import distributed
from nos.train.budget import Budget
from nos.train.data import BatchOrder, EvalOrder, loader
from nos.train.runtime import Runtime, Setup, default_workers, threads

log = logging.getLogger("nos.train")
EVAL_BATCH = 256
Loss = Callable[[nn.Module, torch.Tensor, torch.Tensor, int], torch.Tensor]
"""``loss(model, images, labels, step)``: the loss of one step (``model`` may be wrapped in DDP
or compiled: call it, reach its parameters through the module given to :func:`fit`)."""


def cross_entropy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, step: int) -> torch.Tensor:
    """The default loss: cross-entropy of ``model(images)``."""
    return F.cross_entropy(model(images), labels)


@dataclass(frozen=True)
class Checkpointing:
    """Save the training state to ``path`` every ``every`` steps and after the last one, and
    resume from it; ``key`` (JSON-able) says what defines the training: a checkpoint with
    another key is set aside (logged) and the training starts afresh."""

    path: Path
    every: int
    key: Mapping[str, Any]

    def __post_init__(self) -> None:
        check_every(self.every)


def check_every(every: int) -> None:
    """A ValueError unless ``every`` (``checkpoint_every``) is a positive number of steps."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"checkpoint_every: expected a positive number of steps, got {every!r}")


def sgd(model: nn.Module, budget: Budget) -> torch.optim.SGD:
    """SGD with the budget's momentum (Nesterov) and weight decay on weights only."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.SGD([{"params": decay, "weight_decay": budget.weight_decay},
                            {"params": no_decay, "weight_decay": 0.0}],
                           lr=budget.lr, momentum=budget.momentum, nesterov=budget.momentum > 0)


def fit(model: nn.Module, data: torch.utils.data.Dataset, budget: Budget, seed: int, *, loss: Loss = cross_entropy,
        runtime: Runtime | None = None, progress: Callable[[int, int], None] | None = None,
        checkpoint: Checkpointing | None = None, fixed: bool = True) -> int:
    """Train ``model`` in place on ``data`` (a :mod:`nos.train.data` view of the training split)
    for ``budget`` (its width and resolution are the caller's business: the module and the
    data are given); the batch order is seeded by ``seed``. The module stays on the runtime's
    device. Parameters without a gradient in a step (an unsampled supernet path) are not
    updated in that step.

    Args:
        loss: the loss of one step (see :data:`Loss`).
        runtime: device, precision, workers, threads (default ``Runtime()``: CUDA when present).
        progress: called in the main process after every step with (steps done, total steps).
        checkpoint: where and how often to save, and resume from.
        fixed: the same parameters take part in every step (False: a supernet, whose path changes);
            DDP then learns once which ones never get a gradient, instead of looking every step.

    Returns the step the training started from (0, or where a checkpoint left it).
    """
    world = distributed.current()
    setup = (runtime or Runtime()).resolve(world.local_rank)
    total = budget.total_steps(len(data))
    with threads(setup.threads):
        model.to(setup.device)
        if setup.channels_last:
            model.to(memory_format=torch.channels_last)
        optimizer = sgd(model, budget)
        scaler = torch.amp.GradScaler(setup.device.type, enabled=setup.scaled)
        start = _resume(checkpoint, model, optimizer, scaler, world, setup) if checkpoint else 0
        if world.size > 1 and start == 0:
            torch.manual_seed(seed * 1000 + world.rank)  # dropout: each process its own draws
        network = _wrapped(model, setup, world, fixed)
        order = BatchOrder(len(data), budget.batch_size, total, seed, start, world.rank, world.size,
                           draws=not data.in_memory)
        batches = loader(data, order, setup.workers_for(data.in_memory), pin_memory=setup.device.type == "cuda")
        model.train()
        synchronized = world.size > 1 and setup.sync_batchnorm
        with distributed.synchronized_batchnorm(model) if synchronized else contextlib.nullcontext():
            for step, (images, labels) in enumerate(_unwrapped_errors(batches), start):
                images, labels = setup.inputs(images), labels.to(setup.device, non_blocking=True)
                for group in optimizer.param_groups:
                    group["lr"] = budget.learning_rate(step, total)
                with setup.autocast():
                    value = loss(network, images, labels, step)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(value).backward()
                scaler.step(optimizer)
                scaler.update()
                if checkpoint and ((step + 1) % checkpoint.every == 0 or step + 1 == total):
                    _save(checkpoint, step + 1, model, optimizer, scaler, world, setup)
                if progress is not None and world.main:
                    progress(step + 1, total)
        if world.size > 1 and not synchronized:
            distributed.share_buffers(model)  # each process ran its own statistics in the last step
    return start


def _wrapped(model: nn.Module, setup: Setup, world: distributed.World, fixed: bool) -> nn.Module:
    """The module the steps call: DDP in a job of several processes, compiled when asked.

    Parameters without a gradient keep none, as in one process: a fixed network's never-called
    ones (the authors' MobileNetV2-FuSe ``dead_expand`` conv) are found in the first step
    (``static_graph``), a supernet's unsampled candidates in every step (``find_unused_parameters``).
    """
    network = model
    if world.size > 1:
        devices = [setup.device.index] if setup.device.type == "cuda" else None
        network = DistributedDataParallel(model, device_ids=devices, static_graph=fixed, find_unused_parameters=not fixed,
                                          forward_sync_buffers=not setup.sync_batchnorm)
    return torch.compile(network) if setup.compile else network


def _unwrapped_errors(batches: Iterable) -> Iterator:
    """The batches; an error in a loader worker (e.g. an unreadable image) is raised again as the
    worker's own one-line error, not torch's report around it."""
    try:
        yield from batches
    except ValueError as err:
        lines = str(err).strip().splitlines()
        if len(lines) > 1 and "DataLoader worker" in lines[0]:
            raise ValueError(lines[-1].removeprefix(f"{type(err).__name__}: ")) from None
        raise


def _rng_state(setup: Setup) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if setup.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(setup.device)
    return state


def _save(checkpoint: Checkpointing, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
          scaler: torch.amp.GradScaler, world: distributed.World, setup: Setup) -> None:
    """The training state after ``step`` steps, written by the main process (every process's RNG)."""
    rng = distributed.all_gather(_rng_state(setup))
    if world.main:
        files.save_atomic(checkpoint.path, {"key": json.dumps(checkpoint.key, sort_keys=True), "step": step,
                                            "processes": world.size, "model": model.state_dict(),
                                            "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                                            "rng": rng})


def _resume(checkpoint: Checkpointing, model: nn.Module, optimizer: torch.optim.Optimizer,
            scaler: torch.amp.GradScaler, world: distributed.World, setup: Setup) -> int:
    """Load the checkpoint (read by the main process, sent to the others); the step it reached."""
    state = None
    if world.main and checkpoint.path.exists():
        state = files.load(checkpoint.path)
        if not isinstance(state, dict) or json.loads(state.get("key", "null")) != json.loads(
                json.dumps(checkpoint.key, sort_keys=True)):
            log.warning("checkpoint %s is for other settings; training afresh", checkpoint.path)
            state = None
    state = distributed.broadcast(state)
    if state is None:
        return 0
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    if state["processes"] == world.size:
        rng = state["rng"][world.rank]
        torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and setup.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], setup.device)
    else:
        log.warning("checkpoint %s was saved by %d processes, this job has %d: dropout draws start afresh",
                    checkpoint.path, state["processes"], world.size)
        torch.manual_seed(state["step"] * 1000 + world.rank)
    if world.main:
        log.info("resuming %s at step %d", checkpoint.path, state["step"])
    return state["step"]


def evaluate(model: nn.Module, data: torch.utils.data.Dataset, runtime: Runtime | None = None,
             batch_size: int = EVAL_BATCH) -> float:
    """Top-1 accuracy of ``model`` on ``data`` in [0, 1] (see :func:`measure`)."""
    return measure(model, data, runtime, batch_size)[0]


@torch.no_grad()
def measure(model: nn.Module, data: torch.utils.data.Dataset, runtime: Runtime | None = None,
            batch_size: int = EVAL_BATCH, count: int | None = None) -> tuple[float, float]:
    """(top-1 accuracy in [0, 1], mean cross-entropy in nats) of ``model`` (eval mode, on the
    device its parameters are on) on the first ``count`` items of ``data`` (a view of a split; all
    of them when None). In a job of several processes each measures its share and the sums are
    exchanged: every process gets the numbers of the whole split."""
    world = distributed.current()
    device = next(model.parameters()).device
    setup = runtime.resolve(world.local_rank) if runtime is not None else None
    workers = setup.workers_for(data.in_memory) if setup else default_workers(data.in_memory)
    total = len(data) if count is None else min(count, len(data))
    model.eval()
    order = EvalOrder(total, batch_size, world.rank, world.size, as_slices=data.in_memory)
    correct = torch.zeros((), dtype=torch.long, device=device)
    loss = torch.zeros((), dtype=torch.float64, device=device)
    with threads(setup and setup.threads), setup.autocast() if setup else contextlib.nullcontext():
        for images, labels in _unwrapped_errors(loader(data, order, workers, pin_memory=device.type == "cuda")):
            logits, labels = model(images.to(device, non_blocking=True)).float(), labels.to(device)
            correct += (logits.argmax(1) == labels).sum()
            loss += F.cross_entropy(logits, labels, reduction="sum")
    sums = distributed.all_reduce_sum(torch.stack([correct.double(), loss]))
    return sums[0].item() / total, sums[1].item() / total
