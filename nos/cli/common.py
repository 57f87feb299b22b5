"""Shared plumbing of the Hydra apps: where the configs live, the structured-config schemas, and
the exit-code contract (0 success, 2 bad input with one line naming the key and the allowed
values and no traceback, 130 interrupted).

Before Hydra runs an app (and creates its output folder), :func:`run_app` composes the config
as Hydra will, with the command line's overrides (every value of a sweep), and checks it: an
unknown key (with the nearest allowed ones as a suggestion), a wrong type, an unknown
config-group option, a value the library refuses or an output folder that cannot be created or
written stops the app there, with nothing written.
"""
from __future__ import annotations

import dataclasses
import difflib
import itertools
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException

CONFIG_MODULE = "nos.conf"
CONFIG_PATH = f"pkg://{CONFIG_MODULE}"
MAX_PREFLIGHT = 64  # sweep combinations composed one by one; larger sweeps: each value once


def store_schema(name: str, node: type, groups: dict[str, type] | None = None) -> None:
    """Register ``node`` as config ``name`` (a primary config's first default) and each
    ``groups[group]`` as the config ``<group>_schema`` (a group file's first default,
    ``- /<group>_schema@_here_``; outside the group, so never offered as one of its options)."""
    cs = ConfigStore.instance()
    cs.store(name=name, node=node)
    for group, schema in (groups or {}).items():
        cs.store(name=f"{group}_schema", node=schema)


def fail(app: str, message: str) -> None:
    """Print ``app: message`` on one line to stderr and exit 2."""
    print(f"{app}: {message}", file=sys.stderr)
    sys.exit(2)


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def unknown_key(key: str, allowed: Sequence[str]) -> str:
    """One line for an unknown ``key`` (dotted): the nearest allowed key, then all of them."""
    prefix, _, name = key.rpartition(".")
    near = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
    hint = f"; did you mean {prefix + '.' if prefix else ''}{near[0]}?" if near else ""
    return f"{key}: unknown key{hint} (allowed: {', '.join(allowed)})"


def explain(err: BaseException) -> str:
    """One line for a Hydra or OmegaConf composition error: the key, what is wrong, the options."""
    for cause in _chain(err):
        if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and getattr(cause, "full_key", None) and \
                dataclasses.is_dataclass(getattr(cause, "object_type", None)) and "not in" in str(cause):
            return unknown_key(cause.full_key, [f.name for f in dataclasses.fields(cause.object_type)])
        if isinstance(cause, MissingConfigException) and cause.missing_cfg_file:
            group, _, option = cause.missing_cfg_file.rpartition("/")
            options = ", ".join(sorted(o for o in cause.options or () if o != "schema"))
            return f"{group or 'config'}: unknown option {option!r}" + (f" (allowed: {options})" if options else "")
        if isinstance(cause, MissingMandatoryValue) and getattr(cause, "full_key", None):
            return f"{cause.full_key}: missing; this config needs it set ({cause.full_key}=...)"
        if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
            message = first_line(cause) if cause.msg is None else cause.msg.strip().splitlines()[0]
            return f"{cause.full_key}: {message}"
    return first_line(err)


def _chain(err: BaseException) -> list[BaseException]:
    out = []
    while err is not None and err not in out:
        out.append(err)
        err = err.__cause__ or err.__context__
    return out


def unknown_keys(cfg: DictConfig, schema: type, prefix: str = "") -> list[str]:
    """One message per key of ``cfg`` that ``schema`` (a dataclass) and its typed children do not
    have (Hydra's ``+key=value`` adds keys even to a structured config)."""
    fields = [f.name for f in dataclasses.fields(schema)]
    out = []
    for key in cfg.keys():
        if key not in fields:
            out.append(unknown_key(f"{prefix}{key}", fields))
            continue
        child = cfg._get_node(key)
        child_type = OmegaConf.get_type(child) if isinstance(child, DictConfig) else None
        if child_type is not None and dataclasses.is_dataclass(child_type):
            out += unknown_keys(child, child_type, f"{prefix}{key}.")
    return out


def to_object(cfg: DictConfig, schema: type) -> Any:
    """The ``schema`` instance a composed config describes; ValueError on an unknown key."""
    unknown = unknown_keys(cfg, schema)
    if unknown:
        raise ValueError(unknown[0])
    return OmegaConf.to_object(cfg)


