"""Objectives: budgets as constraints, latency before proxy, batched evaluation, the training
proxy, the reward."""
import dataclasses
import json
import math

import pytest

from nos import proxies, sim, zoo
from nos.search import objectives
from nos.search.objectives import Budgets, Evaluator, Objectives, mnas_reward
from nos.search.record import Evaluation, RecordError, Training, TrialRecord
from search_spaces import get_space

V2 = zoo.get("mobilenet_v2")
HW = sim.Hardware(rows=32, cols=32)


def test_budget_violations_are_relative_and_feasible_at_or_below_zero():
    b = Budgets(latency_ms=2.0, params=1_000_000, area_mm2=10.0, pes=1024)
    measured = {"latency_ms": 3.0, "params": 500_000, "macs": 10**9, "energy_uj": 5.0, "area_mm2": 12.0, "pes": 512}
    v = b.violations(measured)
    assert v == {"latency_ms": pytest.approx(0.5), "params": pytest.approx(-0.5), "area_mm2": pytest.approx(0.2),
                 "pes": pytest.approx(-0.5)}
    assert Budgets().violations(measured) == {}
    for field in ("macs", "energy_uj", "area_mm2", "pes"):
        with pytest.raises(ValueError, match=f"constraints.{field}"):
            Budgets(**{field: 0})


def test_infeasible_candidate_skips_the_proxy(monkeypatch):
    calls = []
    real = proxies.score
    monkeypatch.setattr(proxies.proxy, "score", lambda *a, **k: calls.append(a) or real(*a, **k))
    cycles = int(sim.simulate(V2, HW).total_cycles)
    tight = Evaluator(HW, "params", budgets=Budgets(latency_ms=cycles / 1e6 / 2))
    e = tight(V2)
    assert not e.feasible and e.proxy is None and not calls
    assert e.latency_cycles == cycles and e.params == V2.params() and e.macs == V2.macs()
    assert tight.evaluate([V2], score_all=True)[0].proxy == real(V2, "params", data="digits", seed=0)
    loose = Evaluator(HW, "params", budgets=Budgets(latency_ms=cycles / 1e6 * 2))
    assert loose(V2).feasible and loose(V2).proxy == real(V2, "params", data="digits", seed=0) and calls


def test_batched_evaluation_equals_one_by_one_and_simulates_once(monkeypatch):
    archs = [zoo.get("mobilenet_v2", v) for v in zoo.VARIANTS] + [zoo.get("mobilenet_v2")]  # one repeat
    one_by_one = [Evaluator(HW, "params")(a) for a in archs]
    calls = []
    real = objectives.sim.simulate
    monkeypatch.setattr(objectives.sim, "simulate", lambda x, *a, **k: calls.append(len(x)) or real(x, *a, **k))
    batched = Evaluator(HW, "params").evaluate(archs)
    assert batched == one_by_one
    assert calls == [len(zoo.VARIANTS)]  # one simulator call over the distinct architectures
    for a, e in zip(archs, batched):
        assert e.latency_cycles == real(a, HW).total_cycles


def test_roofline_latency_model_is_never_faster_than_compute():
    compute = Evaluator(HW, "params").measure([V2], [HW])
    roofline = Evaluator(HW, "params", latency_model="roofline").measure([V2], [HW])
    assert roofline[0][0] >= compute[0][0] and roofline[0][2:] == compute[0][2:]  # energy, area the same
    with pytest.raises(ValueError, match="latency_model"):
        Evaluator(HW, "params", latency_model="dram")


