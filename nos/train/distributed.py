"""The processes of one training job: what ``torchrun`` tells each process (:func:`launched`), the
process group (:func:`joined`: gloo on CPU, NCCL on CUDA), the few collectives the engine uses,
BatchNorm statistics computed over every process (:func:`synchronized_batchnorm`), and the one
line a failed process prints (:func:`failure_line`).

A single process (no ``torchrun``) is a job of size 1: every collective is then a no-op, so the
engine has one code path.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import torch
import torch.distributed as dist
from torch import nn

# what a collective raises in a process whose peer died (gloo, NCCL): that process only follows
PEER_LOST = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "NCCL communicator was aborted",
             "ncclRemoteError", "failed to recv", "Socket Timeout")


@dataclass(frozen=True)
class World:
    """This process's place in its job: global ``rank`` of ``size`` processes, ``local_rank``
    of ``local_size`` on this machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def main(self) -> bool:
        """The process that writes files, prints progress and talks to the study."""
        return self.rank == 0


def launched() -> World:
    """The job the launcher (``torchrun``: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE) started
    this process in; a process started otherwise is a job of one."""
    env = os.environ
    size = int(env.get("WORLD_SIZE", 1))
    return World(int(env.get("RANK", 0)), size, int(env.get("LOCAL_RANK", 0)), int(env.get("LOCAL_WORLD_SIZE", size)))


def current() -> World:
    """This process's place in the process group it has joined (a job of one when none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    world = launched()
    rank, size = dist.get_rank(), dist.get_world_size()
    if world.size != size:  # a group built by hand (tests): treat it as one machine
        return World(rank, size, rank, size)
    return World(rank, size, world.local_rank, world.local_size)


@contextlib.contextmanager
def joined(device: torch.device) -> Iterator[World]:
    """In the block, this process is in its job's process group (NCCL for a CUDA ``device``, else
    gloo), when it was launched as one of several and no group exists yet; left afterwards. A
    block that fails does not leave it (leaving waits for the peers, which may be waiting in a
    collective for this process): the process is about to end, and its peers see it go."""
    world = launched()
    if world.size == 1 or dist.is_initialized():
        yield current()
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    yield current()  # on an error the group is left as it is: the process ends, its peers see it go
    dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over the job's processes, in place (unchanged in a job of one)."""
    if current().size > 1:
        dist.all_reduce(tensor)
    return tensor


def broadcast(value: Any) -> Any:
    """Rank 0's ``value`` (any picklable object) in every process."""
    if current().size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def share_buffers(module: nn.Module) -> None:
    """Rank 0's buffers of ``module`` (BatchNorm running statistics) in every process, in place."""
    if current().size > 1:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def all_gather(value: Any) -> list[Any]:
    """Every process's ``value``, by rank."""
    world = current()
    if world.size == 1:
        return [value]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, value)
    return out


def fail(app: str, err: BaseException, code: int) -> NoReturn:
    """Print this process's :func:`failure_line` on stderr (if it has one) and exit with ``code``."""
    line = failure_line(app, err)
    if line is not None:
        print(line, file=sys.stderr, flush=True)
    sys.exit(code)


def failure_line(app: str, err: BaseException) -> str | None:
    """The one line a process of a failed job prints (``app: rank r of n: message``), or None when
    this process only lost a peer that failed first (that process prints the cause)."""
    text = str(err).strip()
    message = text.splitlines()[0] if text else type(err).__name__
    world = current() if dist.is_available() and dist.is_initialized() else launched()
    if world.size == 1:
        return f"{app}: {message}"
    if any(sign in text for sign in PEER_LOST):
        return None
    return f"{app}: rank {world.rank} of {world.size}: {message}"


class _SynchronizedNorm(torch.autograd.Function):
    """Batch normalisation (no running statistics) whose mean and variance, and the input
    gradient's two reductions, are summed over all processes: the same numbers one process
    computes on the whole global batch. Reductions in float64."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float):
        dims = [0, *range(2, x.ndim)]
        shape = [1, -1] + [1] * (x.ndim - 2)
        x32 = x.float()
        var, mean = torch.var_mean(x32, dims, correction=0)
        count = x.numel() // x.shape[1]
        mean, var = mean.double(), var.double()
        moments = all_reduce_sum(torch.cat([mean * count, (var + mean * mean) * count, mean.new_tensor([count])]))
        channels = x.shape[1]
        total = moments[-1]
        mean64 = moments[:channels] / total
        var64 = moments[channels:2 * channels] / total - mean64 * mean64
        invstd = torch.rsqrt(var64 + eps).float()
        xhat = (x32 - mean64.float().view(shape)) * invstd.view(shape)
        ctx.save_for_backward(xhat, weight, invstd)
        ctx.total, ctx.dtype = float(total), x.dtype
        y = xhat * weight.float().view(shape) + bias.float().view(shape)
        return y.to(x.dtype), mean64.float(), var64.float(), total.float()

    @staticmethod
    def backward(ctx, grad, *_):
        xhat, weight, invstd = ctx.saved_tensors
        dims = [0, *range(2, xhat.ndim)]
        shape = [1, -1] + [1] * (xhat.ndim - 2)
        grad = grad.float()
        sum_grad, sum_grad_xhat = grad.sum(dims), (grad * xhat).sum(dims)
        global_sums = all_reduce_sum(torch.cat([sum_grad, sum_grad_xhat]).double()) / ctx.total
        channels = xhat.shape[1]
        mean_grad, mean_grad_xhat = global_sums[:channels].float(), global_sums[channels:].float()
        scale = (invstd * weight.float()).view(shape)
        grad_x = (grad - mean_grad.view(shape) - xhat * mean_grad_xhat.view(shape)) * scale
        return grad_x.to(ctx.dtype), sum_grad_xhat.to(weight.dtype), sum_grad.to(weight.dtype), None


class SynchronizedBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose training-mode statistics cover the batches of all processes
    (torch's ``nn.SyncBatchNorm`` runs on GPUs only); in eval mode, or alone, the plain one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or current().size == 1:
            return super().forward(x)
        y, mean, var, total = _SynchronizedNorm.apply(x, self.weight, self.bias, self.eps)
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            factor = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
            self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
            unbiased = var * total / (total - 1).clamp_min(1)
            self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)
        return y


@contextlib.contextmanager
def synchronized_batchnorm(model: nn.Module) -> Iterator[None]:
    """In the block, every affine ``nn.BatchNorm2d`` with running statistics of ``model`` is a
    :class:`SynchronizedBatchNorm2d` (same parameters and buffers); afterwards the plain one again."""
    norms = [m for m in model.modules() if type(m) is nn.BatchNorm2d and m.affine and m.track_running_stats]
    for norm in norms:
        norm.__class__ = SynchronizedBatchNorm2d
    try:
        yield
    finally:
        for norm in norms:
            norm.__class__ = nn.BatchNorm2d
