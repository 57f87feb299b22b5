"""The training engine (nos.train): DDP over two CPU processes (gloo) equals one process, a failed
process stops the job with one line, a killed training resumes to the same weights, and the
runtime (device, precision, layout, threads) is checked and applied."""
from __future__ import annotations

import dataclasses
import os
import signal
import time

import pytest
import torch

import processes
from nos import Arch
from nos.arch import OperatorChoices
from nos.proxies import Budget, load
from nos.proxies.supernet import Recipe, Supernet, train_supernet
from nos.proxies.train import fit, materialize
from nos.train import Checkpointing, Runtime, distributed
from nos.train.runtime import DEFAULT_THREADS, default_threads, threads
from test_proxies import one_thread  # noqa: F401  (autouse fixture)
from test_proxies_supernet import _base
from test_proxies_train import small_mobilenet_v2

BUDGET = Budget(steps=4, batch_size=32, resolution=8, lr=0.05)
CPU = Runtime(device="cpu")


def no_dropout(arch: Arch) -> Arch:
    """Dropout draws differ between processes; without it two processes compute what one does."""
    return dataclasses.replace(arch, head=dataclasses.replace(arch.head, dropout=0.0))


def with_dead_conv(arch: Arch) -> Arch:
    """Block 0 holds an expansion conv it never calls (the authors' MobileNetV2-FuSe quirk)."""
    return dataclasses.replace(arch, blocks=(dataclasses.replace(arch.blocks[0], dead_expand=True),) + arch.blocks[1:])


def trained(arch: Arch, budget: Budget = BUDGET, **options) -> dict[str, torch.Tensor]:
    """The state dict of ``arch`` after short training on synthetic data (seed 0)."""
    dataset = load("synthetic", budget.resolution)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = materialize(arch, dataset)
        fit(model, dataset, budget, 0, **options)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key].float(), b[key].float(), rtol=0, atol=atol, msg=key)


def in_job(function):
    """``function(rank)`` as a process of the job: in the process group, as the apps join it."""
    def run(rank: int):
        with distributed.joined(torch.device("cpu")):
            return function(rank)
    return run


def test_two_processes_reach_the_weights_of_one(tmp_path):
    """Same global batch (32 = 2 x 16, each process its half), BatchNorm statistics over both
    halves: the weights equal one process's up to float rounding (a never-called conv included)."""
    arch = with_dead_conv(no_dropout(small_mobilenet_v2()))
    alone = trained(arch, runtime=CPU)

    def job(rank: int):
        seen = []

        def loss(model, images, labels, step):
            seen.append(labels)
            return torch.nn.functional.cross_entropy(model(images), labels)

        torch.save((trained(arch, runtime=CPU, loss=loss), seen), tmp_path / f"{rank}.pt")

    results = processes.run(in_job(job), tmp_path)
    assert [r.code for r in results] == [0, 0], [r.stderr for r in results]
    (state0, seen0), (state1, seen1) = (torch.load(tmp_path / f"{rank}.pt") for rank in range(2))
    assert_close(state0, alone)
    assert_close(state1, alone)
    untrained = trained(arch, dataclasses.replace(BUDGET, lr=1e-30), runtime=CPU)  # the initial weights
    dead = [k for k in alone if k.startswith("blocks.0.expand.")]
    assert dead and all(torch.equal(state[k], untrained[k]) for state in (state0, state1) for k in dead)
    assert [len(labels) for labels in seen0 + seen1] == [16] * 2 * BUDGET.steps
    assert any(not torch.equal(a, b) for a, b in zip(seen0, seen1))  # different halves of each batch


def test_per_process_batchnorm_statistics_keep_the_processes_in_step(tmp_path):
    """sync_batchnorm=false: each process normalises with its half batch's statistics (plain DDP):
    the weights move away from one process's, but both processes hold the same ones."""
    arch, runtime = no_dropout(small_mobilenet_v2()), Runtime(device="cpu", sync_batchnorm=False)
    alone = trained(arch, runtime=CPU)
    results = processes.run(in_job(lambda rank: torch.save(trained(arch, runtime=runtime), tmp_path / f"{rank}.pt")),
                            tmp_path)
    assert [r.code for r in results] == [0, 0], [r.stderr for r in results]
    state0, state1 = (torch.load(tmp_path / f"{rank}.pt") for rank in range(2))
    assert all(torch.equal(state0[k], state1[k]) for k in state0)
    assert not torch.allclose(state0["classifier.weight"], alone["classifier.weight"], atol=1e-4)


