"""Zero-cost scores, ensemble and data sets of nos.proxies."""
from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from nos import Arch, Block, Head, Stem, build, zoo
from nos.proxies import (DATASETS, DEFAULT, IMAGENET, NAMES, PROXIES, Score, load, make, predict, rank_ensemble,
                         score, train_accuracy)
from nos.proxies.proxy import guard_rails
from nos.proxies.scores import naswot

RES = 16  # small inputs keep the suite fast; the tiny net still has 2x2 maps at the end


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny nets gain nothing from a second thread and lose much on a busy, shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny() -> Arch:
    """Every operator and activation kind in five blocks."""
    blocks = (Block("dw", 3, 1, 8, 8, "relu6", expand=False), Block("fuse_half", 3, 2, 24, 16, "relu"),
              Block("fuse_full", 5, 1, 32, 16, "hswish", se=0.25), Block("full", 3, 2, 32, 24, "relu6"),
              Block("dw", 3, 1, 48, 24, "relu6"))
    return Arch("tiny", Stem(8, 3, 2, "relu6"), blocks, Head(64, 0, "relu6", 0.2), input_size=224)


@pytest.mark.parametrize("name", NAMES)
def test_score_is_finite_and_reproducible(tiny, name):
    options = dict(data="synthetic", resolution=RES, batch_size=16)
    first = score(tiny, name, seed=3, **options)
    score(tiny, NAMES[0], seed=4, **options)  # an interleaved call must not change the next one
    assert math.isfinite(first)
    assert score(tiny, name, seed=3, **options) == first


def test_seed_changes_the_initialisation(tiny):
    values = {score(tiny, "snip", data="synthetic", seed=s, resolution=RES, batch_size=16) for s in range(3)}
    assert len(values) == 3


def test_default_is_a_valid_name():
    assert DEFAULT in NAMES and "params" in NAMES and "flops" in NAMES


def test_params_and_flops_match_the_arch_arithmetic(tiny):
    ten = dataclasses.replace(tiny, num_classes=10)
    assert score(tiny, "params", data="synthetic") == ten.params()
    assert score(tiny, "flops", data="synthetic", resolution=RES) == ten.macs(RES)
    assert score(tiny, "flops", data=load("synthetic", resolution=8)) == ten.macs(8)  # a Dataset keeps its own
    assert tiny.input_size == 224  # scoring never changes the deployment resolution


def test_shape_scores_of_an_arch_equal_counting_the_built_module(tiny):
    """params/flops of an Arch come from shape arithmetic; counting the built module agrees."""
    module = build(dataclasses.replace(tiny, num_classes=10))
    for name, resolution in (("params", 32), ("flops", RES), ("flops", 9)):
        assert score(tiny, name, data="synthetic", resolution=resolution) == \
            score(module, name, data="synthetic", resolution=resolution), name


def test_a_module_is_scored_on_a_copy(tiny):
    torch.manual_seed(0)
    model = build(tiny, num_classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng_state = torch.get_rng_state()
    for name in NAMES:
        if name != IMAGENET:  # predicted from an Arch only
            score(model, name, data="synthetic", resolution=RES, batch_size=16)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng_state)


def test_synflow_is_data_free(tiny):
    torch.manual_seed(0)
    model = build(tiny, num_classes=10)
    values = {score(model, "synflow", data=data, seed=seed, resolution=RES, batch_size=8)
              for data in ("digits", "synthetic") for seed in (0, 1)}
    assert len(values) == 1


def test_synflow_computes_relu6_as_relu(tiny):
    """With positive weights every ReLU6 would saturate at 6 and hide the network's size."""
    relu = dataclasses.replace(tiny, stem=dataclasses.replace(tiny.stem, act="relu"),
                               blocks=tuple(dataclasses.replace(b, act="relu") if b.act == "relu6" else b
                                            for b in tiny.blocks),
                               head=dataclasses.replace(tiny.head, act="relu"))
    value = score(tiny, "synflow", data="synthetic", resolution=RES)
    assert score(relu, "synflow", data="synthetic", resolution=RES) == value
    assert score(tiny, "synflow", data="synthetic", resolution=2 * RES) > value  # more positions, more flow


