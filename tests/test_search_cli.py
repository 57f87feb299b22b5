"""nos-search end to end: files, the one trial record, resume (and its refusal), the study-wide
trial count, progress, Ctrl-C and SIGTERM, TensorBoard read-back, figures, sweeps, reward mode,
optuna-dashboard on the study, and run directories that cannot be written."""
import csv
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import wsgiref.util

import optuna
import pytest
from optuna.trial import TrialState
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

import nos
from nos import proxies, sim
from nos.report.files import read_records
from nos.search.objectives import mnas_reward
from nos.search.pareto import front_records
from nos.run.progress import Progress
from nos.search.study import make_storage
from apps import SMALL, copy_run, run


def finished(journal):
    study = optuna.load_study(study_name="nos", storage=make_storage(None, journal))
    return [t for t in study.trials if t.state.is_finished()]


def test_run_writes_the_documented_files(search_run):
    run_dir, _ = search_run
    for name in ("pareto.json", "trials.csv", "trials.jsonl", "run.json", "report.md", "front.png",
                 "study.journal", "tb"):
        assert (run_dir / name).exists(), name
    with Image.open(run_dir / "front.png") as png:
        assert png.format == "PNG" and png.size[0] > 600


def test_pareto_members_are_trial_records_with_library_numbers(search_run):
    run_dir, _ = search_run
    front = read_records(run_dir / "pareto.json")
    hardware = sim.Hardware(rows=16, cols=16)
    assert front
    for r in front:
        # recorded numbers are what the library computes for that arch, standalone
        assert r.evaluation.latency_cycles == sim.simulate(r.arch, hardware).total_cycles
        assert r.evaluation.params == r.arch.params() and r.evaluation.macs == r.arch.macs()
        assert r.evaluation.proxy == proxies.score(r.arch, "params", data="digits", seed=0)
        assert r.evaluation.proxy_label == "parameters (network with a digits classifier)"
    lat = [r.evaluation.latency_cycles for r in front]
    assert lat == sorted(lat)
    assert all(a.evaluation.proxy < b.evaluation.proxy for a, b in zip(front, front[1:]))
    # the incrementally kept front equals the batch front of every trial
    trials = read_records(run_dir / "trials.jsonl")
    assert [r.number for r in front_records(trials)] == [r.number for r in front]


def test_trials_csv_has_every_value_choice_timing_and_reference(search_run):
    run_dir, _ = search_run
    rows = list(csv.DictReader(open(run_dir / "trials.csv")))
    records = {r.number: r for r in read_records(run_dir / "trials.jsonl")}
    assert [int(r["number"]) for r in rows] == list(range(10)) == sorted(records)
    assert {r["state"] for r in rows} == {"COMPLETE"}
    references = {r["reference"] for r in rows[:5]}
    assert references == {"baseline", "fuse_full", "fuse_half", "fuse_full_50", "fuse_half_50"}
    assert all(r["reference"] == "" for r in rows[5:])
    for r in rows:
        e = records[int(r["number"])].evaluation
        assert r["datetime_start"] and float(r["duration_s"]) >= 0
        assert r["proxy_label"] == proxies.describe("params", "digits") and r["proxy_std"] == ""
        # every objective and measured value, at full precision
        assert (float(r["energy_uj"]), float(r["area_mm2"]), float(r["latency_ms"])) == \
               (e.energy_uj, e.area_mm2, e.latency_ms)
        assert e.area_mm2 == pytest.approx(sim.Hardware(rows=16, cols=16).area_mm2())
        assert r["b0.op"] in nos.arch.OPERATORS and r["b16.op"] in nos.arch.OPERATORS
    study = optuna.load_study(study_name="nos", storage=make_storage(None, run_dir / "study.journal"))
    assert study.metric_names == ["proxy", "latency_ms"]
    assert [t.user_attrs.get("reference") for t in study.trials[:5]] == [r["reference"] for r in rows[:5]]


def test_progress_and_stop_are_reported(search_run):
    _, result = search_run
    text = result.stdout + result.stderr
    assert "trials 10/10" in text and "elapsed" in text and "front" in text and "feasible" in text
    assert "stopped after 10 trials (search.n_trials=10)" in text


def test_second_invocation_resumes_and_another_hardware_is_refused(search_run, tmp_path):
    run_dir = copy_run(search_run[0], tmp_path / "run")
    result = run("search", "search.n_trials=4", *SMALL, f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(run_dir / "trials.csv")))
    assert [int(r["number"]) for r in rows] == list(range(14))
    assert len(read_records(run_dir / "trials.jsonl")) == 14
    before = (run_dir / "trials.csv").read_text()
    refused = run("search", "search.n_trials=4", *SMALL[:1], "hardware.rows=32", "hardware.cols=16",
                  f"hydra.run.dir={run_dir}")
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "hardware.rows=16 (now 32)" in lines[0] and "study_name" in lines[0]
    assert (run_dir / "trials.csv").read_text() == before
    assert len(finished(run_dir / "study.journal")) == 14


