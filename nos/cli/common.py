"""Shared plumbing of the Hydra apps: where the configs live, the structured-config schemas, and
the exit-code contract (0 success, 2 bad input with one line naming the key and the allowed
values and no traceback, 130 interrupted).

Before Hydra runs an app (and creates its output folder), :func:`run_app` composes the config
as Hydra will, with the command line's overrides (every value of a sweep), and checks it: an
unknown key, a wrong type, an unknown config-group option or a value the library refuses stops
the app there, with nothing written.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
import sys
from typing import Any, Callable, Sequence

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

CONFIG_MODULE = "nos.conf"
CONFIG_PATH = f"pkg://{CONFIG_MODULE}"
MAX_PREFLIGHT = 64  # sweep combinations composed one by one; larger sweeps: each value once


def store_schema(name: str, node: type, groups: dict[str, type] | None = None) -> None:
    """Register ``node`` as config ``name`` (a primary config's first default) and each
    ``groups[group]`` as that group's ``schema`` option (a group file's first default)."""
    cs = ConfigStore.instance()
    cs.store(name=name, node=node)
    for group, schema in (groups or {}).items():
        cs.store(group=group, name="schema", node=schema)


def fail(app: str, message: str) -> None:
    """Print ``app: message`` on one line to stderr and exit 2. Under ``torchrun`` every process
    checks the same command line, so only the first one (RANK 0) prints it."""
    if os.environ.get("RANK", "0") == "0":
        print(f"{app}: {message}", file=sys.stderr)
    sys.exit(2)


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def explain(err: BaseException) -> str:
    """One line for a Hydra or OmegaConf composition error: the key, what is wrong, the options."""
    for cause in _chain(err):
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
            out.append(f"{prefix}{key}: unknown key (allowed: {', '.join(fields)})")
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


def preflight(app: str, config_name: str, argv: Sequence[str], check: Callable[[DictConfig], Any]) -> None:
    """Compose ``config_name`` with the command line's overrides as Hydra will and ``check`` it;
    exit 2 with one line on the first problem, before Hydra creates anything."""
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
    GlobalHydra.instance().clear()


def run_app(app: str, hydra_main: Callable[[], Any], config_name: str | None = None,
            check: Callable[[DictConfig], Any] | None = None) -> None:
    """Check the command line (see :func:`preflight`), then run a ``@hydra.main`` function.
    Hydra's own errors exit 1 in Hydra; nos maps them to 2 like every bad input."""
    if check is not None:
        preflight(app, config_name, sys.argv[1:], check)
    try:
        hydra_main()
    except SystemExit as exit_:
        sys.exit(2 if exit_.code == 1 else exit_.code)
    except KeyboardInterrupt:
        print(f"{app}: interrupted", file=sys.stderr)
        sys.exit(130)