def test_naswot_kernel_on_hand_made_codes():
    # two images, three units: codes 101 and 110 agree on 1 unit -> K = [[3, 1], [1, 3]], det 8
    x = torch.tensor([[1.0, -1.0, 1.0], [1.0, 1.0, -1.0]]).reshape(2, 3, 1, 1)
    assert naswot(nn.Sequential(nn.ReLU()), x, torch.zeros(2)) == pytest.approx(math.log(8))


class _CodeNet(nn.Module):
    """1x1 conv -> ReLU -> pool -> linear; ``shift`` pushes half the units always-on."""

    def __init__(self, shift: float):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 16, 1)
        with torch.no_grad():
            self.conv.bias.zero_()
            self.conv.bias[:8] = shift
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


def test_naswot_grows_when_codes_become_more_distinct():
    constant_half = score(_CodeNet(shift=100.0), "naswot", data="synthetic", resolution=4, batch_size=32)
    distinct = score(_CodeNet(shift=0.0), "naswot", data="synthetic", resolution=4, batch_size=32)
    assert distinct > constant_half


def test_rank_ensemble_is_the_mean_rank():
    scores = {"a": [0.1, 0.5, 0.5, 0.2], "b": [4.0, 3.0, 2.0, 1.0]}
    # ranks a: 1, 3.5, 3.5, 2 (tie shares 3 and 4); b: 4, 3, 2, 1
    np.testing.assert_allclose(rank_ensemble(scores), [2.5, 3.25, 2.75, 1.5])


def test_rank_ensemble_rejects_bad_input():
    with pytest.raises(ValueError, match="same non-empty population"):
        rank_ensemble({"a": [1.0, 2.0], "b": [1.0]})
    with pytest.raises(ValueError, match="NaN"):
        rank_ensemble({"a": [1.0, float("nan")]})
    with pytest.raises(ValueError, match="at least one"):
        rank_ensemble({})


def test_a_score_proxy_values_a_batch_as_score_does_and_feeds_the_ensemble(tiny):
    wide = dataclasses.replace(tiny, blocks=tiny.blocks[:-1] + (dataclasses.replace(tiny.blocks[-1], exp=96),))
    proxy = make("params", data="synthetic")
    values = proxy.score([tiny, wide])
    assert values == [Score(score(tiny, "params", data="synthetic"), None), Score(score(wide, "params", data="synthetic"), None)]
    assert (proxy.name, proxy.unit, proxy.label) == ("params", "parameters", "parameters (network with a synthetic classifier)")
    np.testing.assert_allclose(rank_ensemble({"params": [v.value for v in values]}), [1.0, 2.0])
    assert proxy.warnings == []


def test_the_imagenet_proxy_carries_the_predictors_std_and_says_when_it_leaves_the_evidence():
    proxy = make(IMAGENET)
    inside = zoo.get("mobilenet_v2", "fuse_half")
    big = dataclasses.replace(inside, input_size=1024)
    assert proxy.score([inside]) == [Score(*predict(inside))] and proxy.warnings == [] and proxy.unit == "%"
    proxy.score([big, big])
    (line,) = proxy.warnings
    assert line.startswith("imagenet: 2 candidate(s) outside the published evidence (") and "input 1024 px" in line


def test_make_refuses_what_a_proxy_cannot_take():
    assert set(PROXIES) == {*NAMES, "train", "supernet", "supernet_loss"}
    with pytest.raises(ValueError, match=r"^name: unknown proxy 'acc' \(allowed: naswot, .*, train, supernet, supernet_loss\)"):
        make("acc")
    with pytest.raises(ValueError, match="^budget: only the 'train', 'supernet', 'supernet_loss' proxies take a training budget"):
        make("params", budget={"epochs": 1})
    with pytest.raises(ValueError, match=r"^budget: unknown field\(s\) epoch "):
        make("train", budget={"epoch": 1})
    with pytest.raises(ValueError, match="^supernet: the 'supernet' proxy needs the search space's Supernet"):
        make("supernet")


