"""Benchmark the training engine (nos.train): images/s of ``nos.train.fit`` against a bare
hand-written torch loop on the same network and data, one against two DDP processes, the data
loader on a generated JPEG folder, and the torch thread count.

Writes ``experiments/results/bench_train.md`` (CPU) or, with ``--device cuda``, the GPU file
``experiments/results/bench_train_gpu.md`` (``experiments/bench_train_gpu.sh`` runs that).

Run: ``python experiments/bench_train.py`` (about 10 minutes on 2 busy cores; ``--quick`` for a
smoke run). Sections: ``--sections engine,ddp,loader,threads``.

* engine: MobileNetV2-FuSe-Half at width 0.25 (10 classes) on Fashion-MNIST at 32 px (in memory;
  digits when the Debian package is missing), batch 64; the engine's ``fit`` against a loop of
  ``torch.randperm`` batches, the same normalisation and resize, SGD. Best of 3 alternating
  repeats. On the CPU: one thread, process CPU time (the machine is shared: CPU time leaves out
  the time other jobs hold the cores), wall time beside it.
* ddp: the same training under ``torchrun --standalone --nproc_per_node=N`` (gloo, one thread
  each), N = 1 and 2, same global batch; wall-clock images/s of the whole job.
* loader: a generated folder of 1,000 JPEGs (160 x 120, 10 classes) through the training view
  (random resized crop to 64 px, flip) with 0, 1 and 2 loader workers; wall-clock images/s of
  reading one epoch, no network.
* threads: seconds per training step (the engine network) and per supernet candidate read
  (``Supernet.accuracy``, width 0.125, 32 px) with 1 and 2 torch threads, alone and with a
  second copy of the same measurement running at the same time.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nos import zoo
from nos.proxies import load
from nos.proxies.data import FASHION_MNIST_ROOT
from nos.proxies.train import materialize
from nos.train import Budget, Runtime, fit
from nos.train.data import BatchOrder, loader

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 64


def network_and_data(args):
    """The benchmark's network (built for the data set, at ``args.width``) and data set (``args.resolution``)."""
    data = load("fashion_mnist" if Path(FASHION_MNIST_ROOT).is_dir() else "digits", args.resolution)
    torch.manual_seed(0)
    return materialize(zoo.get("mobilenet_v2", "fuse_half"), data, args.width), data


def bare_loop(model: torch.nn.Module, data, steps: int, batch: int, setup) -> None:
    """What one writes by hand: shuffled batches, normalise, resize, forward, loss, backward, SGD
    (with the setup's device, autocast and memory layout)."""
    device, resolution = setup.device, data.resolution
    images, labels = data.train_x, data.train_y
    mean, std = data.mean[:, None, None].to(device), data.std[:, None, None].to(device)
    model.to(device, memory_format=setup.memory_format).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=setup.scaled)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    for step in range(steps):
        index = order[(step * batch) % (len(order) - batch):][:batch]
        x = (images[index].to(device).float() - mean) / std
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
        with setup.autocast():
            loss = F.cross_entropy(model(x.contiguous(memory_format=setup.memory_format)), labels[index].to(device))
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    if device.type == "cuda":
        torch.cuda.synchronize()


def engine_loop(model, data, steps: int, batch: int, runtime: Runtime) -> None:
    fit(model, data.split("train", augment=True), Budget(steps=steps, batch_size=batch, resolution=data.resolution), 0,
        runtime=runtime)
    if runtime.device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(run) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of ``run()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def configurations(args) -> list[tuple[str, Runtime]]:
    """The runtimes the engine section measures; the last one is also compared with the bare loop."""
    if args.device == "cpu":
        return [("CPU, 1 thread", Runtime(device="cpu", threads=1))]
    cuda = args.device
    return [(f"CPU, {os.cpu_count()} threads", Runtime(device="cpu", threads=os.cpu_count())),
            ("GPU", Runtime(device=cuda, precision="fp32", channels_last=False)),
            ("GPU, channels_last, compile", Runtime(device=cuda, compile=True)),
            ("GPU, channels_last", Runtime(device=cuda))]


