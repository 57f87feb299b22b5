"""Weight-sharing supernet (nos.proxies.supernet): space, training, inherited accuracy, cache."""
from __future__ import annotations

import dataclasses
import shutil
import threading

import pytest
import torch

from nos import Arch, Block, Head, Stem, build
from nos.arch import OperatorChoices
from nos.proxies import Budget, load
from nos.proxies import data as data_module
from nos.proxies import supernet as supernet_module
from nos.proxies.supernet import CALIBRATION_BATCH, Recipe, Supernet, default_recipe, train_supernet
from test_proxies import one_thread  # noqa: F401  (autouse fixture)

BUDGET = Budget(steps=12, batch_size=32, resolution=8, width=0.5)


def _base() -> Arch:
    blocks = (Block("dw", 3, 1, 16, 16, "relu6", expand=False), Block("dw", 3, 2, 48, 24, "relu"),
              Block("dw", 3, 1, 72, 24, "hswish", se=0.25), Block("dw", 3, 2, 72, 32, "relu6"))
    return Arch("tiny", Stem(16, 3, 2, "relu6"), blocks, Head(64, 0, "relu6", 0.2))


def _with(base: Arch, ops, kernels=None) -> Arch:
    kernels = kernels or [b.kernel for b in base.blocks]
    return dataclasses.replace(base, blocks=tuple(dataclasses.replace(b, op=o, kernel=k)
                                                  for b, o, k in zip(base.blocks, ops, kernels)))


@pytest.fixture(scope="module")
def space() -> Supernet:
    return Supernet(_base(), OperatorChoices(kernels=(3, 5)))


@pytest.fixture(scope="module")
def trained(space) -> Supernet:
    return train_supernet(space, "synthetic", seed=0, budget=BUDGET)


CANDIDATES = [("dw", "full", "fuse_half", "fuse_full"), ("full",) * 4, ("fuse_full", "dw", "dw", "fuse_half")]


def test_space_choices_follow_the_base():
    base = dataclasses.replace(_base(), blocks=_base().blocks[:1] + (Block("dw", 3, 2, 45, 24, "relu"),)
                               + _base().blocks[2:])
    space = Supernet(base, OperatorChoices(ops=("dw", "fuse_half"), kernels=(3, 5), expansions=(3, 6)))
    # block 0 has no expansion conv: 2 ops x 2 kernels; the others: 2 ops x 2 kernels x 2 widths
    assert [len(c) for c in space.options] == [4, 8, 8, 8]
    assert {b.exp for b in space.options[1]} == {48, 96}  # 16 * (3, 6): the base's odd 45 is not a choice
    assert {b.exp for b in space.options[0]} == {16}
    assert space.size == 4 * 8 * 8 * 8


def test_fuse_half_needs_even_widths():
    space = Supernet(_base(), OperatorChoices(ops=("dw", "fuse_half"), expansions=(1.5, 3)))  # block 1: 16*1.5 = 24, 16*3 = 48
    assert {b.op for b in space.options[1]} == {"dw", "fuse_half"}
    odd = Supernet(_base(), OperatorChoices(ops=("dw", "fuse_half"), expansions=(1.5625, 3)))  # 16 * 1.5625 = 25
    assert {b.op for b in odd.options[1]} == {"dw"}
    assert {b.op for b in odd.options[0]} == {"dw", "fuse_half"}  # no expansion conv: exp = 16


def test_candidates_outside_the_space_are_named(space):
    base = space.base
    with pytest.raises(ValueError, match=r"arch.blocks\[2\].kernel: 7 is not a choice.*allowed: 3, 5"):
        space.path(_with(base, ["dw"] * 4, [3, 3, 7, 3]))
    with pytest.raises(ValueError, match=r"arch.blocks\[1\].stride: 1 is not a choice.*allowed: 2"):
        space.path(dataclasses.replace(base, blocks=(base.blocks[0], dataclasses.replace(base.blocks[1], stride=1))
                                       + base.blocks[2:]))
    with pytest.raises(ValueError, match=r"arch.blocks\[3\].exp: 80 is not a choice.*allowed: 72"):
        space.path(dataclasses.replace(base, blocks=base.blocks[:3] + (dataclasses.replace(base.blocks[3], exp=80),)))
    with pytest.raises(ValueError, match=r"arch.blocks\[0\].op: 'full' is not a choice.*allowed: dw, fuse_half"):
        Supernet(base, OperatorChoices(ops=("dw", "fuse_half"))).path(_with(base, ["full", "dw", "dw", "dw"]))
    with pytest.raises(ValueError, match="arch.blocks: 3 blocks, the supernet has 4"):
        space.path(dataclasses.replace(base, blocks=base.blocks[:3]))
    with pytest.raises(ValueError, match="arch.stem: .* differs"):
        space.path(dataclasses.replace(base, stem=Stem(16, 3, 1, "relu6")))
    space.path(dataclasses.replace(base, name="other", input_size=224, num_classes=1000))  # deployment fields


