"""The training engine on the CPU gives the numbers the loop gave before it (main at 86f2718, one
thread): validation accuracy and checksums of the final weights for fixed seeds and budgets,
for short training and for the supernet. Results measured with the old loop (the Fashion-MNIST
ground truth among them) stay valid as long as these hold. (The CPU path is pinned; on a machine
with a GPU, device=auto would train there.)"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from nos.arch import OperatorChoices
from nos.proxies import Budget, load, train_accuracy
from nos.proxies.data import FASHION_MNIST_ROOT
from nos.proxies.supernet import Supernet, train_supernet
from nos.proxies.train import evaluate, fit, materialize, measure
from nos.train import Runtime
from test_proxies import one_thread  # noqa: F401  (autouse fixture)
from test_proxies_supernet import CANDIDATES, _base, _with
from test_proxies_train import small_mobilenet_v2


CPU = Runtime(device="cpu")


def checksums(state: dict[str, torch.Tensor]) -> tuple[float, float]:
    """(sum, sum of absolute values) of every floating-point tensor of a state dict, in float64."""
    tensors = [v.double() for v in state.values() if v.is_floating_point()]
    return sum(t.sum().item() for t in tensors), sum(t.abs().sum().item() for t in tensors)


# (data, budget, seed) -> (validation accuracy, weight sum, weight |sum|), recorded at 86f2718
SHORT_TRAINING = [
    ("synthetic", Budget(steps=4, batch_size=32, resolution=8), 1,
     (0.1015625, 1672.9470578316646, 6960.206530688778)),
    ("digits", Budget(steps=30, batch_size=32, resolution=16, width=0.5, lr=0.05, schedule="constant"), 0,
     (0.5277777777777778, 860.8417725713248, 3101.3510072084136)),
    ("digits", Budget(epochs=1.5, batch_size=64, resolution=12, warmup=0.2, momentum=0.0), 3,
     (0.09722222222222222, 1645.0929017199408, 6915.3027516667535)),
]


def trained(data: str, budget: Budget, seed: int) -> torch.nn.Module:
    """What train_accuracy trains, kept to read its weights."""
    dataset = load(data, budget.resolution)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = materialize(small_mobilenet_v2(), dataset, budget.width)
        fit(model, dataset, budget, seed, runtime=CPU)
    return model


@pytest.mark.parametrize("data, budget, seed, expected", SHORT_TRAINING)
def test_short_training_keeps_its_numbers(data, budget, seed, expected):
    accuracy, total, magnitude = expected
    model = trained(data, budget, seed)
    assert evaluate(model, load(data, budget.resolution)) == accuracy
    assert checksums(model.state_dict()) == pytest.approx((total, magnitude), rel=1e-6)


def test_train_accuracy_is_that_training():
    data, budget, seed, (accuracy, _, _) = SHORT_TRAINING[0]
    assert train_accuracy(small_mobilenet_v2(), data, budget, seed, runtime=CPU) == accuracy


@pytest.mark.skipif(not Path(FASHION_MNIST_ROOT).is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_training_keeps_its_weights():
    model = trained("fashion_mnist", Budget(steps=6, batch_size=16, resolution=12, width=0.25), 2)
    assert checksums(model.state_dict()) == pytest.approx((474.2120387993063, 1409.6613836430736), rel=1e-6)


@pytest.mark.parametrize("data, seed, budget, accuracies, expected", [
    ("synthetic", 0, Budget(steps=12, batch_size=32, resolution=8, width=0.5), (50.78125, 30.46875, 30.46875),
     (4253.080783393699, 11515.3794869234)),
    ("digits", 2, Budget(steps=20, batch_size=16, resolution=8, width=0.25),
     (16.11111111111111, 17.5, 16.944444444444446), (2512.6575226652135, 6282.888323101985)),
])
def test_supernet_training_keeps_its_numbers(data, seed, budget, accuracies, expected):
    space = Supernet(_base(), OperatorChoices(kernels=(3, 5)))
    trained = train_supernet(space, data, seed=seed, budget=budget, runtime=CPU)
    assert tuple(trained.accuracy(_with(space.base, ops)) for ops in CANDIDATES) == accuracies
    assert checksums(trained.module.state_dict()) == pytest.approx(expected, rel=1e-6)


def test_checksums_see_a_changed_budget():
    """The pins are sharp: a learning rate 2 % off moves the checksums."""
    data, budget, seed, (_, *pinned) = SHORT_TRAINING[1]
    model = trained(data, dataclasses.replace(budget, lr=0.051), seed)
    assert checksums(model.state_dict()) != pytest.approx(pinned, rel=1e-6)


def test_measure_is_top1_and_mean_cross_entropy_of_the_split():
    """The engine's measure gives what a plain loop over the split computes (float64 sums)."""
    dataset = load("digits", 16)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = materialize(small_mobilenet_v2(), dataset, 0.5).eval()
    for split, count in (("val", None), ("train", 300)):
        total = dataset.size(split) if count is None else count
        correct, loss = 0, 0.0
        with torch.no_grad():
            for start in range(0, total, 256):
                index = slice(start, min(start + 256, total))
                logits, labels = model(dataset.images(split, index)), dataset.labels(split, index)
                correct += (logits.argmax(1) == labels).sum().item()
                loss += torch.nn.functional.cross_entropy(logits, labels, reduction="sum").item()
        assert measure(model, dataset, split, count) == (correct / total, loss / total)