def engine_section(args) -> list[str]:
    model, data = network_and_data(args)
    steps, batch = (5 if args.quick else args.steps), args.batch
    repeats = 1 if args.quick else 3
    images = steps * batch
    rows, rates = [], []
    for label, runtime in configurations(args):
        setup = runtime.resolve()
        cpu_clock = setup.device.type == "cpu" and runtime.threads == 1  # one thread on a shared machine: CPU time
        net = copy.deepcopy(model)
        engine_loop(net, data, 3, batch, runtime)  # warm up (and compile)
        times = [timed(lambda: engine_loop(net, data, steps, batch, runtime)) for _ in range(repeats)]
        rate = images / min(t[1 if cpu_clock else 0] for t in times)
        rates.append(rate)
        rows.append(f"| {label} ({setup.precision}) | {rate:,.0f} | {rate / rates[0]:.2f}x |")
    bare_net = copy.deepcopy(model)
    bare_loop(bare_net, data, 3, batch, setup)
    results = {"engine": [], "bare": []}
    for _ in range(repeats):
        results["bare"].append(timed(lambda: bare_loop(bare_net, data, steps, batch, setup)))
        results["engine"].append(timed(lambda: engine_loop(net, data, steps, batch, runtime)))
    compare = []
    for name in ("bare", "engine"):
        wall, cpu = min(t[0] for t in results[name]), min(t[1] for t in results[name])
        compare.append(f"| {name} | {images / wall:,.0f} | {images / cpu:,.0f} |")
    clock = 1 if cpu_clock else 0
    ratio = min(t[clock] for t in results["bare"]) / min(t[clock] for t in results["engine"])
    return ["## Engine against a bare loop", "",
            f"MobileNetV2-FuSe-Half at width {args.width} ({sum(p.numel() for p in model.parameters()):,} parameters), "
            f"{data.name} at {data.resolution} px (in memory), batch {batch}, {steps} steps; best of {repeats} repeats"
            f"{' (process CPU time: one thread on a shared machine)' if cpu_clock else ' (wall clock)'}.", "",
            "| runtime | images/s | speed-up |", "|---|---:|---:|", *rows, "",
            f"The last runtime against a hand-written loop (same network, data, normalisation, resize, SGD, "
            f"precision and layout; the two alternate):", "",
            "| loop | images/s (wall) | images/s (CPU time) |", "|---|---:|---:|", *compare, "",
            f"**Engine / bare: {ratio:.2f}x** ({'CPU' if cpu_clock else 'wall'} time; goal >= 0.9x).", ""]


def ddp_worker(args) -> None:
    """One process of the ddp section (under torchrun): time a training, rank 0 prints images/s."""
    from nos.train import distributed

    torch.set_num_threads(1)
    model, data = network_and_data(args)
    steps = 5 if args.quick else args.steps
    with distributed.joined(torch.device("cpu")) as world:
        runtime = Runtime(device="cpu", threads=1, sync_batchnorm=not args.per_process_batchnorm)
        engine_loop(model, data, 2, args.batch, runtime)  # warm up
        distributed.all_gather(None)  # start together
        wall, _ = timed(lambda: engine_loop(model, data, steps, args.batch, runtime))
        moments = torch.zeros(2 * 96 + 1, dtype=torch.float64)  # what a BatchNorm of 96 channels exchanges
        latency, _ = timed(lambda: [distributed.all_reduce_sum(moments) for _ in range(100)])
        if world.main:
            print(json.dumps({"processes": world.size, "images_per_s": steps * args.batch / wall,
                              "all_reduce_ms": 1000 * latency / 100}))


def ddp_section(args) -> list[str]:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    rows = []
    for processes, per_process in ((1, False), (2, False), (2, True)):
        command = [torchrun, "--standalone", f"--nproc_per_node={processes}", __file__, "--sections", "ddp-worker",
                   "--steps", str(args.steps), "--batch", str(args.batch)] + \
            (["--quick"] if args.quick else []) + (["--per-process-batchnorm"] if per_process else [])
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        rows.append((processes, per_process, result["images_per_s"], result["all_reduce_ms"]))
    base = rows[0][2]
    norms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in network_and_data(args)[0].modules())
    return ["## One against two DDP processes (CPU, gloo)", "",
            f"The engine's training above under `torchrun --standalone --nproc_per_node=N` (global batch {args.batch}, "
            f"one thread per process); BatchNorm statistics over the global batch (the default: {norms} BatchNorm "
            f"layers, so {2 * norms} small all-reduces per step besides the gradients') or per process "
            f"(`runtime.sync_batchnorm=false`, plain DDP); wall-clock images/s of the job, and the time of one "
            f"all-reduce of 193 float64 values (a 96-channel BatchNorm's exchange).", "",
            "| processes | BatchNorm statistics | images/s | speed-up | all-reduce (ms) |", "|---:|---|---:|---:|---:|",
            *[f"| {n} | {'per process' if per else 'global batch'} | {rate:,.0f} | {rate / base:.2f}x | "
              f"{'' if n == 1 else f'{ms:.2f}'} |" for n, per, rate, ms in rows], ""]