def test_bad_space_arguments_are_named():
    with pytest.raises(ValueError, match="ops: expected distinct operators"):
        Supernet(_base(), OperatorChoices(ops=("dw", "conv")))
    with pytest.raises(ValueError, match="kernels.kernel: must be odd"):
        Supernet(_base(), OperatorChoices(kernels=(4,)))
    with pytest.raises(ValueError, match="expansions: expected positive ratios"):
        Supernet(_base(), OperatorChoices(expansions=(0,)))
    with pytest.raises(TypeError, match="base: expected a nos.Arch"):
        Supernet("mobilenet_v2")


def test_untrained_supernet_refuses_to_score(space):
    with pytest.raises(RuntimeError, match="not trained"):
        space.accuracy(space.base)


def test_accuracy_is_deterministic_and_order_free(space, trained):
    archs = [_with(space.base, ops) for ops in CANDIDATES]
    first = [trained.accuracy(a) for a in archs]
    assert all(0 <= a <= 100 for a in first) and len(set(first)) > 1
    assert [trained.accuracy(a) for a in reversed(archs)] == first[::-1]
    again = train_supernet(space, "synthetic", seed=0, budget=BUDGET)
    assert [again.accuracy(a) for a in archs] == first
    assert not space.trained and trained.trained


def test_training_learns():
    """The shared weights serve both operators: each single-operator network classifies the
    synthetic prototypes far above the 10 % of chance (stand-alone training of either
    reaches 100 % on this budget)."""
    space = Supernet(_base(), OperatorChoices(ops=("dw", "full")))
    supernet = train_supernet(space, "synthetic", seed=0, budget=Budget(epochs=6, resolution=8))
    for op in ("dw", "full"):
        assert supernet.accuracy(_with(space.base, [op] * 4)) > 50


def _moved(space: Supernet, supernet: Supernet) -> list[bool]:
    """Per candidate block: do its weights differ from the initialisation (seed 0)?"""
    torch.manual_seed(0)  # train_supernet initialises under torch.manual_seed(seed)
    initial = space._build(load("synthetic", BUDGET.resolution), BUDGET)
    return [any(not torch.equal(p, q) for p, q in zip(before[key].parameters(), after[key].parameters()))
            for before, after in zip(initial.blocks, supernet.module.blocks) for key in before]


def test_every_candidate_is_trained(space, monkeypatch):
    """After the first-path warm-up, uniform sampling reaches all 8 candidates of every block
    in 64 steps (a given one is missed with probability (7/8)^45 = 0.2 %); during the warm-up
    only the first path (dw, kernel 3) moves."""
    supernet = train_supernet(space, "synthetic", seed=0, budget=dataclasses.replace(BUDGET, steps=64, batch_size=8))
    assert all(_moved(space, supernet))
    monkeypatch.setattr(supernet_module, "WARMUP_FRACTION", 1.0)
    warm_only = train_supernet(space, "synthetic", seed=0, budget=dataclasses.replace(BUDGET, steps=3))
    moved = _moved(space, warm_only)
    firsts = [key == next(iter(block)) for block in warm_only.module.blocks for key in block]
    assert moved == firsts  # the first candidate of each block, nothing else


def test_aligned_candidates_start_from_the_first_ones_function():
    """_align: dw of another kernel size and full (the kernel on its diagonal) compute exactly
    the first candidate's function; the FuSe candidates (its middle row and column) a
    correlated one."""
    supernet = Supernet(_base(), OperatorChoices(ops=("dw", "full", "fuse_half", "fuse_full"), kernels=(3, 5)))
    torch.manual_seed(0)
    net = supernet._build(load("synthetic", 8), BUDGET).eval()
    for candidates in net.blocks:
        supernet_module._align(candidates)
    x = torch.randn(8, 3, 8, 8)

    def output(ops, kernel):
        net.blocks.path = supernet.path(_with(supernet.base, [ops] * 4, [kernel] * 4))
        return net(x)

    first = output("dw", 3)
    for op, kernel in (("dw", 5), ("full", 3), ("full", 5)):
        torch.testing.assert_close(output(op, kernel), first, rtol=1e-4, atol=1e-6)
    for op in ("fuse_half", "fuse_full"):
        other = output(op, 3)
        assert not torch.allclose(other, first)
        assert torch.corrcoef(torch.stack([other.flatten(), first.flatten()]))[0, 1] > 0.5


