"""The processes of a distributed job, forked from the test process: each gets torchrun's
environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and one
torch thread, and runs a function (which joins the process group as the apps do). Forking reuses
the loaded torch: a process costs a fraction of a second instead of a new Python."""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch._dynamo  # noqa: F401  (an optimizer's first construction imports it: seconds; once here, not per process)


@dataclass(frozen=True)
class Finished:
    """One process's exit code and what it wrote to stdout and stderr."""

    code: int
    stdout: str
    stderr: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child(function: Callable[[int], object], rank: int, size: int, port: int, folder: str) -> None:
    out, err = open(f"{folder}/stdout-{rank}", "w", buffering=1), open(f"{folder}/stderr-{rank}", "w", buffering=1)
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    sys.stdout, sys.stderr = out, err
    os.chdir(folder)  # whatever the process writes by accident lands in the test's folder, not the checkout
    logging.root.handlers.clear()  # as in a new process: the app's logging.basicConfig takes effect
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    code = 0
    try:
        function(rank)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    except BaseException:  # noqa: BLE001  (shown in the test's failure message)
        traceback.print_exc()
        code = 1
    finally:
        out.flush()
        err.flush()
        os._exit(code)


def start(function: Callable[[int], object], folder: Path, size: int = 2) -> list[multiprocessing.Process]:
    """``function(rank)`` in ``size`` forked processes of one job; their stdout and stderr under ``folder``."""
    context, port = multiprocessing.get_context("fork"), free_port()
    processes = [context.Process(target=_child, args=(function, rank, size, port, str(folder))) for rank in range(size)]
    for process in processes:
        process.start()
    return processes


def finish(processes: list[multiprocessing.Process], folder: Path, timeout: float = 120) -> list[Finished]:
    """Wait for the processes (killing any still running after ``timeout`` seconds, which fails the test)."""
    for process in processes:
        process.join(timeout)
    hung = [rank for rank, process in enumerate(processes) if process.is_alive()]
    for process in processes:
        if process.is_alive():
            os.kill(process.pid, signal.SIGKILL)
            process.join()
    assert not hung, f"processes {hung} still ran after {timeout} s"
    return [Finished(process.exitcode, (folder / f"stdout-{rank}").read_text(), (folder / f"stderr-{rank}").read_text())
            for rank, process in enumerate(processes)]


def run(function: Callable[[int], object], folder: Path, size: int = 2, timeout: float = 120) -> list[Finished]:
    """``function(rank)`` in ``size`` processes of one job, to the end."""
    return finish(start(function, folder, size), folder, timeout)
