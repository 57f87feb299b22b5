"""One export folder: an architecture in every form a user can take elsewhere.

``write_export`` writes, for one architecture:

* ``arch.json``: the spec plus what the search measured (schema :data:`SCHEMA`);
* ``model.py``: standalone PyTorch source (:mod:`nos.export.source`);
* ``model.pt2`` (format ``pt2``, the default): the network as a ``torch.export`` program (eval
  mode, input 1 x C x H x W at the arch's input size); it carries the weights;
* ``model.onnx`` (format ``onnx``, only when asked): the same through torch's ONNX exporter;
* ``weights.pt``: the state dict, only when no ``.pt2`` carries the weights;
* ``README.md``: the numbers, the size of each file and how to load it.

Weights are written only when asked for (``weights``: ``fresh``, ``trained`` or ``checkpoint``),
once per architecture (``model.pt2`` or ``weights.pt``; an ONNX model necessarily holds its own
copy); by default (``weights="none"``) the architecture alone is exported (``arch.json``,
``model.py``, ``README.md``), in a fraction of a second. Before anything is written for good,
``model.py`` is imported and checked: with weights, loaded with the network's state dict
(strict) it must give the network's output; without, its network must have the architecture's
parameter count. The folder appears in one ``rename``: it is built in a hidden sibling
directory first.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nos.arch import SCHEMA as ARCH_SCHEMA
from nos.arch import Arch, ArchError
from nos.network import build
from nos.export.runs import ExportError, SearchRun
from nos.export.source import model_source

from nos.search.record import TrialRecord

SCHEMA = "nos.export/1"
WEIGHTS = "weights.pt"
PT2 = "model.pt2"
FORMATS = ("pt2", "onnx")  # files besides arch.json, model.py and README.md
WEIGHT_MODES = ("none", "fresh", "trained", "checkpoint")  # none, seeded random, nos-train's, a state dict file
MODEL_TOLERANCE = 1e-5  # max abs difference allowed between model.py and nos.build outputs


def onnx_available() -> bool:
    """Whether torch's ONNX exporter can run here (needs the onnx and onnxscript packages)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxscript"))


