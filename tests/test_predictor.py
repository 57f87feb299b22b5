"""The ImageNet accuracy predictor: features, fitting, operator effects and the shipped model."""
from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from nos import Arch, Block, Head, Stem, build, zoo
from nos.proxies import IMAGENET, evidence, score
from nos.proxies.predictor import FEATURES, Prediction, Predictor, default, difference, features, predict
from search_spaces import get_space

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
from accuracy_predictor import evidence_ranges, fit_size_model, transfer_effects  # noqa: E402  (the fitting code)


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@pytest.fixture(scope="module")
def four_blocks() -> Arch:
    """Two full and two dw blocks; one 5x5, one SE, one hard-swish, one identity shortcut."""
    blocks = (Block("full", 3, 2, 16, 16, "relu", expand=False, skip=False),
              Block("dw", 5, 1, 48, 16, "relu"),
              Block("full", 3, 2, 48, 24, "hswish", se=0.25),
              Block("dw", 3, 2, 72, 32, "relu6"))
    return Arch("four", Stem(16, 3, 2, "relu6"), blocks, Head(64, 0, "relu6", 0.2), input_size=112, num_classes=10)


def test_features_of_a_hand_made_network(four_blocks):
    values = features(four_blocks)
    backbone = dataclasses.replace(four_blocks, num_classes=1000,
                                   blocks=tuple(dataclasses.replace(b, op="dw") for b in four_blocks.blocks))
    assert values["log_macs"] == pytest.approx(math.log(backbone.macs() / 1e6))  # operator-independent size
    assert values["log_params"] == pytest.approx(math.log(backbone.params() / 1e6))  # ImageNet classifier
    assert values["log_resolution"] == pytest.approx(math.log(112 / 224))
    assert (values["se"], values["hswish"], values["kernel5"], values["residual"]) == (0.25, 0.25, 0.25, 0.25)
    # stem; 2 + 3 + 3 + 3 block convs (the first has no expansion; SE linears not counted); head conv; classifier
    assert values["log_depth"] == pytest.approx(math.log(14))
    assert (values["op_dw"], values["op_full"], values["op_fuse_half"]) == (0.5, 0.5, 0.0)


def test_prediction_combines_size_model_and_operator_effects(four_blocks):
    """mean = 100 sigmoid(eta), eta = b0 + b x + share * delta; std by the delta method."""
    model = Predictor(("log_resolution",), 0.4, (2.0,), 0.1, {"full": (0.6, 0.3), "fuse_half": (-1.0, 0.5)})
    eta = 0.4 + 2.0 * math.log(0.5) + 0.5 * 0.6
    p = sigmoid(eta)
    expected_std = 100 * p * (1 - p) * math.sqrt(0.1 ** 2 + (0.5 * 0.3) ** 2)
    assert model.predict(four_blocks) == (pytest.approx(100 * p), pytest.approx(expected_std))


def test_outside_the_evidence_the_std_widens_and_the_mean_stays_at_the_edge(four_blocks):
    """A feature beyond its range is clamped; |b| x the distance joins the std (logit)."""
    model = Predictor(("log_resolution",), 0.4, (2.0,), 0.1, {}, {"log_resolution": (math.log(0.5), 0.0)})
    inside, edge = model.predict(four_blocks), model.predict(dataclasses.replace(four_blocks, input_size=224))
    assert model.outside(four_blocks) == "" and inside.mean == pytest.approx(100 * sigmoid(0.4 + 2 * math.log(0.5)))
    far = model.predict(dataclasses.replace(four_blocks, input_size=448))
    p = sigmoid(0.4)
    assert far.mean == pytest.approx(edge.mean) == pytest.approx(100 * p)
    assert far.std == pytest.approx(100 * p * (1 - p) * math.hypot(0.1, 2 * math.log(2)))
    assert model.outside(dataclasses.replace(four_blocks, input_size=448)) == "input 448 px, the evidence has 112 px to 224 px"


def test_the_shipped_predictor_gives_a_1024_px_network_no_confident_prediction():
    v2 = zoo.get("mobilenet_v2")
    assert all(default().outside(arch) == "" for arch in zoo.all_archs().values())  # the zoo is the evidence
    at = {size: predict(dataclasses.replace(v2, input_size=size)) for size in (224, 512, 1024)}
    assert at[1024].mean < at[224].mean + 5 and at[1024].std > 3 * at[224].std and at[1024].std > at[512].std
    assert "input 1024 px, the evidence has 96 px to 224 px" in default().outside(dataclasses.replace(v2, input_size=1024))


def test_the_shipped_ranges_are_those_of_the_fitted_rows():
    model = default()
    rows = [r for r in evidence.fit_rows() if not r.ops]
    expected = evidence_ranges(rows, model.features)
    assert set(model.ranges) == set(expected)
    for name, (low, high) in expected.items():
        assert model.ranges[name] == (pytest.approx(low), pytest.approx(high))


