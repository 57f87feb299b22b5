"""Packaging and hygiene: a wheel installed in a fresh virtual environment runs every app with its
shipped configs; importing nos changes no process state; imports run downward and form no cycle."""
import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from apps import run
from conftest import checkout_state

ROOT = Path(__file__).resolve().parents[1]
# DESIGN.md's floors (nos.train, the training engine, between the proxies that use it and the builder):
# a module may import only modules of a lower or equal floor
FLOORS = {"nos.cli": 8, "nos.run": 7, "nos.report": 6, "nos.export": 6, "search_spaces": 6, "nos.search": 5,
          "nos.proxies": 4, "nos.train": 3.5, "nos.network": 3, "nos.ops": 2, "nos.zoo": 2, "nos.sim": 2, "nos.arch": 1, "nos.tree": 0}


def floor(module: str) -> int | None:
    matches = [(len(p), f) for p, f in FLOORS.items() if module == p or module.startswith(p + ".")]
    return max(matches)[1] if matches else None


def module_imports() -> dict[str, set[str]]:
    """Module name -> the project modules it imports (``from a import b`` counts ``a`` and ``a.b``)."""
    files = {}
    for package in ("nos", "search_spaces"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "conf" in path.relative_to(ROOT).parts[:2]:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        graph[name] = {m for m in found if m in files and m != name}
    return graph


def test_imports_run_downward_and_form_no_cycle():
    graph = module_imports()
    upward = [f"{m} -> {d}" for m, deps in graph.items() for d in deps
              if floor(m) is not None and floor(d) is not None and floor(d) > floor(m)]
    assert upward == []
    cycles = [f"{a} <-> {b}" for a, deps in graph.items() for b in deps
              if a in graph.get(b, ()) and not a.startswith(b + ".") and not b.startswith(a + ".")]
    assert cycles == []
    search = {d for m, deps in graph.items() if m.startswith("nos.search") for d in deps}
    assert not {d for d in search if d.startswith(("nos.report", "search_spaces", "nos.run"))}
    assert graph["nos.tree"] == set()  # the floor every module may use imports nothing of nos


def test_the_light_rooms_load_no_heavy_library_and_the_package_face_is_lazy():
    code = textwrap.dedent("""
        import sys
        import nos.arch, nos.sim, nos.zoo
        heavy = [m for m in ("torch", "optuna", "matplotlib", "hydra") if m in sys.modules]
        assert not heavy, f"importing nos.arch, nos.sim, nos.zoo loaded {heavy}"
        import nos
        arch = nos.zoo.get("mobilenet_v2", "fuse_half")
        assert nos.proxies.predict(arch).mean > 0  # nos.<subpackage> after a plain import nos
        assert nos.sim.simulate(arch, nos.sim.Hardware()).total_cycles > 0
        model = nos.build(arch)  # loads torch now, and stays the function once nos.network is imported
        import nos.network
        assert callable(nos.build) and nos.build is nos.network.build and type(model).__name__ == "Network"
        assert nos.export.load is nos.load and nos.search.__name__ == "nos.search"
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_importing_nos_changes_no_process_state():
    code = textwrap.dedent("""
        import os, matplotlib
        os.umask(0o027)
        backend = dict.__getitem__(matplotlib.rcParams, "backend")
        import nos, nos.report.files, nos.report.figures, nos.report.tensorboard, nos.report.sweep, nos.run
        import nos.cli.search, nos.cli.sim, nos.cli.export, nos.cli.train, nos.cli.zoo, nos.search.study
        from hydra.core.config_store import ConfigStore
        stored = [name for name in ConfigStore.instance().repo if name.endswith("_schema.yaml")]
        assert not stored, f"schemas registered at import: {stored}"
        assert os.umask(0o022) == 0o027, "umask changed"
        assert dict.__getitem__(matplotlib.rcParams, "backend") == backend, "backend switched"
        print("ok")
    """)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_the_worker_id_is_the_process_that_asks():
    from nos.search.study import worker_id

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports what it computes, then leaves at once
        os.write(write, f"{worker_id()} {os.getpid()}".encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_id, child_pid = os.read(read, 200).decode().split()
    assert child_id.endswith(f":{child_pid}") and worker_id().endswith(f":{os.getpid()}")


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    """A new virtual environment with nos installed from a wheel (not editable) built from a copy
    of the checkout (a build in the checkout would leave build/ there); the dependencies come
    from this environment's site-packages through a .pth file, so nothing is downloaded but the
    wheel's build backend."""
    root = tmp_path_factory.mktemp("venv")
    source = root / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", "outputs", "multirun"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(root / "dist"), str(source)],
                   check=True, capture_output=True, timeout=600)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python*/site-packages"))
    deps = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "torch").is_dir())
    (site / "nos-deps.pth").write_text(deps + "\n")
    (wheel,) = (root / "dist").glob("nos-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", str(wheel)], check=True, capture_output=True, timeout=600)
    return venv


HELP_OF_EVERY_APP = textwrap.dedent("""
    import sys
    from importlib.metadata import entry_points
    for ep in entry_points(group="console_scripts"):
        if ep.name in ("nos-export", "nos-train", "nos-supernet", "nos-zoo"):
            sys.argv = [ep.name, "--help"]
            try:
                ep.load()()
            except SystemExit as exit_:
                assert exit_.code in (0, None), (ep.name, exit_.code)
""")


def test_a_wheel_in_a_fresh_venv_runs_every_app(fresh_venv, tmp_path):
    bin_dir = fresh_venv / "bin"
    where = subprocess.run([bin_dir / "python", "-c", "import nos; print(nos.__file__)"], capture_output=True,
                           text=True, cwd=tmp_path, check=True).stdout
    assert where.startswith(str(fresh_venv))  # the installed copy, not the checkout
    search = subprocess.run([bin_dir / "nos-search", "search.n_trials=5", "proxy=params", "hardware.rows=16",
                             "hardware.cols=16", f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=600)
    assert search.returncode == 0, search.stderr
    assert (tmp_path / "run" / "report.md").exists() and (tmp_path / "run" / "pareto.json").exists()
    sim = subprocess.run([bin_dir / "nos-sim", "network=mobilenet_v2", "variant=fuse_half", "output=json"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    from nos import sim as simulator, zoo

    expected = simulator.simulate(zoo.get("mobilenet_v2", "fuse_half")).total_cycles
    assert sim.returncode == 0 and f'"total_cycles": {expected},' in sim.stdout, sim.stderr
    helps = subprocess.run([bin_dir / "python", "-c", HELP_OF_EVERY_APP], capture_output=True, text=True,
                           cwd=tmp_path, timeout=300)  # the other entry points, in one process
    assert helps.returncode == 0, helps.stderr
    for app in ("nos-export:", "nos-train:", "nos-supernet:", "usage: nos-zoo"):
        assert app in helps.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # the apps wrote only where they were told


def test_the_apps_write_nothing_into_the_working_directory(monkeypatch, tmp_path):
    """Run from the checkout itself, every app leaves it as it was (nos-search writes its run
    directory where hydra.run.dir says, the others write nothing unless told)."""
    monkeypatch.chdir(ROOT)
    before = checkout_state()
    assert run("sim", "network=mobilenet_v2", "output=json").returncode == 0
    assert run("zoo", "mobilenet_v2").returncode == 0
    assert run("export", "--help").returncode == 0
    assert run("train", "run_dir=/nonexistent-run").returncode == 2
    assert run("search", "search.n_trials=1", "proxy=params", f"hydra.run.dir={tmp_path / 'run'}").returncode == 0
    assert (tmp_path / "run" / "report.md").exists()
    assert checkout_state() == before
