"""``nos-supernet``: train the weight-sharing supernet of a search space into the supernet cache,
on one process or several (``torchrun ... -m nos.cli.supernet``, DDP: every process draws the same
path at each step; only the first writes files). ``nos-search proxy=supernet`` with the same
``space.*`` and ``proxy.*`` settings then reads it from the cache instead of training it.

Config: ``conf/supernet.yaml`` (schema :class:`SupernetConfig`; ``nos-supernet --help``). Bad input
exits 2 with one line on stderr before any training; a failed process of a distributed job prints
one line and exits 1. A killed training started again with the same command resumes from its
checkpoint (every ``checkpoint_every`` steps, beside the cache file).
"""
from __future__ import annotations

import logging
import shlex
import time
from dataclasses import dataclass, field

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from nos import proxies
from nos.cli.common import CONFIG_PATH, run_app, store_schema, to_object
from nos.cli.train import RuntimeSchema, runtime_of
from nos.proxies.data import for_proxy
from nos.proxies.supernet import CHECKPOINT_EVERY, Supernet, default_budget, default_recipe, train_supernet
from nos.run.config import ProxyConfig, SpaceConfig
from nos.run.progress import StepProgress
from nos.train import as_budget, distributed
from nos.train.loop import check_every
from nos.train.runtime import default_threads, threads
from search_spaces import get_space

APP = "nos-supernet"


@dataclass
class SupernetConfig:
    """``conf/supernet.yaml``: the space, the supernet proxy's settings (the keys of ``nos-search
    proxy=supernet``), checkpoints, and the runtime."""

    space: SpaceConfig = field(default_factory=SpaceConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    checkpoint_every: int = CHECKPOINT_EVERY  # steps between checkpoints
    runtime: RuntimeSchema = field(default_factory=RuntimeSchema)  # nos.train.Runtime


def _supernet(c: SupernetConfig) -> Supernet:
    if c.proxy.name not in proxies.SUPERNETS:
        raise ValueError(f"proxy: {APP} trains the weights of proxy={' or '.join(proxies.SUPERNETS)}, "
                         f"got proxy={c.proxy.name}")
    space = get_space(c.space.name, **c.space.options())
    return Supernet(space.base, space.operator_choices)


def _budget(c: SupernetConfig) -> proxies.Budget:
    """The budget ``nos-search proxy=supernet`` trains with: ``proxy.budget`` over the data set's default."""
    try:
        return as_budget(c.proxy.budget.fields(), default_budget(c.proxy.data))
    except (TypeError, ValueError) as err:
        raise ValueError(f"proxy.{err}") from None


def _check(cfg: DictConfig) -> None:
    """The space, the data set, the budget and the runtime on this machine, before any training."""
    c = to_object(cfg, SupernetConfig)
    _supernet(c)
    budget = _budget(c)
    check_every(c.checkpoint_every)
    runtime = runtime_of(c.runtime)
    if runtime.compile:
        raise ValueError("runtime.compile: the supernet changes its path every step; compile trains fixed "
                         "networks (nos-train)")
    runtime.resolve(distributed.launched().local_rank)
    try:
        for_proxy(c.proxy.data, budget.resolution, c.proxy.root)
    except ValueError as err:
        raise ValueError(f"proxy.{err}") from None


def _search_command(proxy: str) -> str:
    """The nos-search command that reads this supernet: ``proxy`` (``supernet`` or
    ``supernet_loss``) and this command line's space and proxy keys."""
    kept = [o for o in HydraConfig.get().overrides.task if o.split("=")[0].lstrip("+~").startswith(("space", "proxy."))]
    return " ".join(["nos-search", f"proxy={proxy}", *map(shlex.quote, kept)])


@hydra.main(config_path=CONFIG_PATH, config_name="supernet", version_base="1.3")
def _train(cfg: DictConfig) -> None:
    c = to_object(cfg, SupernetConfig)
    runtime, world, p = runtime_of(c.runtime), distributed.launched(), c.proxy
    supernet, budget, start = _supernet(c), _budget(c), time.monotonic()
    try:
        device = runtime.resolve(world.local_rank).device
        with threads(runtime.threads or default_threads()), distributed.joined(device):
            data = for_proxy(p.data, budget.resolution, p.root)  # what the search's supernet proxy trains on
            trained = train_supernet(supernet, data, p.seed, budget, p.cache_path(),
                                     StepProgress("supernet training") if world.main else None,
                                     runtime=runtime, checkpoint_every=c.checkpoint_every)
    except ValueError as err:
        distributed.fail(APP, ValueError(str(err) if str(err).startswith("runtime.") else f"proxy.{err}"), 2)
    except Exception as err:  # a distributed job: one line from the failed process, not a traceback each
        if world.size == 1:
            raise
        distributed.fail(APP, err, 1)
    if world.main:
        done = "read from the cache" if trained.from_cache else f"trained in {time.monotonic() - start:.0f} s"
        steps = budget.total_steps(trained.dataset.size("train"))
        steps += default_recipe(p.data).parent_steps(steps)  # the parent's own steps first, where the recipe has them
        print(f"supernet of space {c.space.name} on {p.data} (seed {p.seed}, {steps} steps): {done}; "
              f"cache: {p.cache_path()}")
        print(f"Search with it: {_search_command(p.name)}")


def register() -> None:
    """Register this app's structured-config schemas with Hydra (done by :func:`main`, never at import)."""
    store_schema("supernet_schema", SupernetConfig)


def main() -> None:
    register()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run_app(APP, _train, "supernet", _check)


if __name__ == "__main__":
    main()