def test_the_supernet_trains_alike_in_two_processes_and_only_the_first_writes(tmp_path):
    """Every process draws the same path at each step; unsampled candidates keep no gradient (no
    momentum, no decay) in DDP too; one cache file, no checkpoint left."""
    space = Supernet(no_dropout(_base()), OperatorChoices(kernels=(3, 5)))
    budget = Budget(steps=8, batch_size=16, resolution=8, width=0.5, lr=0.05)
    alone = train_supernet(space, "synthetic", 0, budget, runtime=CPU).module.state_dict()

    def job(rank: int):
        supernet = train_supernet(space, "synthetic", 0, budget, cache_dir=tmp_path / "cache", runtime=CPU,
                                  checkpoint_every=3)
        torch.save(supernet.module.state_dict(), tmp_path / f"{rank}.pt")

    results = processes.run(in_job(job), tmp_path)
    assert [r.code for r in results] == [0, 0], [r.stderr for r in results]
    for rank in range(2):
        assert_close(torch.load(tmp_path / f"{rank}.pt"), alone)
    assert sorted(p.suffix for p in (tmp_path / "cache").iterdir()) == [".lock", ".pt"]


def test_a_failing_process_stops_the_job_with_one_line(tmp_path):
    """Process 1 fails at its third step; process 0, waiting for it in the gradient exchange, stops
    too, without a line of its own; nothing hangs."""
    arch = no_dropout(small_mobilenet_v2())

    def job(rank: int):
        def loss(model, images, labels, step):
            if rank == 1 and step == 2:
                raise RuntimeError("out of memory on this process (simulated)")
            return torch.nn.functional.cross_entropy(model(images), labels)
        try:
            trained(arch, runtime=CPU, loss=loss)
        except Exception as err:
            distributed.fail("nos-train", err, 1)

    results = processes.run(in_job(job), tmp_path, timeout=60)
    assert [r.code for r in results] == [1, 1]
    assert results[1].stderr.splitlines() == ["nos-train: rank 1 of 2: out of memory on this process (simulated)"]
    assert results[0].stderr == ""


def kill_when(function, ready, tmp_path) -> None:
    """Run ``function`` in a forked process; SIGKILL it as soon as ``ready()`` (a checkpoint exists)."""
    (process,) = processes.start(lambda rank: function(), tmp_path, size=1)
    deadline = time.monotonic() + 60
    while not ready() and process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.is_alive(), "the training ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    assert process.exitcode == -signal.SIGKILL


def test_a_killed_training_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    path, budget = tmp_path / "checkpoint.pt", dataclasses.replace(BUDGET, steps=6)
    key = {"test": "resume", "budget": dataclasses.asdict(budget)}

    def checkpointed(**options):
        return trained(small_mobilenet_v2(), budget, runtime=CPU, checkpoint=Checkpointing(path, 3, key), **options)

    uninterrupted = trained(small_mobilenet_v2(), budget, runtime=CPU)
    kill_when(lambda: checkpointed(progress=lambda done, total: time.sleep(0.15)), path.exists, tmp_path)
    saved = torch.load(path, weights_only=True)["step"]
    assert saved == 3
    steps = []
    resumed = checkpointed(progress=lambda done, total: steps.append(done))
    assert steps == [4, 5, 6]
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    steps.clear()  # a checkpoint of other settings is set aside
    trained(small_mobilenet_v2(), budget, runtime=CPU, checkpoint=Checkpointing(path, 3, {"other": 1}),
            progress=lambda done, total: steps.append(done))
    assert steps[0] == 1


