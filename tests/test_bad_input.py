"""Fuzzing the public inputs: every malformed input gives a clear ValueError (exit 2 for
CLIs), never another exception, a hang or a partial write."""
import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nos import zoo
from nos.arch import Arch, ArchError

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


@pytest.mark.parametrize("url", [
    "foo://nowhere",
    "sqlite:////nonexistent-dir/deeper/study.db",
    "postgresql+psycopg2://nobody@127.0.0.1:1/none",
    "not a url at all",
])
def test_unusable_storage_urls_exit_2_quickly(tmp_path, url):
    proc = subprocess.run([sys.executable, "-m", "nos.cli.search", f"storage.url={url}", "proxy=params",
                           "search.n_trials=1", f"hydra.run.dir={tmp_path}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "storage.url: cannot open" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "trials.csv").exists()


@pytest.mark.parametrize("override", ["search.n_trials=-1", "seed=abc", "constraints.latency_ms=-5",
                                      "search.objective=maximize", "search.latency_unit=s", "hardware.cols=0",
                                      "hardware.fuse=maybe", "space.kernels=[4]", "bogus=1", "search.n_trials"])
def test_bad_search_overrides_exit_2(tmp_path, override):
    proc = subprocess.run([sys.executable, "-m", "nos.cli.search", "proxy=params", "search.n_trials=1", override,
                           f"hydra.run.dir={tmp_path}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (override, proc.stderr)
    assert proc.stderr.strip() and "Traceback" not in proc.stderr
    assert not (tmp_path / "trials.csv").exists()