def test_inherited_weights_are_the_stand_alone_network(space, trained):
    """A candidate's accuracy equals that of the stand-alone network (built from the scaled
    arch) given the candidate's weights and BatchNorm statistics from the same images."""
    arch = _with(space.base, CANDIDATES[2], [5, 3, 5, 3])
    accuracy = trained.accuracy(arch)
    path = space.path(arch)
    net = build(arch.scaled(BUDGET.width), num_classes=10)
    state = {}
    for name, value in trained.module.state_dict().items():
        parts = name.split(".")
        if parts[0] != "blocks":
            state[name] = value
        elif parts[2] == path[int(parts[1])]:
            state[".".join(parts[:2] + parts[3:])] = value
    net.load_state_dict(state)  # strict: every stand-alone weight has exactly one source
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    data = load("synthetic", BUDGET.resolution)
    net.train()
    net.dropout.eval()
    with torch.no_grad():
        for start in range(0, len(trained.calibration), CALIBRATION_BATCH):
            net(data.images("train", trained.calibration[start:start + CALIBRATION_BATCH]))
        net.eval()
        correct = (net(data.images("val", slice(None))).argmax(1) == data.labels("val", slice(None))).sum().item()
    assert accuracy == pytest.approx(100 * correct / data.size("val"), abs=1e-9)


def test_cache_is_reused_and_keyed(space, tmp_path):
    steps = []
    first = train_supernet(space, "synthetic", 0, BUDGET, cache_dir=tmp_path, progress=lambda s, n: steps.append((s, n)))
    total = BUDGET.total_steps(load("synthetic").size("train"))
    assert steps == [(s, total) for s in range(1, total + 1)] and not first.from_cache
    steps.clear()
    second = train_supernet(space, "synthetic", 0, BUDGET, cache_dir=tmp_path, progress=lambda s, n: steps.append(s))
    assert second.from_cache and steps == []
    arch = _with(space.base, CANDIDATES[0])
    assert second.accuracy(arch) == first.accuracy(arch)
    other_seed = train_supernet(space, "synthetic", 1, dataclasses.replace(BUDGET, steps=1), cache_dir=tmp_path)
    assert not other_seed.from_cache
    assert len(list(tmp_path.glob("*.pt"))) == 2


def test_a_parent_recipe_trains_the_parent_first_then_every_path_distilled_from_it(space, tmp_path):
    """Recipe(parent=1/3): 4 steps of the parent, then the budget's 12 sampled steps (one
    progress count); distillation changes what they learn; the recipe keys the cache."""
    steps = []
    plain = train_supernet(space, "synthetic", 0, BUDGET, cache_dir=tmp_path, recipe=Recipe(parent=1 / 3),
                           progress=lambda done, total: steps.append((done, total)))
    assert steps == [(s, 4 + 12) for s in range(1, 17)]
    distilled = train_supernet(space, "synthetic", 0, BUDGET, cache_dir=tmp_path,
                               recipe=Recipe(parent=1 / 3, distill=0.5))
    assert not distilled.from_cache and len(list(tmp_path.glob("*.pt"))) == 2
    again = train_supernet(space, "synthetic", 0, BUDGET, cache_dir=tmp_path, recipe=Recipe(parent=1 / 3, distill=0.5))
    assert again.from_cache
    arch = _with(space.base, CANDIDATES[2])
    assert again.accuracy(arch) == distilled.accuracy(arch) != plain.accuracy(arch)
    assert default_recipe("fashion_mnist").parent_steps(6000) == 1500 and default_recipe("digits") == Recipe()


@pytest.mark.parametrize("fields, message", [
    (dict(parent=-1), r"parent: expected a fraction of the budget's steps in \[0, 10\]"),
    (dict(distill=0.5), r"distill: expected a weight in \[0, 1\), and a parent to distil from"),
    (dict(parent=0.5, distill=1.0), "distill: expected a weight in"),
    (dict(parent=0.5, temperature=0), "temperature: expected a positive number"),
])
def test_bad_recipes_are_named(fields, message):
    with pytest.raises(ValueError, match=message):
        Recipe(**fields)


def _cache_file(folder):
    (path,) = folder.glob("*.pt")
    return path


