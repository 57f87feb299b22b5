"""The accuracy axis from the command line: ``proxy=supernet`` on the user's image folder,
``nos-train`` for trained finalists (on a copy of the session's small search; the one nos-train
subprocess of the suite), ``nos-export weights=trained``, and their bad input."""
from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import torch
from PIL import Image

import nos
from nos import proxies
from nos.proxies.data import FASHION_MNIST_ROOT
from nos.report.files import read_records
from nos.search.study import make_storage, trainings
from search_spaces import get_space
from apps import SMALL, app, copy_run, run

TINY_SUPERNET = ["proxy=supernet", "proxy.budget.steps=4", "proxy.budget.batch_size=8", "proxy.budget.width=0.125",
                 "proxy.budget.resolution=16", "hardware.rows=16", "hardware.cols=16", "search.seed_references=false"]
TINY_TRAINING = ["budget.steps=3", "budget.batch_size=16", "budget.width=0.25", "budget.resolution=16"]


def image_folder(root, classes=("ant", "bee", "cat"), per_class=6):
    """Solid-colour PNGs with a little noise, one sub-folder per class."""
    generator = torch.Generator().manual_seed(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = (torch.rand(8, 8, 3, generator=generator) * 60).to(torch.uint8) + 60 * c
            Image.fromarray(pixels.numpy()).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def supernet_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("supernet")
    folder = image_folder(tmp / "images")
    common = [*TINY_SUPERNET, "proxy.data=folder", f"proxy.root={folder}", f"proxy.cache_dir={tmp / 'cache'}",
              "search.n_trials=6"]
    first = run("search", *common, f"hydra.run.dir={tmp / 'a'}")
    assert first.returncode == 0, first.stderr
    second = run("search", *common, "search.n_trials=4", f"hydra.run.dir={tmp / 'b'}")
    assert second.returncode == 0, second.stderr
    return tmp, first, second


def test_supernet_proxy_on_an_image_folder_reads_accuracies_in_percent(supernet_run):
    tmp, first, _ = supernet_run
    assert "supernet training: step 4/4" in first.stdout + first.stderr
    records = read_records(tmp / "a" / "trials.jsonl")
    assert len(records) == 6 and all(0 <= r.evaluation.proxy <= 100 for r in records)
    settings = json.loads((tmp / "a" / "run.json").read_text())
    assert settings["proxy"]["name"] == "supernet" and settings["proxy"]["data"] == "folder"
    assert "folder validation top-1, supernet weights (%)" in (tmp / "a" / "report.md").read_text()
    assert len(list((tmp / "cache").glob("supernet-*.pt"))) == 1


def test_supernet_loss_reads_the_same_cache_and_values_a_candidate_by_its_negated_loss(supernet_run):
    tmp, _, _ = supernet_run
    budget = dict(steps=4, batch_size=8, width=0.125, resolution=16)
    common = [o for o in TINY_SUPERNET if not o.startswith("proxy=")]
    result = run("search", "proxy=supernet_loss", *common, "proxy.data=folder", f"proxy.root={tmp / 'images'}",
                 f"proxy.cache_dir={tmp / 'cache'}", "search.n_trials=4", f"hydra.run.dir={tmp / 'c'}")
    assert result.returncode == 0, result.stderr
    assert "supernet training: step" not in result.stdout + result.stderr  # the cache of proxy=supernet
    records = read_records(tmp / "c" / "trials.jsonl")
    space = get_space("mobilenet_v2")
    proxy = proxies.make("supernet_loss", data="folder", root=str(tmp / "images"), budget=budget,
                         supernet=proxies.Supernet(space.base, space.operator_choices), cache_dir=str(tmp / "cache"))
    proxy.prepare()
    assert proxy.supernet.from_cache and proxy.unit == "nats"
    for r in records:
        assert r.evaluation.proxy == -proxy.supernet.validation(r.arch)[1] < 0 and r.evaluation.proxy_std is None
    assert "folder validation cross-entropy, supernet weights (nats, negated: higher = better)" in \
        (tmp / "c" / "report.md").read_text()


def test_a_second_run_reads_the_cached_supernet_and_scores_alike(supernet_run):
    tmp, _, second = supernet_run
    assert "supernet training: step" not in second.stdout + second.stderr  # read from the cache, not retrained
    first = {json.dumps(r.arch.to_dict(), sort_keys=True): r.evaluation.proxy
             for r in read_records(tmp / "a" / "trials.jsonl")}
    shared = [(first[key], r.evaluation.proxy) for r in read_records(tmp / "b" / "trials.jsonl")
              if (key := json.dumps(r.arch.to_dict(), sort_keys=True)) in first]
    assert all(a == b for a, b in shared)


def test_a_supernet_cache_for_another_space_is_refused(supernet_run, tmp_path):
    tmp, _, _ = supernet_run
    cache = tmp_path / "cache"
    cache.mkdir()
    (stored,) = (tmp / "cache").glob("supernet-*.pt")
    checkpoint = torch.load(stored, weights_only=True)
    key = json.loads(checkpoint["key"])
    key["space"]["ops"] = ["dw", "full"]
    torch.save({"key": json.dumps(key, sort_keys=True), "state": checkpoint["state"]}, cache / stored.name)
    proc = run("search", *TINY_SUPERNET, "proxy.data=folder", f"proxy.root={tmp / 'images'}",
               f"proxy.cache_dir={cache}", "search.n_trials=1", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("nos-search: proxy.cache_dir: ") and "another space.ops" in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()


@pytest.mark.parametrize("setup,message", [
    ("missing", "proxy.root: image folder"),
    ("one_class", "at least 2 class sub-folders, found 1 (ant)"),
])
def test_bad_image_folders_exit_2_with_one_line(tmp_path, setup, message):
    root = tmp_path / "images"
    if setup == "one_class":
        image_folder(root, classes=("ant",))
    proc = run("search", "proxy=supernet", "proxy.data=folder", f"proxy.root={root}", "search.n_trials=1",
               f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr and not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def trained_run(search_run, tmp_path_factory):
    """A copy of the session's small search, two of its front members trained by nos-train (a
    real process)."""
    run_dir = copy_run(search_run[0], tmp_path_factory.mktemp("train") / "run")
    chosen = [r.number for r in read_records(run_dir / "pareto.json")][:2]
    assert len(chosen) == 2
    proc = app("train", f"run_dir={run_dir}", "select=trial", f"trial=[{chosen[0]},{chosen[1]}]", *TINY_TRAINING)
    assert proc.returncode == 0, proc.stderr
    return run_dir, chosen, proc


def test_nos_train_records_measured_accuracy_in_the_study_and_the_run(trained_run):
    run_dir, chosen, proc = trained_run
    settings = json.loads((run_dir / "run.json").read_text())
    study = optuna.load_study(study_name=settings["study_name"], storage=make_storage(settings["storage"]))
    stored = trainings(study)
    assert sorted(stored) == sorted(chosen)
    for number in chosen:
        t = stored[number]
        assert 0 <= t.accuracy_pct <= 100 and t.data == "digits" and t.budget["steps"] == 3
        assert t.arch.num_classes == 10 and (run_dir / t.weights).is_file()
    front = read_records(run_dir / "pareto.json")
    assert [r.number for r in front][:2] == chosen  # rewritten in its own order (fastest first)
    pareto = {r.number: r for r in front}
    assert all(pareto[n].trained == stored[n] for n in chosen)
    report = (run_dir / "trained" / "report.md").read_text()
    assert "Kendall tau" in report or "Too few distinct values" in report
    assert "step 3/3" in proc.stdout + proc.stderr  # training progress


@pytest.mark.skipif(not Path(FASHION_MNIST_ROOT).is_dir(), reason=f"Debian's dataset-fashion-mnist is not installed "
                    f"({FASHION_MNIST_ROOT})")
def test_nos_train_on_fashion_mnist_compares_three_finalists_with_the_proxy(search_run, tmp_path):
    run_dir = copy_run(search_run[0], tmp_path / "run")
    chosen = [r.number for r in read_records(run_dir / "pareto.json")][:3]
    proc = run("train", f"run_dir={run_dir}", "data=fashion_mnist", "select=trial", f"trial=[{','.join(map(str, chosen))}]",
               "budget.steps=3", "budget.batch_size=16", "budget.width=0.125", "budget.resolution=28")
    assert proc.returncode == 0, proc.stderr
    report = (run_dir / "trained" / "report.md").read_text()
    assert "3 trials trained stand-alone on fashion_mnist" in report
    assert "(proxy vs measured, 3 trials)" in report or "Too few distinct values" in report
    assert "No differences: the proxy is not a top-1 in % on the data set trained on" in report  # params is a count


def test_a_resumed_search_reports_the_trained_accuracy(trained_run):
    run_dir, chosen, _ = trained_run
    proc = run("search", *SMALL, "search.n_trials=1", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr
    report = (run_dir / "report.md").read_text()
    assert "trained (%)" in report and "Trained: validation top-1 after stand-alone training" in report


def test_export_carries_the_trained_weights(trained_run, tmp_path):
    run_dir, chosen, _ = trained_run
    proc = run("export", f"run_dir={run_dir}", "weights=trained", "select=trial", f"trial={chosen[0]}",
               f"out_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    record = json.loads((folder / "arch.json").read_text())
    assert record["weights"]["init"] == "trained" and record["arch"]["num_classes"] == 10
    trained = torch.load(run_dir / f"trained/trial-{chosen[0]}/weights.pt", weights_only=True)
    exported = nos.load(folder).state_dict()
    assert trained.keys() == exported.keys()
    assert all(torch.equal(trained[k], exported[k]) for k in trained)


def test_export_of_an_untrained_trial_says_how_to_train_it(trained_run, tmp_path):
    run_dir, chosen, _ = trained_run
    other = next(r.number for r in read_records(run_dir / "trials.jsonl") if r.number not in chosen and r.complete)
    proc = run("export", f"run_dir={run_dir}", "weights=trained", "select=trial", f"trial={other}",
               f"out_dir={tmp_path / 'out'}")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert f"trial(s) {other} have no trained weights; train them first: nos-train" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("overrides,message", [
    ([], "run_dir: missing"),
    (["run_dir=/nonexistent-run"], "run_dir: /nonexistent-run is not a directory"),
    (["select=trial", "trial=[9999]"], "9999"),
    (["data=folder", "root=/nonexistent-images"], "root: image folder"),
    (["budget.bogus=1"], "budget.bogus"),
])
def test_bad_nos_train_input_exits_2_with_one_line(trained_run, overrides, message):
    run_dir, _, _ = trained_run
    args = overrides if overrides[:1] == ["run_dir=/nonexistent-run"] or not overrides else \
        [f"run_dir={run_dir}", *overrides]
    proc = run("train", *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nos-train: ") and message in lines[0], proc.stderr


def test_finalists_rank_from_three_trials_and_subtract_only_the_same_unit():
    """Kendall tau needs three trials; measured - proxy only where the proxy is a top-1 in % on the
    data trained on (the supernet's %; the training proxy's fraction x 100), never for a prior."""
    from nos import proxies, zoo
    from nos.run.finalists import summarize
    from nos.search.record import Evaluation, Training, TrialRecord

    arch = zoo.get("mobilenet_v2")

    def record(number, proxy, measured):
        evaluation = Evaluation(proxy, 1000, 1.0, arch.params(), arch.macs())
        return TrialRecord(number, "COMPLETE", {}, arch, evaluation,
                           trained=Training(measured, "fashion_mnist", {}, 0, 1.0, arch, "w.pt"))

    supernet = proxies.describe("supernet", "fashion_mnist")
    two = summarize([record(0, 80.0, 85.0), record(1, 82.0, 86.0)], supernet)
    assert two.tau is None and "| 0 | 80 | 85.00 | +5.00 |" in two.report
    three = summarize([record(0, 80.0, 85.0), record(1, 82.0, 86.0), record(2, 81.0, 84.0)], supernet)
    assert three.tau == pytest.approx(1 / 3) and "Mean |measured - proxy|: 4.00 points" in three.report
    train = summarize([record(0, 0.8, 85.0)], proxies.describe("train", "fashion_mnist"))
    assert "| 0 | 0.8 | 85.00 | +5.00 |" in train.report
    prior = summarize([record(0, 72.0, 85.0), record(1, 71.0, 84.0), record(2, 70.0, 86.0)],
                      proxies.describe("imagenet"))
    assert "| 0 | 72 | 85.00 |  |" in prior.report and "No differences" in prior.report and prior.tau is not None