@pytest.mark.parametrize("recipe", [Recipe(), Recipe(parent=2 / 3, distill=0.5)], ids=["warm-up", "parent+distill"])
def test_a_killed_supernet_training_resumes_from_its_checkpoint(tmp_path, recipe):
    """Killed in the first phase (the warm-up path, or the parent), it resumes there and ends,
    through the second phase, with the weights of an uninterrupted training."""
    space = Supernet(_base(), OperatorChoices(kernels=(3, 5)))
    budget, cache = Budget(steps=6, batch_size=16, resolution=8, width=0.5), tmp_path / "cache"

    def train(**options):
        return train_supernet(space, "synthetic", 0, budget, cache_dir=cache, runtime=CPU, checkpoint_every=2,
                              recipe=recipe, **options)

    uninterrupted = train_supernet(space, "synthetic", 0, budget, runtime=CPU, recipe=recipe).module.state_dict()
    kill_when(lambda: train(progress=lambda done, total: time.sleep(0.15)), lambda: any(cache.glob("*.ckpt")), tmp_path)
    steps = []
    resumed = train(progress=lambda done, total: steps.append(done))
    assert steps[0] in (3, 5) and steps[-1] == 6 + recipe.parent_steps(6) and not resumed.from_cache
    assert all(torch.equal(resumed.module.state_dict()[k], uninterrupted[k]) for k in uninterrupted)
    assert not list(cache.glob("*.ckpt"))  # the finished cache file replaces the checkpoint


@pytest.mark.parametrize("options, message", [
    (dict(device="gpu"), "runtime.device: unknown device 'gpu' (allowed: auto, cpu, cuda, cuda:N, mps)"),
    (dict(precision="half"), "runtime.precision: unknown precision 'half' (allowed: auto, fp32, bf16, fp16)"),
    (dict(workers=-1), "runtime.workers: expected an integer >= 0 or null"),
    (dict(threads=0), "runtime.threads: expected an integer >= 1 or null"),
    (dict(compile="yes"), "runtime.compile: expected true or false"),
])
def test_bad_runtime_fields_are_named(options, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        Runtime(**options)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks what a machine without a GPU says")
def test_a_missing_gpu_or_fp16_on_the_cpu_is_one_line():
    with pytest.raises(ValueError, match=r"runtime.device: cuda:1 asked for, but torch .* sees no CUDA device"):
        Runtime(device="cuda:1").resolve()
    with pytest.raises(ValueError, match="runtime.precision: fp16 needs a CUDA device, got cpu"):
        Runtime(device="cpu", precision="fp16").resolve()
    setup = Runtime().resolve()
    assert (setup.device.type, setup.precision, setup.channels_last, setup.scaled) == ("cpu", "fp32", False, False)


def test_bf16_autocast_and_channels_last_run_on_the_cpu():
    """bf16 autocast changes the rounding (so the weights move away from fp32's, a little);
    channels_last changes the layout only."""
    arch = small_mobilenet_v2()
    fp32 = trained(arch, runtime=CPU)
    bf16 = trained(arch, runtime=Runtime(device="cpu", precision="bf16"))
    floats = [k for k in fp32 if fp32[k].is_floating_point()]
    difference = sum(((bf16[k] - fp32[k]) ** 2).sum().item() for k in floats)
    relative = (difference / sum((fp32[k] ** 2).sum().item() for k in floats)) ** 0.5
    assert 0 < relative < 0.1 and all(torch.isfinite(bf16[k]).all() for k in floats)  # measured: 0.025
    nhwc = trained(arch, runtime=Runtime(device="cpu", channels_last=True))
    assert_close(nhwc, fp32, atol=1e-4)
    assert nhwc["stem.0.weight"].is_contiguous(memory_format=torch.channels_last)


def test_threads_are_set_for_a_block_and_restored(monkeypatch):
    before = torch.get_num_threads()
    with threads(2):
        assert torch.get_num_threads() == 2
    with threads(None):
        assert torch.get_num_threads() == before
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert default_threads() == DEFAULT_THREADS == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    assert torch.get_num_threads() == before


def test_failure_lines():
    assert distributed.failure_line("nos-train", ValueError("budget.lr: bad\nmore")) == "nos-train: budget.lr: bad"
    os.environ.update(RANK="1", WORLD_SIZE="2")
    try:
        assert distributed.failure_line("nos-train", RuntimeError("boom")) == "nos-train: rank 1 of 2: boom"
        lost = RuntimeError("[../gloo/transport/tcp/pair.cc:553] Connection closed by peer [127.0.0.1]:8117")
        assert distributed.failure_line("nos-train", lost) is None
    finally:
        del os.environ["RANK"], os.environ["WORLD_SIZE"]