def test_total_trials_counts_the_study_across_invocations_and_the_report_shows_every_choice(tmp_path):
    common = [*SMALL, "space.kernels=[3,5]", "search.total_trials=12", f"hydra.run.dir={tmp_path}"]
    first = run("search", "search.n_trials=8", *common)  # 5 paper variants + 3 more; n_trials stops it
    assert first.returncode == 0, first.stderr
    assert "trials 8/8" in first.stderr + first.stdout
    second = run("search", "search.n_trials=100", *common)  # the study holds 8: 4 more reach 12
    assert second.returncode == 0, second.stderr
    assert "stopped after 4 trials: the study holds search.total_trials=12" in second.stdout + second.stderr
    third = run("search", *common)  # nothing left to do
    assert third.returncode == 0 and "stopped after 0 trials" in third.stdout + third.stderr
    assert len(finished(tmp_path / "study.journal")) == 12
    front = read_records(tmp_path / "pareto.json")
    report = (tmp_path / "report.md").read_text()
    assert "| operators | kernels | reference |" in report
    for r in front:  # each member's searched kernels, in the genome's order, beside its operators
        kernels = "".join(str(r.genome[f"b{i}.kernel"]) for i in range(17))
        assert f"| {nos.search.record.operators(r.arch)} | {kernels} |" in report
        assert [b.kernel for b in r.arch.blocks] == [int(k) for k in kernels]


def test_tensorboard_has_scalars_figure_and_one_hparams_session_per_front_member(search_run):
    run_dir, _ = search_run
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"trial/proxy", "trial/latency_ms", "study/hypervolume", "pareto_front/proxy_vs_latency_us"} <= set(
        tags["scalars"])
    assert len(acc.Scalars("trial/latency_ms")) >= 10
    hv = [s.value for s in acc.Scalars("study/hypervolume")]
    assert hv and all(b >= a for a, b in zip(hv, hv[1:]))  # hypervolume never shrinks
    assert "pareto/front" in tags["images"]
    sessions = sorted(p.name for p in (run_dir / "tb" / "hparams").iterdir())
    front = {r.number for r in read_records(run_dir / "pareto.json")}
    assert {int(s.split("-")[1]) for s in sessions} == front  # one session per member of the final front
    session = EventAccumulator(str(run_dir / "tb" / "hparams" / sessions[0]))
    session.Reload()
    content = session.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["trial"].number_value == int(sessions[0].split("-")[1])  # the full trial number
    assert start.hparams["b00.op"].string_value in nos.arch.OPERATORS and "b16.op" in start.hparams
    blocks = {k for k in start.hparams if re.fullmatch(r"b\d+\.op", k)}
    assert blocks == {f"b{i:02d}.op" for i in range(17)}  # b00 ... b16: names sort as the blocks do


def test_the_study_opens_in_optuna_dashboard_with_readable_names(search_run):
    dashboard = pytest.importorskip("optuna_dashboard")
    run_dir, _ = search_run
    app = dashboard.wsgi(str(run_dir / "study.journal"))  # what `optuna-dashboard <run>/study.journal` serves

    def get(path):
        environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
        wsgiref.util.setup_testing_defaults(environ)
        status = []
        body = b"".join(app(environ, lambda s, headers, *_: status.append(s)))
        assert status[0].startswith("200"), status
        return json.loads(body)

    (study,) = get("/api/studies")["study_summaries"]
    assert study["study_name"] == "nos"
    detail = get(f"/api/studies/{study['study_id']}")
    assert detail["objective_names"] == ["proxy", "latency_ms"]  # Optuna's metric names
    records = {r.number: r for r in read_records(run_dir / "trials.jsonl")}
    for trial in detail["trials"]:
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        assert attrs["operators"] == nos.search.record.operators(records[trial["number"]].arch)
        assert attrs["proxy_label"] == "parameters (network with a digits classifier)"