def test_a_cache_from_another_space_or_data_set_is_refused(space, tmp_path):
    small = Supernet(space.base, OperatorChoices(ops=("dw", "full"), kernels=(3, 5)))
    budget = dataclasses.replace(BUDGET, steps=2)
    train_supernet(small, "synthetic", 0, budget, cache_dir=tmp_path / "a")
    train_supernet(space, "synthetic", 0, budget, cache_dir=tmp_path / "b")
    shutil.copy(_cache_file(tmp_path / "a"), _cache_file(tmp_path / "b"))  # a file under the wrong name
    with pytest.raises(ValueError, match=r"holds a supernet for another space.ops \(stored \['dw', 'full'\]"):
        train_supernet(space, "synthetic", 0, budget, cache_dir=tmp_path / "b")
    train_supernet(space, load("synthetic").resplit(0.5), 0, budget, cache_dir=tmp_path / "c")
    shutil.copy(_cache_file(tmp_path / "c"), _cache_file(tmp_path / "b"))
    with pytest.raises(ValueError, match="holds a supernet for another data.fingerprint"):
        train_supernet(space, "synthetic", 0, budget, cache_dir=tmp_path / "b")
    _cache_file(tmp_path / "b").write_bytes(b"truncated")
    with pytest.raises(ValueError, match="is not a readable supernet checkpoint.*delete it"):
        train_supernet(space, "synthetic", 0, budget, cache_dir=tmp_path / "b")


def test_concurrent_workers_train_once(space, tmp_path):
    budget = dataclasses.replace(BUDGET, steps=4)
    results = [None, None]

    def worker(i):
        results[i] = train_supernet(space, "synthetic", 0, budget, cache_dir=tmp_path)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.from_cache for r in results) == [False, True]
    arch = _with(space.base, CANDIDATES[1])
    assert results[0].accuracy(arch) == results[1].accuracy(arch)
    assert [p.name for p in tmp_path.iterdir() if p.suffix not in (".pt", ".lock")] == []  # no temporary left


def test_bad_training_arguments_are_named(space):
    with pytest.raises(ValueError, match="seed: expected an integer"):
        train_supernet(space, "synthetic", seed="0", budget=BUDGET)
    with pytest.raises(ValueError, match="budget.epochs"):
        train_supernet(space, "synthetic", budget={"epochs": 0})
    with pytest.raises(ValueError, match="in_channels: the supernet takes 1 channels"):
        train_supernet(Supernet(dataclasses.replace(_base(), in_channels=1)), "synthetic", budget=BUDGET)
    with pytest.raises(TypeError, match="supernet: expected a Supernet"):
        train_supernet(_base(), "synthetic", budget=BUDGET)


@pytest.mark.parametrize("options", [{}, {"kernels": (3, 5), "expansions": (3, 6)}])
def test_the_supernet_holds_what_the_search_space_samples(options):
    """Built from a BackboneSpace's parts, the supernet has the same choices per block and
    holds every architecture the space samples (this is how the search will build it)."""
    import numpy as np

    from search_spaces import get_space

    space = get_space("mobilenet_v2", **options)
    supernet = Supernet(space.base, space.operator_choices)
    assert supernet.size == space.size
    ops = [c.options for c in space.choices if c.name.endswith(".op")]
    assert [tuple(dict.fromkeys(b.op for b in blocks)) for blocks in supernet.options] == ops
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = space.to_arch(space.sample(rng))
        assert [key.split("_k")[0] for key in supernet.path(arch)] == [b.op for b in arch.blocks]


def test_score_reads_any_arch_of_a_space_from_one_cached_supernet(monkeypatch, tmp_path):
    """nos.proxies.score(arch, "supernet", data, seed): the supernet of the arch's operator space,
    trained on first use into the default cache, read from it afterwards; one space, one entry."""
    from nos.proxies import score
    from nos.proxies import proxy as proxy_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setitem(supernet_module.BUDGETS, "synthetic", BUDGET)
    monkeypatch.setitem(data_module.PROXY_HOLDOUT, "synthetic", 64)
    monkeypatch.setattr(proxy_module, "_SUPERNETS", {})
    a, b = _with(_base(), ["full", "dw", "fuse_half", "dw"]), _with(_base(), ["dw"] * 4)
    value = score(a, "supernet", data="synthetic", seed=2)
    (cached,) = (tmp_path / "nos" / "supernets").glob("*.pt")
    alone = train_supernet(Supernet.around(b), load("synthetic", BUDGET.resolution).hold_out(64), 2, BUDGET,
                           cache_dir=tmp_path / "nos" / "supernets")
    assert alone.from_cache and value == alone.accuracy(a) and alone.dataset.size("val") == 64
    assert score(b, "supernet", data="synthetic", seed=2) == alone.accuracy(b)
    assert score(a, "supernet_loss", data="synthetic", seed=2) == -alone.validation(a)[1]  # the same supernet
    assert list((tmp_path / "nos" / "supernets").glob("*.pt")) == [cached]
    with pytest.raises(ValueError, match="the supernet proxy reads a nos.Arch, got Network"):
        score(build(_base(), num_classes=10), "supernet", data="synthetic")