def jpeg_folder(root: Path, count: int) -> Path:
    rng = np.random.default_rng(0)
    from PIL import Image

    for i in range(count):
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (rng.random((120, 160, 3)) * 64 + rng.integers(0, 192, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
    return root


def loader_section(args) -> list[str]:
    count = 200 if args.quick else 1000
    root = jpeg_folder(Path(tempfile.mkdtemp()) / "images", count)
    data = load("folder", root=str(root), resolution=64)
    view = data.split("train", augment=True)
    rows = []
    for workers in (0, 1, 2) if args.device == "cpu" else (0, 2, 4, 8):
        order = BatchOrder(len(view), BATCH, len(view) // BATCH, seed=0, draws=True)
        batches = loader(view, order, workers, pin_memory=args.device.startswith("cuda"))
        wall, _ = timed(lambda: [None for _ in batches])
        rows.append(f"| {workers} | {len(order) * BATCH / wall:,.0f} |")
    shutil.rmtree(root.parent)
    return ["## Data loader on a JPEG folder", "",
            f"{count} generated JPEGs of 160 x 120 (10 classes; {len(view)} training images after the 80/20 split), "
            f"training view: decode (Pillow), random resized crop to 64 px, flip, normalise; one epoch in batches "
            f"of {BATCH}, no network; wall-clock images/s.", "",
            "| loader workers | images/s |", "|---:|---:|", *rows, ""]


def threads_worker(args) -> None:
    """Seconds per training step and per supernet candidate at ``args.threads`` threads (JSON line)."""
    from nos.arch import OperatorChoices
    from nos.proxies.supernet import Supernet, train_supernet
    from search_spaces import get_space

    torch.set_num_threads(args.threads)
    model, data = network_and_data(args)
    steps = 2 if args.quick else 5
    runtime = Runtime(device="cpu")
    engine_loop(model, data, 2, args.batch, runtime)
    step, _ = timed(lambda: engine_loop(model, data, steps, args.batch, runtime))
    space = get_space("mobilenet_v2")
    supernet = train_supernet(Supernet(space.base, space.operator_choices), "digits", 0,
                              Budget(steps=2, batch_size=32, width=0.125, resolution=32), runtime=runtime)
    rng = np.random.default_rng(0)
    archs = [space.to_arch(space.sample(rng)) for _ in range(2 if args.quick else 4)]
    supernet.accuracy(archs[0])
    candidate, _ = timed(lambda: [supernet.accuracy(a) for a in archs])
    print(json.dumps({"step_s": step / steps, "candidate_s": candidate / len(archs)}))


def threads_section(args) -> list[str]:
    rows = []
    for copies in (1, 2):
        for threads in (1, 2):
            command = [sys.executable, __file__, "--sections", "threads-worker", "--threads", str(threads)] + \
                (["--quick"] if args.quick else [])
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            running = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) for _ in range(copies)]
            results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in running]
            rows.append(f"| {copies} | {threads} | {statistics.mean(r['step_s'] for r in results):.3f} | "
                        f"{statistics.mean(r['candidate_s'] for r in results):.3f} |")
    return ["## Torch threads", "",
            "Seconds per training step (the engine's network above, batch 64) and per supernet candidate read "
            "(MobileNetV2 space, width 0.125, 32 px: BatchNorm re-estimation on 512 images, then 360 digits "
            "validation images), wall clock; `copies` processes run the same measurement at the same time.", "",
            "| copies | threads each | s / training step | s / supernet candidate |", "|---:|---:|---:|---:|",
            *rows, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="engine,ddp,loader,threads")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU run (bench_train_gpu.sh)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=BATCH, help="global batch of the engine and ddp sections")
    parser.add_argument("--width", type=float, default=0.25, help="width multiplier of the network")
    parser.add_argument("--resolution", type=int, default=32, help="pixels")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a smoke run: few steps, no results file")
    parser.add_argument("--per-process-batchnorm", action="store_true", help=argparse.SUPPRESS)  # ddp-worker
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sections = args.sections.split(",")
    if sections == ["ddp-worker"]:
        return ddp_worker(args)
    if sections == ["threads-worker"]:
        return threads_worker(args)
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    lines = [f"# Training engine benchmark ({'GPU' if args.device != 'cpu' else 'CPU'})", "",
             f"`python experiments/bench_train.py{' --device ' + args.device if args.device != 'cpu' else ''}` on "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}"
             + (f", {torch.cuda.get_device_name()}" if args.device.startswith("cuda") else "")
             + f"; load average before: {load_before[0]:.1f} (1 min), {load_before[1]:.1f} (5 min).", ""]
    for name in sections:
        start = time.perf_counter()
        section = {"engine": engine_section, "ddp": ddp_section, "loader": loader_section,
                   "threads": threads_section}[name](args)
        lines += section
        print("\n".join(section), flush=True)
        print(f"({name}: {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    load_after = os.getloadavg()
    lines += [f"Load average after: {load_after[0]:.1f} (1 min), {load_after[1]:.1f} (5 min).", ""]
    out = args.out or RESULTS / ("bench_train_gpu.md" if args.device != "cpu" else "bench_train.md")
    if not args.quick:
        out.write_text("\n".join(lines))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