def test_training_proxy_equals_a_standalone_short_training():
    budget = {"epochs": 0.2, "width": 0.25, "resolution": 16}
    small = V2.scaled(0.5)
    e = Evaluator(HW, proxies.make("train", seed=3, budget=budget))(small)
    assert e.proxy == proxies.train_accuracy(small, "digits", budget, seed=3)
    assert 0.0 <= e.proxy <= 1.0 and e.proxy_std == pytest.approx(math.sqrt(e.proxy * (1 - e.proxy) / 360))
    with pytest.raises(ValueError, match=r"proxy.name: unknown proxy 'acc' \(allowed: naswot, .*, train, supernet, supernet_loss\)"):
        Evaluator(HW, "acc")
    with pytest.raises(TypeError, match="proxy: expected a nos.proxies.Proxy or a proxy name, got int"):
        Evaluator(HW, 3)


def test_the_evaluator_asks_the_proxy_once_per_batch_and_keeps_its_std_and_warnings():
    batches = []
    proxy = proxies.make(proxies.IMAGENET)
    real = proxy.score
    proxy.score = lambda archs: batches.append(len(archs)) or real(archs)
    evaluator = Evaluator(HW, proxy)
    archs = [zoo.get("mobilenet_v2", v) for v in zoo.VARIANTS]
    evaluations = evaluator.evaluate(archs + archs[:1])
    assert batches == [len(zoo.VARIANTS)]  # one call for the distinct feasible candidates
    for arch, e in zip(archs, evaluations):
        assert (e.proxy, e.proxy_std) == tuple(proxies.predict(arch)) and e.proxy_label == evaluator.label
    assert evaluator.warnings == []
    evaluator.evaluate([dataclasses.replace(V2, input_size=1024)])
    assert len(evaluator.warnings) == 1 and "input 1024 px" in evaluator.warnings[0]
    assert Evaluator(HW, "params")(V2).proxy_std is None  # a zero-cost score has no std


def test_objectives_values_and_a_skipped_proxy():
    e = Evaluation(0.5, 2000, 2.0, 10, 20, {"params": 0.5}, energy_uj=7.0, area_mm2=3.0)
    assert Objectives().values(e) == [0.5, 2.0] and Objectives().names == ["proxy", "latency_ms"]
    assert Objectives(latency_unit="cycles").values(e) == [0.5, 2000.0]
    three = Objectives(metrics=("proxy", "latency", "energy"))
    assert three.values(e) == [0.5, 2.0, 7.0] and three.directions == ["maximize", "minimize", "minimize"]
    assert three.names == ["proxy", "latency_ms", "energy_uj"]
    assert Objectives(metrics=("energy", "area")).values(e) == [7.0, 3.0]
    assert Objectives("reward", reward_target_ms=1.0).values(e) == [pytest.approx(mnas_reward(0.5, 2.0, 1.0))]
    skipped = Evaluation(None, 2000, 2.0, 10, 20, {"params": 0.5})
    assert Objectives().values(skipped)[0] == -math.inf
    assert three.values(skipped)[2] == math.inf  # not measured: never on a front
    with pytest.raises(ValueError, match="search.objective: unknown objective 'max'"):
        Objectives("max")
    with pytest.raises(ValueError, match="search.reward_target_ms"):
        Objectives("reward")
    with pytest.raises(ValueError, match="search.objectives: expected two or more distinct of proxy, latency, "
                                         "energy, area, got \\['proxy', 'speed'\\]"):
        Objectives(metrics=("proxy", "speed"))


def test_candidates_on_several_arrays_from_one_simulator_call(monkeypatch):
    """Each (arch, array) pair gets the numbers of its own standalone simulation, energy and area
    included, from one call over the distinct architectures and arrays."""
    archs = [zoo.get("mobilenet_v2", v) for v in ("baseline", "fuse_half", "fuse_full")]
    arrays = [sim.Hardware(rows=16, cols=32), sim.Hardware(dataflow="ws", fuse=False), sim.Hardware(rows=16, cols=32)]
    calls = []
    real = objectives.sim.simulate
    monkeypatch.setattr(objectives.sim, "simulate", lambda x, h, **k: calls.append((len(x), len(h))) or real(x, h, **k))
    evaluations = Evaluator(HW, "params", budgets=Budgets(area_mm2=1e6)).evaluate(archs, arrays)
    assert calls == [(3, 2)]
    for arch, array, e in zip(archs, arrays, evaluations):
        alone = real(arch, array)
        assert (e.latency_cycles, e.energy_uj) == (alone.total_cycles, pytest.approx(alone.energy_pj / 1e6))
        assert e.area_mm2 == pytest.approx(array.area_mm2()) and e.hardware == dataclasses.asdict(array)
        assert e.constraints == {"area_mm2": pytest.approx(array.area_mm2() / 1e6 - 1)}