def _overrides(argv: Sequence[str]) -> list[list[str]] | None:
    """The override lists to check: one per sweep combination (or per swept value when there are
    too many); None when the command line asks Hydra for something else (help, info, shell)."""
    args = [a for a in argv if a not in ("-m", "--multirun")]
    if any(a.startswith("-") for a in args):
        return None
    parsed = OverridesParser.create().parse_overrides([a for a in args if not a.startswith(("hydra.", "hydra/"))])
    choices = [list(p.sweep_string_iterator()) if p.is_sweep_override() else [p.get_value_element_as_str()]
               for p in parsed]
    keys = [p.get_key_element() for p in parsed]
    combos = list(itertools.islice(itertools.product(*choices), MAX_PREFLIGHT + 1))
    if len(combos) > MAX_PREFLIGHT:
        first = [c[0] for c in choices]
        combos = [tuple(first[:i] + [v] + first[i + 1:]) for i, c in enumerate(choices) for v in c]
    return [[f"{k}={v}" for k, v in zip(keys, combo)] for combo in combos]


def check_writable(folder: str | Path, key: str) -> None:
    """Raise ValueError (``key: cannot write to <folder>: <reason>``) unless ``folder`` can be
    created (if missing) and written; what this check creates, it removes."""
    folder = Path(folder)
    created: list[Path] = []
    try:
        missing, parent = [], folder.absolute()
        while not os.path.lexists(parent):
            missing.append(parent)
            parent = parent.parent
        for path in reversed(missing):
            path.mkdir()
            created.append(path)
        if not folder.is_dir():
            raise NotADirectoryError(20, "not a directory")
        probe = folder / f".nos-probe-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"{key}: cannot write to {folder}: {err.strerror or err}") from None
    finally:
        for path in reversed(created):
            path.rmdir()


def _output_dir(config_name: str, argv: Sequence[str]) -> tuple[str, str]:
    """(key, folder) of the folder Hydra will create: ``hydra.run.dir``, or ``hydra.sweep.dir``
    for a multirun, as the command line sets it."""
    key = "hydra.sweep.dir" if any(a in ("-m", "--multirun") for a in argv) else "hydra.run.dir"
    overrides = [a for a in argv if a.startswith(("hydra.run.", "hydra.sweep."))]
    cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    return key, str(OmegaConf.select(cfg, key))


def preflight(app: str, config_name: str, argv: Sequence[str], check: Callable[[DictConfig], Any],
              output_dir: bool = False) -> None:
    """Compose ``config_name`` with the command line's overrides as Hydra will and ``check`` it
    (and, with ``output_dir``, that Hydra's run or sweep folder can be written); exit 2 with
    one line on the first problem, before Hydra creates anything."""
    try:
        override_sets = _overrides(argv)
    except HydraException as err:
        fail(app, f"{first_line(err)}: overrides take the form key=value (or group=option)")
    if override_sets is None:
        return
    GlobalHydra.instance().clear()
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        for overrides in override_sets:
            try:
                check(compose(config_name, overrides=overrides))
            except (HydraException, OmegaConfBaseException) as err:
                fail(app, explain(err))
            except (ValueError, TypeError) as err:
                fail(app, first_line(err))
        if output_dir:
            try:
                check_writable(*reversed(_output_dir(config_name, argv)))
            except (HydraException, OmegaConfBaseException) as err:
                fail(app, explain(err))
            except ValueError as err:
                fail(app, first_line(err))
    GlobalHydra.instance().clear()


def compose_config(config_name: str, schema: type, overrides: Sequence[str] = ()) -> Any:
    """The ``schema`` instance an app composes from ``config_name`` with ``overrides`` (the app's
    schemas must be registered first), without running it: for experiments and tests."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
            return to_object(compose(config_name, overrides=list(overrides)), schema)
    finally:
        GlobalHydra.instance().clear()


def run_app(app: str, hydra_main: Callable[[], Any], config_name: str | None = None,
            check: Callable[[DictConfig], Any] | None = None, output_dir: bool = False) -> None:
    """Check the command line (see :func:`preflight`), then run a ``@hydra.main`` function.
    Hydra's own errors exit 1 in Hydra; nos maps them to 2 like every bad input."""
    if check is not None:
        preflight(app, config_name, sys.argv[1:], check, output_dir)
    try:
        hydra_main()
    except SystemExit as exit_:
        sys.exit(2 if exit_.code == 1 else exit_.code)
    except KeyboardInterrupt:
        print(f"{app}: interrupted", file=sys.stderr)
        sys.exit(130)