def test_guard_rails_name_accuracy_near_chance_and_a_validation_set_too_small():
    synthetic = load("synthetic")  # 10 classes, 128 validation images
    (near,) = guard_rails([10.0, 14.0, 30.0], synthetic, 100.0, "supernet")  # spread 10.6 > SE 2.9 points
    assert near.startswith("supernet: validation accuracy near chance: median 14.0 % over 3 candidate(s), chance 10.0 %")
    (small,) = guard_rails([0.80, 0.81, 0.805, 0.80], synthetic, 1.0, "train")
    se = 100 * math.sqrt(0.8025 * 0.1975 / 128)
    assert small == (f"train: validation set too small to separate the candidates: binomial standard error {se:.2f} "
                     f"points (128 images) above the spread of the 4 scores (standard deviation 0.48 points)")
    assert guard_rails([60.0, 75.0, 90.0], synthetic, 100.0, "supernet") == []
    assert guard_rails([0.85], synthetic, 1.0, "train") == []  # one candidate has no spread to judge
    # a proxy that ranks by something else (supernet_loss) is only watched for accuracy near chance
    assert guard_rails([0.80, 0.81, 0.805, 0.80], synthetic, 1.0, "supernet_loss", separation=False) == []
    assert guard_rails([10.0, 14.0, 30.0], synthetic, 100.0, "supernet_loss", separation=False)[0].startswith(
        "supernet_loss: validation accuracy near chance")


def test_the_training_proxy_gives_the_binomial_error_of_its_validation_split_and_its_warnings(tiny):
    proxy = make("train", data="synthetic", seed=1, budget={"steps": 1, "batch_size": 8, "resolution": 8})
    (value,) = proxy.score([tiny])
    budget = {"steps": 1, "batch_size": 8, "resolution": 8}
    assert value.value == train_accuracy(tiny, "synthetic", budget, seed=1)
    assert value.std == pytest.approx(math.sqrt(value.value * (1 - value.value) / 128))
    assert proxy.warnings == guard_rails([value.value], load("synthetic"), 1.0, "train")


def test_unknown_names_list_the_valid_ones(tiny):
    with pytest.raises(ValueError, match="unknown proxy 'nope'.*naswot.*synflow.*zen.*params.*flops"):
        score(tiny, "nope")
    with pytest.raises(ValueError, match="unknown data set 'mnist'.*digits, synthetic, fashion_mnist, idx, cifar10"):
        score(tiny, "params", data="mnist")
    with pytest.raises(ValueError, match="batch_size"):
        score(tiny, "snip", data="synthetic", batch_size=0)
    with pytest.raises(ValueError, match="resolution"):
        score(tiny, "snip", data="synthetic", resolution=0)
    with pytest.raises(TypeError, match="model_or_arch"):
        score("mobilenet", "snip", data="synthetic")


def test_channel_mismatch_is_reported(tiny):
    with pytest.raises(ValueError, match="in_channels.*1 channels.*has 3"):
        score(dataclasses.replace(tiny, in_channels=1), "params", data="synthetic")


def test_scores_say_what_a_module_lacks():
    with pytest.raises(ValueError, match="zen.*AdaptiveAvgPool2d"):
        score(nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10)), "zen", data="synthetic", resolution=4)
    with pytest.raises(ValueError, match="naswot.*no ReLU"):
        score(nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10)), "naswot", data="synthetic", resolution=4)


# ------------------------------------------------------------------------------ data sets
def test_digits_split_and_resolution():
    digits = load("digits", resolution=32)
    assert (digits.size("train"), digits.size("val"), digits.num_classes) == (1437, 360, 10)
    x, y = digits.sample(8, seed=1)
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(digits.sample(8, seed=1)[0], x)
    assert load("digits", resolution=16).images("val", slice(0, 2)).shape == (2, 3, 16, 16)
    everything = digits.images("train", slice(None))
    assert abs(everything.mean().item()) < 0.05  # normalised with the training statistics
    assert set(torch.bincount(digits.labels("val", slice(None))).tolist()) <= {35, 36, 37}  # stratified


