"""Fuzzing the public inputs: every malformed input gives a clear ValueError (exit 2 for
CLIs), never another exception, a hang or a partial write."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nos import zoo
from nos.arch import Arch, ArchError
from apps import run

VALID = json.loads(zoo.get("mobilenet_v3_small", "fuse_half").to_json())
FIELDS = {"top": list(VALID), "stem": list(VALID["stem"]), "block": list(VALID["blocks"][0]), "head": list(VALID["head"])}
ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                      st.text(max_size=8), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@st.composite
def mutated_arch(draw):
    data = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["top", "stem", "block", "head"]))
        target = {"top": data, "stem": data.get("stem"), "head": data.get("head")}.get(where)
        if where == "block":
            blocks = data.get("blocks")
            if not isinstance(blocks, list) or not blocks:
                continue
            target = blocks[draw(st.integers(0, len(blocks) - 1))]
        if not isinstance(target, dict):
            continue
        action = draw(st.sampled_from(["set", "delete", "add"]))
        key = draw(st.sampled_from(FIELDS[where]))
        if action == "set":
            target[key] = draw(ANY_VALUE)
        elif action == "delete":
            target.pop(key, None)
        else:
            target[draw(st.text(min_size=1, max_size=6))] = draw(ANY_VALUE)
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_arch())
def test_mutated_arch_json_parses_or_raises_arch_error(data):
    text = json.dumps(data)
    try:
        arch = Arch.from_json(text)
    except ArchError as err:
        assert ":" in str(err)  # "<block/field>: <problem>"
        return
    assert Arch.from_json(arch.to_json()) == arch
    arch.layers()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_crashes_the_parsers(text):
    for parse in (Arch.from_json, Arch.from_text):
        try:
            parse(text)
        except ArchError:
            pass


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(zoo.get("mobilenet_v2").to_text().splitlines()), min_size=0, max_size=8),
       st.lists(st.text(alphabet="ksecdrop0123456789._ ", max_size=10), max_size=3))
def test_shuffled_and_garbled_text_raises_arch_error(lines, garbage):
    try:
        Arch.from_text("\n".join(lines + garbage))
    except ArchError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filters",
                                        "stride", "groups", "bogus"]), ANY_VALUE, max_size=9))
def test_layer_records_fuzz(record):
    from nos.sim import LayerTable

    base = {"ifmap_h": 9, "ifmap_w": 9, "filter_h": 3, "filter_w": 3, "channels": 4, "num_filters": 8,
            "stride": 1, "groups": 1}
    try:
        table = LayerTable.from_records([{**base, **record}])
    except ValueError:
        return
    assert len(table) == 1


def search_cli(*args, capsys=None):
    """``nos-search args`` in this process (nothing is run when the arguments are refused);
    returns (exit code, stderr)."""
    result = run("search", *args)
    return result.returncode, result.stderr


@pytest.mark.parametrize("url", [
    "foo://nowhere",
    "sqlite:////nonexistent-dir/deeper/study.db",
    "postgresql+psycopg2://nobody@127.0.0.1:1/none",
    "not a url at all",
])
def test_unusable_storage_urls_exit_2_quickly(tmp_path, url, capsys):
    run_dir = tmp_path / "run"
    code, err = search_cli(f"storage.url={url}", "proxy=params", "search.n_trials=1", f"hydra.run.dir={run_dir}",
                           capsys=capsys)
    assert code == 2, err
    assert err.startswith("nos-search: storage.url: cannot open") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not run_dir.exists()


@pytest.mark.parametrize("override,message", [
    ("search.n_trials=-1", "search.n_trials: expected a positive integer"),
    ("seed=abc", "seed: "),
    ("constraints.latency_ms=-5", "constraints.latency_ms"),
    ("search.objective=maximize", "search.objective: unknown objective 'maximize' (allowed: pareto, reward)"),
    ("search.latency_unit=s", "search.latency_unit"),
    ("hardware.cols=0", "hardware.cols"),
    ("hardware.fuse=maybe", "hardware.fuse"),
    ("space.kernels=[4]", "space.kernels"),
    ("bogus=1", "bogus"),
    ("+serach.n_trials=5", "serach: unknown key; did you mean search? (allowed: space, hardware, tech, proxy, sampler"),
    ("serach.n_trials=5", "serach: unknown key; did you mean search? (allowed: space, hardware, tech, proxy, sampler"),
    ("hardware.rowz=5", "hardware.rowz: unknown key; did you mean hardware.rows? (allowed: rows, cols"),
    ("hardware=schema", "hardware: unknown option 'schema' (allowed: conventional, cosearch, default)"),
    ("+hardware.bogus=1", "hardware.bogus: unknown key (allowed: rows, cols"),
    ("search.n_trials", "search.n_trials"),
    ("storage=rdb", "storage.url: missing"),
    ("storage.path=/nonexistent-dir/s.journal", "storage.path: folder '/nonexistent-dir' does not exist"),
    ("sampler=annealing", "sampler: unknown option 'annealing' (allowed: gp, nsga2, nsga3, random, tpe)"),
    ("sampler.bogus=1", "sampler.bogus"),
    ("proxy.data=imagenet", "proxy.data: unknown data set 'imagenet'"),
    ("proxy.name=accuracy", "proxy.name: unknown proxy 'accuracy'"),
])
def test_bad_search_overrides_exit_2_with_one_line_and_leave_nothing(tmp_path, override, message, capsys,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    code, err = search_cli("proxy=params", "search.n_trials=1", override, f"hydra.run.dir={run_dir}", capsys=capsys)
    assert code == 2, (override, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err, (override, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_bad_value_in_one_job_of_a_sweep_stops_the_sweep_before_any_job(tmp_path, capsys):
    code, err = search_cli("-m", "proxy=params", "search.n_trials=1", "hardware.rows=8,-2",
                           f"hydra.sweep.dir={tmp_path / 'sweep'}", capsys=capsys)
    assert code == 2 and err.strip() == "nos-search: hardware.rows: must be a positive integer, got -2"
    assert not (tmp_path / "sweep").exists()


def test_errors_found_only_when_the_run_opens_leave_no_run_directory(tmp_path):
    """A study resumed under other settings is refused after Hydra made the run directory;
    the app removes what Hydra wrote (here: a second study name in a shared journal)."""
    journal = tmp_path / "shared.journal"
    first = run("search", "proxy=params", "search.n_trials=1", f"storage.path={journal}",
                f"hydra.run.dir={tmp_path / 'a'}")
    assert first.returncode == 0, first.stderr
    second = run("search", "proxy=params", "search.n_trials=1", "hardware.rows=32", f"storage.path={journal}",
                 f"hydra.run.dir={tmp_path / 'b'}")
    assert second.returncode == 2 and len(second.stderr.strip().splitlines()) == 1, second.stderr
    assert "hardware.rows=64 (now 32)" in second.stderr and not (tmp_path / "b").exists()
