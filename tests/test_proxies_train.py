"""Short-training proxy of nos.proxies: accuracy, determinism, budgets, successive halving."""
from __future__ import annotations

import pytest
import torch

from nos import Arch, Block, Head, Stem, build
from nos.proxies import Budget, successive_halving, train_accuracy
from test_proxies import one_thread  # noqa: F401  (autouse fixture)

TINY_BUDGET = Budget(steps=4, batch_size=32, resolution=8)


def small_mobilenet_v2() -> Arch:
    """A five-block MobileNetV2-style net (62 k parameters) mixing all four operators."""
    blocks = (Block("dw", 3, 1, 16, 16, "relu6", expand=False), Block("dw", 3, 2, 48, 24, "relu6"),
              Block("fuse_half", 3, 1, 72, 24, "relu6"), Block("fuse_full", 3, 2, 72, 32, "relu6"),
              Block("full", 3, 1, 64, 32, "relu6"))
    return Arch("small_v2", Stem(16, 3, 2, "relu6"), blocks, Head(128, 0, "relu6", 0.2), num_classes=1000)


def test_default_budget_reaches_90_percent_on_digits():
    accuracy = train_accuracy(small_mobilenet_v2(), "digits")
    assert 0.9 <= accuracy <= 1.0


def test_training_is_deterministic_and_leaves_a_module_alone():
    arch = small_mobilenet_v2()
    first = train_accuracy(arch, "synthetic", TINY_BUDGET, seed=1)
    assert train_accuracy(arch, "synthetic", TINY_BUDGET, seed=1) == first
    torch.manual_seed(0)
    model = build(arch, num_classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    accuracy = train_accuracy(model, "synthetic", TINY_BUDGET)
    assert 0 <= accuracy <= 1
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_budget_arithmetic():
    assert Budget(epochs=2, batch_size=64).total_steps(1437) == 45  # ceil(2 * 1437 / 64)
    assert Budget(steps=7).total_steps(1437) == 7
    assert Budget(epochs=3).times(1 / 3).epochs == pytest.approx(1)
    assert Budget(steps=9).times(1 / 3).steps == 3


@pytest.mark.parametrize("field, value", [("epochs", 0), ("lr", -1.0), ("batch_size", 0), ("steps", 0),
                                          ("resolution", 2.5), ("warmup", 1.0), ("momentum", -0.1),
                                          ("schedule", "step"), ("width", 0)])
def test_bad_budget_fields_are_named(field, value):
    with pytest.raises(ValueError, match=f"budget.{field}"):
        Budget(**{field: value})


def test_budget_from_a_mapping():
    assert train_accuracy(small_mobilenet_v2(), "synthetic", {"steps": 2, "resolution": 8}) >= 0
    with pytest.raises(ValueError, match="unknown field.*epoch.*allowed"):
        train_accuracy(small_mobilenet_v2(), "synthetic", {"epoch": 2})


def test_width_applies_to_an_arch_only():
    with pytest.raises(ValueError, match="width: only an Arch"):
        train_accuracy(build(small_mobilenet_v2(), num_classes=10), "synthetic", Budget(steps=1, width=0.5))


def test_unknown_data_set_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown data set 'imagenet'.*digits, synthetic, fashion_mnist, idx, cifar10"):
        train_accuracy(small_mobilenet_v2(), "imagenet", TINY_BUDGET)


def test_successive_halving_promotes_the_best():
    base = small_mobilenet_v2()
    candidates = [base, base.scaled(0.5), base.scaled(2.0), base.scaled(0.25)]
    budget = Budget(steps=9, batch_size=32, resolution=8)
    results = successive_halving(candidates, "synthetic", budget, eta=3, rungs=2)
    assert [r.index for r in results] == [0, 1, 2, 3]
    rung0 = [train_accuracy(c, "synthetic", Budget(steps=3, batch_size=32, resolution=8)) for c in candidates]
    promoted = sorted(range(4), key=lambda i: -rung0[i])[:2]  # ceil(4 / 3) = 2 go on
    assert {r.index for r in results if r.rung == 1} == set(promoted)
    for r in results:
        assert r.budget.steps == (9 if r.rung == 1 else 3)
        if r.rung == 0:
            assert r.accuracy == rung0[r.index]
    with pytest.raises(ValueError, match="eta"):
        successive_halving(candidates, "synthetic", budget, eta=1)