def _write_cifar(folder, n=4, corrupt=None):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, size=n)]}
        with open(folder / name, "wb") as f:
            if name == corrupt:
                f.write(b"not a pickle")
            else:
                pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"c%d" % i for i in range(10)]}, f)
    return folder


def test_cifar10_loads_the_pickle_layout(tmp_path):
    folder = _write_cifar(tmp_path / "cifar-10-batches-py")
    data = load("cifar10", root=str(tmp_path))  # the parent folder works as well
    assert (data.size("train"), data.size("val"), data.num_classes) == (20, 4, 10)
    with open(folder / "test_batch", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    first = torch.from_numpy(raw[b"data"][0].reshape(3, 32, 32)).float()
    expected = (first - data.mean[:, None, None]) / data.std[:, None, None]
    torch.testing.assert_close(data.images("val", slice(0, 1))[0], expected)
    assert data.labels("val", slice(None)).tolist() == raw[b"labels"]
    assert math.isfinite(score(build(Arch("t", Stem(8), (Block("dw", 3, 1, 8, 8, "relu", expand=False),), Head(16)),
                                     num_classes=10), "naswot", data=data, batch_size=8))


def test_cifar10_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="root: data=.cifar10. needs root="):
        load("cifar10")
    with pytest.raises(ValueError, match="does not exist"):
        load("cifar10", root=str(tmp_path / "missing"))
    partial = tmp_path / "partial"
    partial.mkdir()
    with pytest.raises(ValueError, match="lacks data_batch_1.*test_batch"):
        load("cifar10", root=str(partial))
    with pytest.raises(ValueError, match="data_batch_3 is not a CIFAR-10 python pickle"):
        load("cifar10", root=str(_write_cifar(tmp_path / "corrupt", corrupt="data_batch_3")))


def test_every_named_data_set_loads_or_asks_for_its_folder():
    for name in DATASETS:
        try:
            data = load(name)
        except ValueError as err:  # no default location (or the Debian package is missing)
            assert str(err).startswith("root: ") and name in str(err)
        else:
            assert data.name == name and data.channels == 3 and data.num_classes >= 2


def test_hold_out_cuts_the_training_split_and_drops_the_validation_split():
    digits = load("digits")
    held = digits.hold_out(100, seed=3)
    assert (held.size("train"), held.size("val")) == (1337, 100) and held.name == "digits/holdout100"
    pooled = torch.cat([held.train_x, held.val_x]).flatten(1)
    assert sorted(map(tuple, pooled.tolist())) == sorted(map(tuple, digits.train_x.flatten(1).tolist()))
    per_class = torch.bincount(held.val_y, minlength=10).double()
    expected = 100 * torch.bincount(digits.train_y, minlength=10).double() / 1437
    assert ((per_class - expected).abs() < 1).all()  # each class in proportion
    assert torch.equal(held.mean, digits.mean)  # normalised as before
    assert not torch.equal(digits.hold_out(100, seed=4).val_y, held.val_y) or \
        not torch.equal(digits.hold_out(100, seed=4).val_x, held.val_x)
    for bad in (0, 1437, 2.5):
        with pytest.raises(ValueError, match=r"^holdout: expected an integer in \[1, 1436\]"):
            digits.hold_out(bad)


def test_a_data_set_with_a_proxy_holdout_is_scored_on_held_out_training_images(tiny, monkeypatch):
    from nos.proxies import data as data_module

    monkeypatch.setitem(data_module.PROXY_HOLDOUT, "synthetic", 64)
    budget = {"steps": 1, "batch_size": 8, "resolution": 8}
    proxy = make("train", data="synthetic", budget=budget)
    (value,) = proxy.score([tiny])
    assert value.value == train_accuracy(tiny, load("synthetic", 8).hold_out(64), budget, seed=0)
    assert value.std == pytest.approx(math.sqrt(value.value * (1 - value.value) / 64))
    assert proxy.label == "synthetic held-out (64 training images) accuracy after short training (fraction)"