def test_mnas_reward():
    assert mnas_reward(0.8, 2.0, 2.0) == pytest.approx(0.8)
    assert mnas_reward(0.8, 4.0, 2.0) == pytest.approx(0.8 * 2 ** -0.07)
    assert mnas_reward(0.8, 1.0, 2.0) > 0.8
    with pytest.raises(ValueError):
        mnas_reward(0.8, 0.0, 2.0)


def test_trial_record_json_round_trip_with_a_skipped_proxy_and_a_training():
    arch = zoo.get("mobilenet_v2", "fuse_half")
    evaluation = Evaluation(None, 1000, 0.001, arch.params(), arch.macs(), {"latency_ms": 0.5}, 2.0, 1.5,
                            {"rows": 16, "cols": 16})
    training = Training(91.25, "digits", {"epochs": 3.0, "width": 0.25}, 0, 12.5,
                        dataclasses.replace(arch.scaled(0.25), num_classes=10), "trained/trial-4/weights.pt")
    record = TrialRecord(4, "COMPLETE", {"b0.op": "fuse_half"}, arch, evaluation, trained=training)
    back = TrialRecord.from_json(record.to_json())
    assert back == record and back.evaluation.proxy is None and back.evaluation.metric("proxy") == -math.inf
    assert json.loads(record.to_json())["proxy"] is None  # null in JSON, the one skipped-proxy convention
    bad = record.to_dict()
    bad["trained"]["accuracy_pct"] = "high"
    with pytest.raises(RecordError, match=r"^record.trained.accuracy_pct: expected a number"):
        TrialRecord.from_dict(bad)


def test_supernet_proxy_is_the_cached_supernets_accuracy(tmp_path):
    space = get_space("mobilenet_v2")
    tiny = {"steps": 3, "batch_size": 8, "resolution": 16}
    evaluator = Evaluator(HW, proxies.make("supernet", budget=tiny, supernet=proxies.Supernet(space.base),
                                           cache_dir=str(tmp_path)))
    paper = zoo.get("mobilenet_v2", "fuse_half")  # carries the authors' never-called expansion conv
    recorded = evaluator.evaluate([paper])[0].proxy
    budget = dataclasses.replace(proxies.supernet.DEFAULT_BUDGET, **tiny)
    alone = proxies.train_supernet(proxies.Supernet(space.base), "digits", 0, budget, cache_dir=str(tmp_path))
    assert alone.from_cache and 0 <= recorded <= 100 and recorded == alone.accuracy(paper)
    with pytest.raises(ValueError, match="^proxy.supernet: the 'supernet' proxy needs the search space's Supernet"):
        Evaluator(HW, "supernet")


def test_fashion_mnist_reaches_the_evaluator_as_proxy_data():
    evaluator = Evaluator(HW, proxies.make("params", data="fashion_mnist"))
    evaluator.check_data()  # Debian's dataset-fashion-mnist (make test installs it)
    assert evaluator(V2).proxy == proxies.score(V2, "params", data="fashion_mnist") and "fashion_mnist" in evaluator.label
    with pytest.raises(ValueError, match=r"^proxy.root: fashion_mnist folder '/nonexistent' does not exist"):
        Evaluator(HW, proxies.make("params", data="fashion_mnist", root="/nonexistent")).check_data()
