"""Where and how a training runs: device, precision, memory layout, compilation, data-loader
workers and torch threads (:class:`Runtime`). None of it changes what is trained (that is the
:class:`~nos.train.budget.Budget`); precision changes only the rounding.

``device``: ``auto`` (CUDA when torch sees a GPU, else the CPU), ``cpu``, ``cuda`` (under
``torchrun`` each process takes the GPU of its local rank), ``cuda:N`` or ``mps``.
``precision``: ``auto`` (on CUDA bf16 where the GPU supports it, else fp16; fp32 elsewhere),
``fp32``, ``bf16`` (CUDA or CPU autocast) or ``fp16`` (CUDA autocast with a gradient scaler).
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Optional

import torch

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}  # the autocast dtype (None: no autocast)
MAX_AUTO_WORKERS = 4  # data-loader workers of a file data set when none are asked for (per process)


@dataclass(frozen=True)
class Runtime:
    """How a training runs.

    Attributes:
        device: one of :data:`DEVICES` (``cuda:N`` with a GPU index).
        precision: one of :data:`PRECISIONS`.
        channels_last: NHWC memory layout for the network and its inputs; None: on CUDA only.
        compile: ``torch.compile`` the network before training (a fixed network; the supernet
            changes its path every step and refuses it).
        workers: data-loader worker processes per training process; None: none for data held in
            memory, ``min(4, CPUs per process)`` for files decoded as they are read.
        threads: torch intra-op threads of the process; None leaves the process's setting alone
            (the apps then use :func:`default_threads`).
        sync_batchnorm: in a job of several processes, BatchNorm statistics over the whole global
            batch (N processes train as one does); false: each process's share, as plain DDP (no
            exchange per BatchNorm layer: faster where messages are slow; rank 0's running
            statistics are sent to the others at every step).
    """

    device: str = "auto"
    precision: str = "auto"
    channels_last: Optional[bool] = None
    compile: bool = False
    workers: Optional[int] = None
    threads: Optional[int] = None
    sync_batchnorm: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.device, str) or not (self.device in DEVICES or re.fullmatch(r"cuda:\d+", self.device)):
            raise ValueError(f"runtime.device: unknown device {self.device!r} (allowed: {', '.join(DEVICES)})")
        if self.precision not in PRECISIONS:
            raise ValueError(f"runtime.precision: unknown precision {self.precision!r} "
                             f"(allowed: {', '.join(PRECISIONS)})")
        for name in ("channels_last", "compile", "sync_batchnorm"):
            value = getattr(self, name)
            if not isinstance(value, bool) and not (name == "channels_last" and value is None):
                raise ValueError(f"runtime.{name}: expected true or false, got {value!r}")
        for name, minimum in (("workers", 0), ("threads", 1)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
                raise ValueError(f"runtime.{name}: expected an integer >= {minimum} or null, got {value!r}")

    def resolve(self, local_rank: int = 0) -> Setup:
        """The concrete setup for the process of local rank ``local_rank``; a ValueError names
        the field when this machine cannot run it (no GPU, no bf16)."""
        device = _device(self.device, local_rank)
        precision = self.precision
        if precision == "auto":
            precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if device.type == "cuda" else "fp32"
        if precision == "fp16" and device.type != "cuda":
            raise ValueError(f"runtime.precision: fp16 needs a CUDA device, got {device} (use bf16 or fp32)")
        if precision == "bf16" and device.type == "mps":
            raise ValueError("runtime.precision: bf16 autocast is not offered on mps here (use fp32)")
        if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError(f"runtime.precision: {torch.cuda.get_device_name(device)} has no bf16 (use fp16)")
        channels_last = device.type == "cuda" if self.channels_last is None else self.channels_last
        return Setup(device, precision, channels_last, self.compile, self.workers, self.threads, self.sync_batchnorm)


@dataclass(frozen=True)
class Setup:
    """A :class:`Runtime` resolved on this machine."""

    device: torch.device
    precision: str  # fp32, bf16 or fp16
    channels_last: bool
    compile: bool
    workers: Optional[int]
    threads: Optional[int]
    sync_batchnorm: bool

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    @property
    def scaled(self) -> bool:
        """fp16 needs a gradient scaler (bf16 has fp32's range)."""
        return self.precision == "fp16"

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for the forward pass and the loss; nothing under fp32."""
        dtype = DTYPES[self.precision]
        return contextlib.nullcontext() if dtype is None else torch.autocast(self.device.type, dtype=dtype)

    def inputs(self, images: torch.Tensor) -> torch.Tensor:
        """A batch of images on the device, in the network's memory layout."""
        images = images.to(self.device, non_blocking=True)
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images

    def workers_for(self, in_memory: bool) -> int:
        """Data-loader workers for a data set held in memory or read from files."""
        return default_workers(in_memory) if self.workers is None else self.workers


def _device(spec: str, local_rank: int) -> torch.device:
    if spec == "cpu" or (spec == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if spec == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("runtime.device: mps is not available on this machine (allowed here: auto, cpu)")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise ValueError(f"runtime.device: {spec} asked for, but torch {torch.__version__} sees no CUDA device "
                         f"(allowed here: auto, cpu)")
    count = torch.cuda.device_count()
    index = int(spec.split(":")[1]) if ":" in spec else local_rank
    if index >= count:
        raise ValueError(f"runtime.device: GPU {index} asked for (local rank {local_rank}), this machine has {count}")
    return torch.device("cuda", index)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's or taskset's share)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_workers(in_memory: bool) -> int:
    """Data-loader workers unless told: none for data in memory (a batch is one tensor
    operation), ``min(4, CPUs)`` for files decoded as they are read."""
    return 0 if in_memory else min(MAX_AUTO_WORKERS, usable_cpus())


DEFAULT_THREADS = 1
"""torch intra-op threads per process unless told: measured on a shared 2-core machine
(experiments/results/bench_train.md), two threads made a step up to 8x slower than one as soon
as other processes wanted the cores, and one thread loses at most the idle cores' share; one
thread also keeps a result independent of the machine's load (the split of a reduction changes
its rounding). Set ``runtime.threads`` to the cores per process on a machine of your own."""


def default_threads() -> int:
    """The thread count of an app's process unless ``runtime.threads`` says: ``OMP_NUM_THREADS``
    when set (``torchrun`` sets 1 for several processes), else :data:`DEFAULT_THREADS`."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_THREADS


@contextlib.contextmanager
def threads(count: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``count`` for the block (None: left alone)."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