def _network(arch: Arch, checkpoint: str | Path | None, seed: int) -> nn.Module:
    """``nos.build(arch)`` in eval mode, seeded, with the weights of ``checkpoint`` (a state dict
    file) if one is given."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = build(arch)
    if checkpoint is not None:
        path = Path(checkpoint)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise ExportError(f"checkpoint: {path} does not exist") from None
        except Exception as err:  # torch.load raises many types for a bad file
            raise ExportError(f"checkpoint: cannot read {path} as a state dict: {err}") from None
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise ExportError(f"checkpoint: {path} holds a {type(state).__name__}, expected a state dict")
        try:
            net.load_state_dict(state)
        except RuntimeError as err:
            raise ExportError(f"checkpoint: {path} does not fit {arch.name}: {err}") from None
    return net.eval()


def _import_file(path: Path) -> Any:
    """Import a Python file as a fresh module (never cached in ``sys.modules``)."""
    name = f"_nos_export_model_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def _check_model_py(path: Path, arch: Arch, net: nn.Module | None, example: torch.Tensor | None) -> None:
    """Raise unless ``model.py``'s network has ``arch``'s parameter count and, given ``net``,
    takes its state dict and gives its output on ``example``."""
    standalone = _import_file(path).build()
    count = sum(p.numel() for p in standalone.parameters())
    if count != arch.params():
        raise RuntimeError(f"model.py builds {count} parameters, the architecture has {arch.params()}")
    if net is None:
        return
    standalone.load_state_dict(net.state_dict())
    with torch.no_grad():
        diff = (standalone(example) - net(example)).abs().max().item()
    if not diff <= MODEL_TOLERANCE:
        raise RuntimeError(f"model.py gives outputs {diff:.3g} away from nos.build (tolerance {MODEL_TOLERANCE})")


def _record(arch: Arch, run: SearchRun | None, record: TrialRecord | None, weights: dict[str, Any],
            files: list[str]) -> dict[str, Any]:
    """The content of ``arch.json``."""
    info = run.info if run is not None else None
    e = record.evaluation if record is not None else None
    proxy = None
    if e is not None:
        proxy = {**(dict(info.proxy) if info is not None else {}), "score": e.proxy, "std": e.proxy_std}
    search = None
    if run is not None and record is not None:
        search = {"source": run.source, "study_name": run.study_name, "storage": run.storage,
                  "trial": record.number, "reference": record.reference, "feasible": record.feasible,
                  "pareto": record.number in run.pareto, "constraints": dict(e.constraints),
                  **({} if info is None else {"space": info.space, "space_options": dict(info.space_options),
                                              "objective": info.objective, "budgets": dict(info.budgets),
                                              "sampler": dict(info.sampler), "seed": info.seed})}
    return {
        "schema": SCHEMA,
        "name": arch.name,
        "arch": arch.to_dict(),
        "searched_arch": None if record is None or record.arch in (None, arch) else record.arch.to_dict(),
        "search": search,
        "hardware": e.hardware if e is not None and e.hardware is not None else
        (dict(info.hardware) if info is not None else None),
        "latency": None if e is None else {"cycles": e.latency_cycles, "ms": e.latency_ms,
                                           "model": info.latency_model if info is not None else "compute"},
        "energy_uj": None if e is None else e.energy_uj,
        "area_mm2": None if e is None else e.area_mm2,
        "proxy": proxy,
        "params": arch.params(),
        "macs": arch.macs(),
        "input_size": arch.input_size,
        "weights": weights,
        "files": files,
        "torch_version": torch.__version__,
    }


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


def _readme(record: dict[str, Any], arch: Arch, folder: Path) -> str:
    size = f"{arch.in_channels}x{arch.input_size}x{arch.input_size}"
    rows = [("parameters", f"{record['params']:,}"),
            (f"MACs (conv + linear, one {size} image)", f"{record['macs']:,}")]
    if record["latency"]:
        hardware = ", ".join(f"{k}={v}" for k, v in (record["hardware"] or {}).items())
        simulated = [("the array it was chosen for", hardware),
                     ("simulated latency", f"{record['latency']['cycles']:,} cycles = {record['latency']['ms']:.4g} ms")]
        if record.get("energy_uj") is not None:
            simulated.append(("simulated energy per inference", f"{record['energy_uj']:,.1f} uJ"))
        if record.get("area_mm2") is not None:
            simulated.append(("chip area of the array", f"{record['area_mm2']:.2f} mm^2"))
        rows[:0] = simulated
    if record["proxy"]:
        proxy = record["proxy"]
        label = proxy.get("label") or " ".join(str(proxy[k]) for k in ("name", "data") if proxy.get(k))
        score = "not computed (a budget was broken)" if proxy["score"] is None else f"{proxy['score']:.6g}"
        rows.append((f"proxy: {label}" if label else "proxy", score))
    search = record["search"]
    if search:
        rows.append(("feasible / Pareto member", f"{search['feasible']} / {search['pareto']}"))
    weights = record["weights"]
    rows.append(("weights", {"trained": f"trained by nos-train on {weights.get('data')}: "
                                        f"{weights.get('accuracy_pct', 0):.2f} % validation top-1",
                             "checkpoint": f"from checkpoint `{weights.get('checkpoint')}`",
                             "fresh": f"freshly initialised (seed {weights.get('seed')})",
                             "none": "none exported (architecture only)"}[weights["init"]]))
    origin = (f"trial {search['trial']} of study `{search['study_name']}` (search space "
              f"`{search.get('space')}`, run `{search['source']}`)" if search else "an architecture")
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    weights_file = weights.get("file")
    weights_arg = f'weights="{weights_file}"' if weights_file else ""
    lines = {
        "arch.json": "the spec and these numbers. `nos.load(\"<this folder>\")` rebuilds the network with nos "
                     "(with the exported weights); `nos.Arch.from_dict(json.load(f)[\"arch\"])` gives the spec.",
        "model.py": f"plain PyTorch, no nos needed: `from model import build; net = build({weights_arg})`. "
                    "`build(num_classes=N)` changes the classifier.",
        PT2: f"`torch.export.load(\"model.pt2\").module()`; eval mode, input batch 1 x {size} (fixed shape). "
             "Holds the weights.",
        "model.onnx": f"`onnxruntime.InferenceSession(\"model.onnx\")`; input `x`, float32 1 x {size}. "
                      "Holds its own copy of the weights.",
        WEIGHTS: f"the state dict; `torch.load(\"{WEIGHTS}\", weights_only=True)`.",
    }
    files = [f"- `{name}` ({_size(folder / name)}): {lines[name]}" for name in record["files"]
             if name in lines and (folder / name).exists()]
    return (f"# {arch.name}\n\nExported by nos from {origin}.\n\n| | |\n|---|---|\n{table}\n\n"
            "## Files\n\n" + "\n".join(files) + "\n- `README.md`: this file.\n\n"
            "## Architecture (nos compact text form)\n\n```\n" + arch.to_text() + "```\n")


def _write_into(folder: Path, arch: Arch, run: SearchRun | None, record: TrialRecord | None, weights: str,
                formats: tuple[str, ...], seed: int, state_file: Path | None) -> None:
    """Write every file of the export of ``arch`` into the existing empty ``folder``
    (``state_file``: the weights of ``weights="checkpoint"`` or ``"trained"``)."""
    title = f"{arch.name}: trial {record.number} of study {run.study_name}" if record and run else arch.name
    (folder / "model.py").write_text(model_source(arch, title))
    files = ["arch.json", "README.md", "model.py"]
    if weights == "none":
        _check_model_py(folder / "model.py", arch, None, None)
        init: dict[str, Any] = {"init": "none"}
    else:
        net = _network(arch, state_file, seed)
        example = torch.randn(1, arch.in_channels, arch.input_size, arch.input_size,
                              generator=torch.Generator().manual_seed(seed))
        _check_model_py(folder / "model.py", arch, net, example)
        if weights == "trained":
            t = record.trained
            init = {"init": "trained", "checkpoint": str(state_file), "data": t.data,
                    "accuracy_pct": t.accuracy_pct, "seed": t.seed, "budget": dict(t.budget)}
        else:
            init = {"init": "checkpoint", "checkpoint": str(state_file)} if weights == "checkpoint" else \
                {"init": "fresh", "seed": seed}
        init["file"] = PT2 if "pt2" in formats else WEIGHTS
        with warnings.catch_warnings():  # torch.export / onnx announce API changes on every call
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            program = torch.export.export(net, (example,)) if formats else None
            if "pt2" in formats:
                torch.export.save(program, folder / PT2)
                files.append(PT2)
            if "onnx" in formats:
                torch.onnx.export(program, (example,), folder / "model.onnx", dynamo=True, external_data=False,
                                  input_names=["x"], output_names=["logits"], verbose=False)
                files.append("model.onnx")
        if init["file"] == WEIGHTS:
            torch.save(net.state_dict(), folder / WEIGHTS)
            files.append(WEIGHTS)
    data = _record(arch, run, record, init, files)
    (folder / "arch.json").write_text(json.dumps(data, indent=1) + "\n")
    (folder / "README.md").write_text(_readme(data, arch, folder))


def check_options(weights: str | None, formats: Any, checkpoint: str | Path | None,
                  seed: int) -> tuple[str, tuple[str, ...]]:
    """Validate the export options; returns the weights mode and the formats.

    ``weights`` None means ``checkpoint`` when a checkpoint is given, else ``none``; ``formats``
    None means ``[pt2]`` when weights are exported, else none."""
    if weights is None:
        weights = "checkpoint" if checkpoint is not None else "none"
    if weights not in WEIGHT_MODES:
        raise ExportError(f"weights: unknown value {weights!r} (allowed: {', '.join(WEIGHT_MODES)})")
    if checkpoint is not None and weights != "checkpoint":
        raise ExportError(f"checkpoint: exports that file's weights, which weights={weights} contradicts; "
                          f"leave weights unset (or weights=checkpoint)")
    if weights == "checkpoint" and checkpoint is None:
        raise ExportError("checkpoint: missing; weights=checkpoint exports the state dict file checkpoint=<path>")
    if formats is None:
        formats = () if weights == "none" else ("pt2",)
    if isinstance(formats, str) or not all(f in FORMATS for f in formats):
        raise ExportError(f"formats: expected a list of {', '.join(FORMATS)}, got {formats!r}")
    formats = tuple(dict.fromkeys(formats))
    if weights == "none" and formats:
        raise ExportError(f"formats: {', '.join(formats)} hold(s) weights, and weights=none exports the architecture "
                          f"alone; give weights=fresh (seeded random), weights=trained or checkpoint=<file>")
    if "onnx" in formats and not onnx_available():
        raise ExportError("formats: onnx needs the onnx and onnxscript packages (pip install 'nos[onnx]')")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ExportError(f"seed: expected an integer, got {seed!r}")
    return weights, formats


def trained_weights(run: SearchRun, record: TrialRecord) -> Path:
    """The weights file ``nos-train`` wrote for a trial of ``run`` (a run directory)."""
    return Path(run.source) / record.trained.weights


def stage_export(staging: Path, name: str, arch: Arch, *, run: SearchRun | None = None,
                 record: TrialRecord | None = None, checkpoint: str | Path | None = None, weights: str | None = None,
                 formats: Any = None, seed: int = 0) -> Path:
    """Write the export of ``arch`` to ``staging/name`` (which must not exist) and return it.

    Args:
        run, record: the search run and trial ``arch`` comes from, for the recorded
            latency (cycles, ms), proxy value, hardware and search settings.
        checkpoint: a state-dict file (or a dict with a ``state_dict`` entry) whose weights to
            export; it must fit ``nos.build(arch)`` exactly.
        weights: ``none`` (the architecture alone: arch.json, model.py, README.md; the default
            without a checkpoint), ``fresh`` (seeded random weights, as ``nos.build`` initialises
            them), ``checkpoint`` (the default with one) or ``trained`` (``record.trained``:
            ``arch`` is the trained network, its weights the file ``nos-train`` wrote in ``run``).
        formats: among :data:`FORMATS`: ``pt2`` (the default when weights are exported) and
            ``onnx`` (only when asked); ``[]`` writes the weights to ``weights.pt``.
        seed: seed of the fresh initialisation and of the example input.
    """
    weights, formats = check_options(weights, formats, checkpoint, seed)
    state_file = None if checkpoint is None else Path(checkpoint)
    if weights == "trained":
        if run is None or record is None or record.trained is None:
            raise ExportError("weights: trained needs the trial's record with its training, and its run")
        state_file = trained_weights(run, record)
    elif record is not None and record.evaluation is not None and \
            (record.evaluation.params, record.evaluation.macs) != (arch.params(), arch.macs()):
        raise ExportError(f"trial {record.number}: recorded params {record.evaluation.params} and MACs "
                          f"{record.evaluation.macs} differ from its arch's {arch.params()} and {arch.macs()}; "
                          f"the run does not match the spec")
    folder = staging / name
    folder.mkdir()
    _write_into(folder, arch, run, record, weights, formats, seed, state_file)
    return folder


def commit(staged: Path, final: Path) -> None:
    """Move the staged folder to ``final``, replacing an older export there in one rename."""
    if final.exists():
        old = final.with_name(f".{final.name}.replaced-{uuid.uuid4().hex[:8]}")
        final.rename(old)
        staged.rename(final)
        shutil.rmtree(old)
    else:
        staged.rename(final)


def write_export(folder: str | Path, arch: Arch, **options: Any) -> Path:
    """Export ``arch`` to ``folder`` (replacing an older export there); all or nothing.

    ``options`` are those of :func:`stage_export`. Returns the folder.
    """
    final = Path(folder)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=final.parent))
    try:
        commit(stage_export(staging, final.name, arch, **options), final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def read_record(path: str | Path) -> dict[str, Any]:
    """The ``arch.json`` record of an export folder (or of the ``arch.json`` file itself).

    A plain architecture JSON (``Arch.to_json()``) is returned as a record with only
    ``schema``, ``name`` and ``arch``.
    """
    path = Path(path)
    file = path / "arch.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        raise ExportError(f"path: {file} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ExportError(f"path: cannot read {file} as JSON: {err}") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema == ARCH_SCHEMA:
        return {"schema": ARCH_SCHEMA, "name": data.get("name"), "arch": data}
    if schema != SCHEMA:
        raise ExportError(f"path: {file} has schema {schema!r} (supported: {SCHEMA}, {ARCH_SCHEMA})")
    return data


def load(path: str | Path) -> nn.Module:
    """The network of an export folder, its ``arch.json`` or a plain arch JSON file, in eval mode
    (BatchNorm uses its running statistics, dropout is off: ready for inference; call
    ``.train()`` to fine-tune it).

    Returns ``nos.build(arch)`` with the exported weights (from ``model.pt2`` or ``weights.pt``)
    when the export has them, otherwise freshly initialised.
    """
    path = Path(path)
    record = read_record(path)
    try:
        arch = Arch.from_dict(record["arch"])
    except ArchError as err:
        raise ExportError(f"path: bad arch in {path}: {err}") from None
    net = build(arch)
    weights = (record.get("weights") or {}).get("file")
    if weights:
        file = (path if path.is_dir() else path.parent) / weights
        state = torch.export.load(file).state_dict if weights == PT2 else \
            torch.load(file, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    return net.eval()