def test_a_difference_within_one_backbone_cancels_the_shared_size_error():
    model = default()
    space = get_space("mobilenet_v2")
    a = space.to_arch({f"b{i}.op": "fuse_half" if i < 8 else "dw" for i in range(17)})
    b = space.to_arch({f"b{i}.op": "fuse_half" if i > 8 else "dw" for i in range(17)})  # the same shares
    assert model.difference(a, b) == (pytest.approx(0.0), pytest.approx(0.0))  # the prior cannot tell placements apart
    dw = space.to_arch({f"b{i}.op": "dw" for i in range(17)})
    pa, pd, diff = model.predict(a), model.predict(dw), model.difference(a, dw)
    p = (pa.mean + pd.mean) / 200
    assert diff.mean == pytest.approx(pa.mean - pd.mean)
    assert diff.std == pytest.approx(100 * p * (1 - p) * 8 / 17 * model.effects["fuse_half"][1])
    assert diff.std < math.hypot(pa.std, pd.std) and difference(a, dw) == diff
    other = dataclasses.replace(dw, input_size=160)  # another backbone: independent errors
    assert model.difference(dw, other).std == pytest.approx(math.hypot(pd.std, model.predict(other).std))


def test_fit_recovers_exact_logit_data_and_keeps_size_coefficients_nonnegative():
    x = np.array([[1.0, 0.2], [2.0, 0.1], [3.0, 0.7], [4.0, 0.3], [5.0, 0.9]])
    top1 = 100 / (1 + np.exp(-(-1.5 + 0.4 * x[:, 0] - 0.8 * x[:, 1])))
    b0, b = fit_size_model(x, top1, ("log_macs", "se"))
    assert (b0, *b) == pytest.approx((-1.5, 0.4, -0.8), abs=1e-6)
    shrinking = 100 / (1 + np.exp(-(1.0 - 0.3 * x[:, 0])))  # accuracy falling with MACs: not allowed
    assert fit_size_model(x[:, :1], shrinking, ("log_macs",))[1][0] == pytest.approx(0.0, abs=1e-9)


def test_transfer_scales_each_effect_by_its_ratio_to_the_full_effect():
    rng = np.random.default_rng(1)
    shares = rng.dirichlet(np.ones(4), size=40)[:, 1:]  # full, fuse_half, fuse_full
    accuracy = 90 + 2.0 * shares[:, 0] - 4.0 * shares[:, 1] + 0.0 * shares[:, 2]  # noise-free signal
    effects = transfer_effects(shares, accuracy, full_effect=0.05, full_sigma=0.0, resamples=200)
    assert effects["full"] == pytest.approx((0.05, 0.05))  # std = the effect itself (transfer term)
    assert effects["fuse_half"] == pytest.approx((-0.10, 0.10), abs=1e-9)  # -4 / 2 x 0.05
    assert effects["fuse_full"] == pytest.approx((0.0, 0.0), abs=1e-9)
    with pytest.raises(ValueError, match="full effect"):
        transfer_effects(shares, 90 - 2.0 * shares[:, 0], full_effect=0.05, full_sigma=0.01)


def test_shipped_predictor_is_deterministic_finite_and_fitted_without_held_out_rows():
    model = default()
    assert set(model.features) <= set(FEATURES) and set(model.effects) == {"full", "fuse_half", "fuse_full"}
    assert "not used" in model.provenance["evidence"]["held_out"]
    # dw -> full from the MobileNets paper, Table 4: 70.6 % -> 71.7 %
    assert model.effects["full"][0] == pytest.approx(math.log(0.717 / 0.283) - math.log(0.706 / 0.294))
    assert Predictor.from_dict(model.to_dict()) == model
    for arch in zoo.all_archs().values():
        first = predict(arch)
        assert isinstance(first, Prediction) and predict(arch) == first
        assert 0 < first.mean < 100 and 0 < first.std < 100 and math.isfinite(first.std)
        assert score(arch, IMAGENET, data="synthetic", seed=5) == first.mean


@pytest.mark.parametrize("name", zoo.names())
def test_prediction_grows_with_width(name):
    for variant in ("baseline", "fuse_half"):
        arch = zoo.get(name, variant)
        means = [predict(arch.scaled(w)).mean for w in (0.25, 0.35, 0.5, 0.75, 1.0, 1.3, 1.4, 2.0)]
        assert means == sorted(means), f"{name}/{variant}: {means}"


def test_bad_input_is_refused_in_one_line():
    with pytest.raises(ValueError, match="arch: the ImageNet predictor takes a nos.Arch, got str"):
        predict("mobilenet_v2")
    with pytest.raises(ValueError, match=f"the {IMAGENET} proxy predicts from a nos.Arch, got Network"):
        score(build(zoo.get("mobilenet_v2"), num_classes=10), IMAGENET)
    with pytest.raises(ValueError, match="features: unknown"):
        Predictor(("flops",), 0.0, (1.0,), 0.1)