def test_sigint_stops_cleanly_and_the_printed_command_finishes_the_plan(tmp_path):
    """A real process (the one nos-search subprocess of the suite): Ctrl-C, reports, resume."""
    planned = 100000
    proc = subprocess.Popen([sys.executable, "-m", "nos.cli.search", f"search.n_trials={planned}", *SMALL,
                             f"hydra.run.dir={tmp_path}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (tmp_path / "front.png").exists():
        time.sleep(0.2)  # the first refresh (3 trials) has happened: trials are running
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    resume = [line for line in err.splitlines() if "resume with:" in line]
    assert len(resume) == 1 and f"hydra.run.dir={tmp_path}" in resume[0]
    assert (tmp_path / "report.md").exists() and "interrupted" in (tmp_path / "report.md").read_text()
    study = optuna.load_study(study_name="nos", storage=make_storage(None, tmp_path / "study.journal"))
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    done = [t for t in study.trials if t.state.is_finished()]
    left = int(re.search(r"search\.n_trials=(\d+)", resume[0])[1])
    assert left + len(done) == planned  # the resume command runs the rest of the plan, not the plan again
    again = run("search", "search.n_trials=2", *SMALL, f"hydra.run.dir={tmp_path}")
    assert again.returncode == 0, again.stderr
    assert len(finished(tmp_path / "study.journal")) == len(done) + 2


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    refreshed = []

    def terminate_when_running():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (tmp_path / "front.png").exists():
            time.sleep(0.05)
        refreshed.append((tmp_path / "report.md").exists())  # report.md is refreshed with pareto.json
        os.kill(os.getpid(), signal.SIGTERM)  # handled in the main thread, inside the search

    threading.Thread(target=terminate_when_running, daemon=True).start()
    result = run("search", "search.n_trials=100000", *SMALL, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    assert refreshed == [True]
    assert "SIGTERM: finishing the running trials" in result.stdout + result.stderr
    assert "resume with:" in result.stderr and "interrupted" in (tmp_path / "report.md").read_text()
    rows = list(csv.DictReader(open(tmp_path / "trials.csv")))
    assert [int(r["number"]) for r in rows] == [r.number for r in read_records(tmp_path / "trials.jsonl")]
    assert len(rows) == len(finished(tmp_path / "study.journal"))  # trials.csv is complete, not behind


def test_multirun_sweep_compares_the_jobs_in_one_summary(tmp_path):
    result = run("search", "-m", "hardware.rows=8,16", "sampler=random", "search.n_trials=6", "proxy=params",
                 f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    jobs = sorted(p.parent.name for p in tmp_path.glob("*/pareto.json"))
    assert jobs == ["0", "1"]
    runs = [json.loads((tmp_path / j / "run.json").read_text()) for j in jobs]
    assert [(r["hardware"]["rows"], r["sampler"]["_target_"].rsplit(".", 1)[1]) for r in runs] == [
        (8, "RandomSampler"), (16, "RandomSampler")]
    fronts = (tmp_path / "fronts.md").read_text()
    headings = re.findall(r"^## Job (\d): (.*)$", fronts, flags=re.M)
    assert [h[1] for h in headings] == ["hardware.rows=8", "hardware.rows=16"]  # what sets each job apart
    assert "2 jobs, each with sampler=random search.n_trials=6 proxy=params" in fronts  # what they share, once
    volumes = [float(v) for v in re.findall(r"^\| \d \| [^|]+ \| \d+ \| ([\d.e+]+) \|", fronts, flags=re.M)]
    assert len(volumes) == 2 and f"**Best: job {volumes.index(max(volumes))}**" in fronts
    assert "one reference point for every job" in fronts
    assert f"Sweep summary: {tmp_path / 'fronts.md'}" in result.stdout
    with Image.open(tmp_path / "fronts.png") as png:
        assert png.format == "PNG"
    runs_in_tb = sorted(p.name for p in (tmp_path / "tb").iterdir() if p.is_dir())
    assert runs_in_tb == ["job-0", "job-1"]  # one TensorBoard run per job
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0})
    acc.Reload()
    assert "sweep/fronts" in acc.Tags()["images"]


def test_reward_mode_reports_the_reward_everywhere(tmp_path):
    result = run("search", "search.objective=reward", "search.reward_target_ms=1.0", "search.n_trials=6", *SMALL,
                 f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert len(read_records(tmp_path / "trials.jsonl")) == 6 and read_records(tmp_path / "pareto.json")
    assert json.loads((tmp_path / "run.json").read_text())["objective"] == "reward"
    rows = list(csv.DictReader(open(tmp_path / "trials.csv")))
    rewards = {int(r["number"]): float(r["reward"]) for r in rows if r["reward"]}
    for r in read_records(tmp_path / "trials.jsonl"):
        assert rewards[r.number] == pytest.approx(mnas_reward(r.evaluation.proxy, r.evaluation.latency_ms, 1.0))
    best = max(rewards, key=lambda n: (rewards[n], -n))
    report = (tmp_path / "report.md").read_text()
    assert f"Best by reward: trial {best}, reward {rewards[best]:.5g}" in report and "| reward |" in report
    assert f"best reward {rewards[best]:.4g} (trial {best})" in result.stdout + result.stderr  # the progress line


def test_help_describes_the_app_and_offers_no_internal_schema():
    result = run("search", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("nos-search: hardware-aware Neural Operator Search")
    assert "sampler: gp, nsga2, nsga3, random, tpe" in result.stdout and "n_trials: 400" in result.stdout
    assert "hardware: conventional, cosearch, default\n" in result.stdout and "schema" not in result.stdout


@pytest.mark.parametrize("where", ["file", "proc"])
def test_a_run_directory_that_cannot_be_written_is_one_line(tmp_path, where):
    (tmp_path / "a_file").write_text("")
    run_dir = {"file": tmp_path / "a_file" / "run", "proc": "/proc/nos-test-run"}[where]
    result = run("search", "search.n_trials=1", *SMALL, f"hydra.run.dir={run_dir}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"nos-search: hydra.run.dir: cannot write to {run_dir}: "), \
        result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"] and not os.path.exists("/proc/nos-test-run")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_status_line_is_cleared_before_a_log_line_and_counts_repeats(caplog):
    screen = Terminal()
    handler = logging.StreamHandler(screen)
    logging.getLogger().addHandler(handler)
    try:
        progress = Progress(10, None, stream=screen)
        progress.update(True, "best proxy 1", 1, cached=True)
        assert screen.getvalue().endswith("front 1 | feasible 100% | 1 repeats (cached)")
        logging.getLogger("nos.run").warning("a log line")
        assert screen.getvalue().endswith("\r\033[Ka log line\n")  # the line was erased first
        progress.close("best proxy 1", 1)
    finally:
        logging.getLogger().removeHandler(handler)
    logging.getLogger("nos.run").warning("after the search")  # no filter left behind
    assert not handler.filters


def test_the_report_says_which_front_members_the_proxys_uncertainty_separates(tmp_path):
    result = run("search", "proxy=imagenet", "hardware.rows=16", "hardware.cols=16", "search.n_trials=12",
                 f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    front = sorted(read_records(tmp_path / "pareto.json"), key=lambda r: (-r.evaluation.proxy, r.number))
    assert len(front) >= 2 and all(r.evaluation.proxy_std > 0 for r in front)
    separated = sum(abs(d.mean) > 2 * d.std for d in (proxies.predictor.difference(a.arch, b.arch)
                                                      for a, b in zip(front, front[1:])))
    report = (tmp_path / "report.md").read_text()
    assert (f"of the {len(front) - 1} neighbouring pairs of front members (in proxy order), {separated} differ by "
            f"more than 2 stds") in report
    for r in front:  # the std beside the value in report.md and trials.csv
        assert f"| {r.number} | {r.evaluation.proxy:.4g} ± {r.evaluation.proxy_std:.2g} |" in report
    with open(tmp_path / "trials.csv") as f:
        rows = [row for row in csv.DictReader(f) if row["state"] == "COMPLETE"]
    assert len(rows) == 12 and all(float(row["proxy_std"]) > 0 for row in rows)
    # front.png draws the std as error bars of the proxy axis, one per member
    from matplotlib.container import ErrorbarContainer
    from nos.report.figures import Axis, front_figure
    from nos.run.reports import AXES
    fig = front_figure(read_records(tmp_path / "trials.jsonl"), front, {}, AXES["latency_ms"], Axis("proxy", "proxy"))
    (bars,) = [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]
    assert bars.has_yerr and not bars.has_xerr and len(bars.lines[2][0].get_segments()) == len(front)


def test_proxy_warnings_reach_the_log_and_the_report(tmp_path):
    """A training proxy near chance (one step on synthetic data) says so in the log and report.md."""
    result = run("search", "proxy=train", "proxy.data=synthetic", "proxy.budget.steps=1", "proxy.budget.width=0.125",
                 "proxy.budget.resolution=8", "hardware.rows=16", "hardware.cols=16", "search.n_trials=6",
                 f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    line = next(line for line in (result.stdout + result.stderr).splitlines() if "validation accuracy near chance" in line)
    assert "proxy: train: validation accuracy near chance" in line
    assert "**Warning** (proxy): train: validation accuracy near chance" in (tmp_path / "report.md").read_text()


def test_separation_groups_the_neighbours_within_two_stds():
    from nos.report.markdown import Separation, separation_lines
    pairs = [Separation(4, 9, 0.5, 0.3), Separation(9, 2, 1.0, 0.3), Separation(2, 7, 0.1, 0.3)]
    text = separation_lines(pairs)[0]
    assert "of the 3 neighbouring pairs" in text and "1 differ by more than 2 stds" in text
    assert text.endswith("{4, 9}; {2, 7}.")
    assert separation_lines([]) == []
