"""Weight-sharing supernet: train once per (space, data set, seed, budget), read many candidates.

A :class:`Supernet` describes an operator space the way ``nos.search.space.BackboneSpace``
does -- a base :class:`nos.arch.Arch` whose blocks each pick an operator and optionally a
kernel and an expansion ratio -- and, once trained, holds one set of weights for every
candidate block (single-path one-shot, SPOS: Guo et al., ECCV 2020). Every block of the
supernet is a ``ModuleDict`` with one :class:`nos.ops.OperatorBlock` per distinct choice;
stem and head are shared. Training first trains the first path (each block's first choice,
e.g. the all-``dw`` network): for :data:`WARMUP_FRACTION` of the steps, or, with a
:class:`Recipe` that has a parent, as a network of its own first; then it starts every other
candidate from it and samples one path uniformly per step (each choice with the probability
the space's uniform sampler gives it), updating only that path, distilled from the trained
parent where the recipe says so (:data:`RECIPES`: the measured choice per data set).

A candidate's accuracy is read, not trained: its path inherits the weights, the BatchNorm
statistics of every layer on the path are re-estimated on a fixed set of training images
(:data:`CALIBRATION_IMAGES`), and the validation split is evaluated. Recalibration resets the
path's statistics first, so a candidate's accuracy does not depend on which candidates were
read before it.

:func:`train_supernet` caches the trained weights under ``cache_dir`` in a file named by a
hash of everything that determines them (space, data set content, seed, budget); the file
also records that key, and a file whose key differs is refused with an error naming the
first differing field. Writes are atomic (temporary file + rename) and a lock file
serialises workers, so concurrent workers train once and all read the same weights. While it
trains, a checkpoint beside the cache file (``.ckpt``, every :data:`CHECKPOINT_EVERY` steps)
lets a killed training resume where it was. Under ``torchrun`` every process trains (DDP, the
same path in every process at each step) and only the first one reads and writes files.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nos.arch import Arch, Block, OperatorChoices
from nos.network import Network, init_weights
from nos.ops import Depthwise, FullConv, FuSeFull, FuSeHalf, OperatorBlock
from nos.proxies.data import Dataset, load
from nos.proxies.train import Budget, as_budget, fit, measure
from nos.train import Checkpointing, Runtime, distributed
from nos.train import checkpoint as files
from nos.tree import differences, lookup

CACHE_SCHEMA = "nos.supernet/2"  # 2: first-path warm-up, then aligned candidates
WARMUP_FRACTION = 0.3  # share of the training steps spent on the first path (see _train)
CALIBRATION_IMAGES = 512  # training images that re-estimate a candidate's BatchNorm statistics
CALIBRATION_BATCH = 128
CHECKPOINT_EVERY = 500  # steps between the checkpoints of a supernet trained into a cache
@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a supernet is trained, besides its :class:`Budget`.

    Attributes:
        parent: 0: the first :data:`WARMUP_FRACTION` of the budget's steps train the first path
            (each block's first choice, e.g. the all-``dw`` network), inside the budget's one
            schedule. More: first the parent (the first path) trains on a schedule of its own for
            this fraction of the budget's steps (0.25: 1,500 steps before a budget of 6,000), then
            every candidate starts from it and the budget's steps train sampled paths (the
            scaffolding of the FuSeConv authors' follow-up, arXiv 2108.11441).
        distill: with a parent: weight ``a`` of the distillation from the trained parent's
            logits in each sampled path's loss, ``(1 - a) CE + a T^2 KL(parent || path)``; 0: none.
        temperature: ``T`` of the distillation (softened logits of parent and path).
    """

    parent: float = 0.0
    distill: float = 0.0
    temperature: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.parent, bool) or not isinstance(self.parent, (int, float)) or not 0 <= self.parent <= 10:
            raise ValueError(f"parent: expected a fraction of the budget's steps in [0, 10], got {self.parent!r}")
        if not 0.0 <= self.distill < 1.0 or (self.distill and not self.parent):
            raise ValueError(f"distill: expected a weight in [0, 1), and a parent to distil from "
                             f"(parent > 0); got distill={self.distill!r}, parent={self.parent}")
        if not self.temperature > 0:
            raise ValueError(f"temperature: expected a positive number, got {self.temperature!r}")

    def parent_steps(self, steps: int) -> int:
        """The parent's training steps before a budget of ``steps`` sampled-path steps (0: none)."""
        return max(1, round(self.parent * steps)) if self.parent else 0


DEFAULT_BUDGET = Budget(epochs=40, batch_size=32, width=0.125, resolution=32)
"""The supernet budget of a data set without its own entry in :data:`BUDGETS` (about 1,800 steps on digits)."""
BUDGETS: dict[str, Budget] = {"fashion_mnist": Budget(steps=6000, batch_size=128, width=0.25, resolution=28)}
"""Per data set: the budget ``experiments/results/proxies_fashion_mnist.md`` measured."""

RECIPES: dict[str, Recipe] = {"fashion_mnist": Recipe(parent=0.25, distill=0.5)}
"""Per data set: the recipe ``experiments/results/proxies_fashion_mnist.md`` chose (others: ``Recipe()``)."""


def _data_key(data: str | Dataset) -> str:
    return data.name.split("/")[0] if isinstance(data, Dataset) else data


def default_budget(data: str | Dataset) -> Budget:
    """The supernet budget of data set ``data`` (a name or a loaded :class:`Dataset`)."""
    return BUDGETS.get(_data_key(data), DEFAULT_BUDGET)


def default_recipe(data: str | Dataset) -> Recipe:
    """The supernet recipe of data set ``data`` (a name or a loaded :class:`Dataset`)."""
    return RECIPES.get(_data_key(data), Recipe())


def default_cache_dir() -> Path:
    """Where trained supernets are cached unless told otherwise: ``$XDG_CACHE_HOME/nos/supernets``
    (``~/.cache/nos/supernets``); shared by runs and workers."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nos" / "supernets"
# Block fields a candidate must share with the base (op, kernel and exp are the choices).
FIXED_FIELDS = tuple(f.name for f in dataclasses.fields(Block) if f.name not in ("op", "kernel", "exp"))


def _choice_key(block: Block) -> str:
    """The ModuleDict key of a candidate block (full-width widths)."""
    return f"{block.op}_k{block.kernel}_e{block.exp}"


class PathBlocks(nn.ModuleList):
    """The supernet's blocks: one ``ModuleDict`` of candidate blocks per position; the
    forward pass runs the candidates named by :attr:`path` (one key per position)."""

    def __init__(self, choices: Sequence[nn.ModuleDict]):
        super().__init__(choices)
        self.path: tuple[str, ...] = ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.path) != len(self):
            raise RuntimeError(f"path: set one choice per block ({len(self)}), got {len(self.path)}")
        for choices, key in zip(self, self.path):
            x = choices[key](x)
        return x


class Supernet:
    """An operator space and, once trained by :func:`train_supernet`, its shared weights.

    Args:
        base: the backbone; every block keeps its stride, output width, SE, activation and
            flags, and picks its operator (and kernel, expansion) from ``choices``.
        choices: what each block may choose (the search space's ``operator_choices``).

    ``options[i]`` lists every block position ``i`` can hold (:meth:`OperatorChoices.options`).
    """

    def __init__(self, base: Arch, choices: OperatorChoices = OperatorChoices()):
        if not isinstance(base, Arch):
            raise TypeError(f"base: expected a nos.Arch, got {type(base).__name__}")
        if not isinstance(choices, OperatorChoices):
            raise TypeError(f"choices: expected a nos.arch.OperatorChoices, got {type(choices).__name__}")
        self.base, self.choices = base, choices
        self.options: list[tuple[Block, ...]] = [choices.options(base, i) for i in range(len(base.blocks))]
        self._net: Network | None = None
        self.dataset: Dataset | None = None
        self.calibration: torch.Tensor | None = None
        self.budget: Budget | None = None
        self.seed: int | None = None
        self.from_cache = False

    @classmethod
    def around(cls, arch: Arch, choices: OperatorChoices = OperatorChoices()) -> Supernet:
        """The supernet of ``arch``'s operator space: its backbone (every field but the blocks'
        operators) with each block free to take ``choices``; every architecture of one space
        gives the same supernet (and cache entry)."""
        if not isinstance(arch, Arch):
            raise TypeError(f"arch: expected a nos.Arch, got {type(arch).__name__}")
        blocks = tuple(dataclasses.replace(b, op=choices.ops[0], dead_expand=False) for b in arch.blocks)
        return cls(dataclasses.replace(arch, name="supernet", blocks=blocks), choices)

    # ---------------------------------------------------------------- the space
    @property
    def key(self) -> dict[str, Any]:
        """What identifies the space (the base's name, input size and class count excluded)."""
        base = self.base.to_dict()
        for field in ("name", "input_size", "num_classes"):
            base.pop(field)
        c = self.choices
        return {"base": base, "ops": list(c.ops), "kernels": list(c.kernels) if c.kernels else None,
                "expansions": list(c.expansions) if c.expansions else None}

    @property
    def size(self) -> int:
        """Number of distinct architectures in the space."""
        count = 1
        for options in self.options:
            count *= len(set(options))
        return count

    def path(self, arch: Arch) -> tuple[str, ...]:
        """The candidate block keys of ``arch``; a ValueError names the block and field that
        put ``arch`` outside the space. A block's ``dead_expand`` (a conv that is never called)
        does not change what the network computes, so it is ignored."""
        if not isinstance(arch, Arch):
            raise TypeError(f"arch: expected a nos.Arch, got {type(arch).__name__}")
        base = self.base
        for field in ("stem", "head", "in_channels"):
            if getattr(arch, field) != getattr(base, field):
                raise ValueError(f"arch.{field}: {getattr(arch, field)!r} differs from the supernet's "
                                 f"{getattr(base, field)!r}")
        if len(arch.blocks) != len(base.blocks):
            raise ValueError(f"arch.blocks: {len(arch.blocks)} blocks, the supernet has {len(base.blocks)}")
        keys = []
        for i, (block, options) in enumerate(zip(arch.blocks, self.options)):
            block = dataclasses.replace(block, dead_expand=False) if block.dead_expand else block
            for field in FIXED_FIELDS + ("op", "kernel", "exp"):
                allowed = list(dict.fromkeys(getattr(b, field) for b in options))
                if getattr(block, field) not in allowed:
                    raise ValueError(f"arch.blocks[{i}].{field}: {getattr(block, field)!r} is not a choice of "
                                     f"the supernet (allowed: {', '.join(map(str, allowed))})")
            if block not in options:
                raise ValueError(f"arch.blocks[{i}]: op {block.op} with kernel {block.kernel} and exp {block.exp} "
                                 f"is not a combination the supernet holds")
            keys.append(_choice_key(block))
        return tuple(keys)

    # ---------------------------------------------------------------- weights
    @property
    def trained(self) -> bool:
        return self._net is not None

    @property
    def module(self) -> Network:
        """The trained supernet module (a :class:`nos.network.Network` whose ``blocks`` are
        :class:`PathBlocks`)."""
        if self._net is None:
            raise RuntimeError("supernet: not trained; use train_supernet(...) first")
        return self._net

    def _build(self, dataset: Dataset, budget: Budget) -> Network:
        """The untrained supernet module at ``budget.width`` with the data set's class count;
        candidate blocks are width-scaled exactly as ``Arch.scaled`` scales a candidate."""
        base = dataclasses.replace(self.base, num_classes=dataset.num_classes)
        if base.in_channels != dataset.channels:
            raise ValueError(f"in_channels: the supernet takes {base.in_channels} channels, "
                             f"data set {dataset.name!r} has {dataset.channels}")
        scaled = base.scaled(budget.width)
        net = Network(scaled, dataset.num_classes)
        choices = []
        for i, options in enumerate(self.options):
            modules = {}
            for block in options:
                candidate = dataclasses.replace(base, blocks=base.blocks[:i] + (block,) + base.blocks[i + 1:])
                modules[_choice_key(block)] = OperatorBlock(candidate.scaled(budget.width).blocks[i],
                                                            scaled.in_channels_of(i))
            choices.append(nn.ModuleDict(modules))
        net.blocks = PathBlocks(choices)
        init_weights(net)
        return net

    def _bind(self, net: Network, dataset: Dataset, budget: Budget, seed: int, from_cache: bool) -> Supernet:
        """A trained copy of this space holding ``net``."""
        trained = Supernet(self.base, self.choices)
        trained._net, trained.dataset, trained.budget, trained.seed = net, dataset, budget, seed
        generator = torch.Generator().manual_seed(seed)
        count = min(CALIBRATION_IMAGES, dataset.size("train"))
        trained.calibration = torch.randperm(dataset.size("train"), generator=generator)[:count]
        trained.from_cache = from_cache
        return trained

    def _sampler(self, seed: int) -> Iterator[tuple[str, ...]]:
        """Uniformly random paths (one choice per block, as the space samples), seeded."""
        generator = torch.Generator().manual_seed(seed)
        while True:
            picks = [torch.randint(len(options), (1,), generator=generator).item() for options in self.options]
            yield tuple(_choice_key(options[j]) for options, j in zip(self.options, picks))

    def accuracy(self, arch: Arch) -> float:
        """Validation top-1 accuracy (%) of ``arch`` with inherited weights and BatchNorm
        statistics re-estimated on the supernet's calibration images."""
        return self.validation(arch)[0]

    @torch.no_grad()
    def validation(self, arch: Arch) -> tuple[float, float]:
        """(validation top-1 in %, mean validation cross-entropy in nats) of ``arch`` with inherited
        weights and BatchNorm statistics re-estimated on the supernet's calibration images."""
        if self._net is None:
            raise RuntimeError("supernet: not trained; use train_supernet(...) first")
        net, dataset = self._net, self.dataset
        net.blocks.path = self.path(arch)
        norms = [m for m in self._path_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [bn.momentum for bn in norms]
        net.eval()  # dropout off; only the path's BatchNorms run in training mode
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration batches
            bn.train()
        for start in range(0, len(self.calibration), CALIBRATION_BATCH):
            net(dataset.images("train", self.calibration[start:start + CALIBRATION_BATCH]))
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
        top1, loss = measure(net, dataset)
        return 100.0 * top1, loss

    def _path_modules(self) -> Iterator[nn.Module]:
        """Modules on the current path: the chosen candidates, stem and head."""
        net = self._net
        for choices, key in zip(net.blocks, net.blocks.path):
            yield from choices[key].modules()
        for name, child in net.named_children():
            if name != "blocks":
                yield from child.modules()


@torch.no_grad()
def _align(candidates: nn.ModuleDict) -> None:
    """Start every other candidate of a block from the first one's weights, so that all paths
    compute nearly the function the first path learnt (see :func:`_train`).

    Each candidate copies the first one's expansion and projection convs and BatchNorms and its
    squeeze-excite where the widths agree (a ``fuse_full`` projection sees the two halves, each
    with half the weight), and its spatial stage starts from the first one's depthwise kernel: a ``dw`` of another size gets it cropped
    or zero-padded, ``full`` gets it on the diagonal (the same function), ``fuse_half`` and
    ``fuse_full`` get its middle row (1xK) and middle column (Kx1). A block whose first
    candidate is not ``dw``, or an expansion of another width, keeps its own initialisation.
    """
    first, *others = candidates.values()
    if not isinstance(first.stage, Depthwise):
        return
    kernel = first.stage.conv[0].weight  # (C, 1, k, k)
    for other in others:
        for name in ("expand", "se", "project"):
            mine, theirs = getattr(first, name), getattr(other, name)
            if mine is None or theirs is None:
                continue
            if all(a.shape == b.shape for a, b in zip(mine.state_dict().values(), theirs.state_dict().values())):
                theirs.load_state_dict(mine.state_dict())
            elif name == "project" and theirs[0].weight.shape[1] == 2 * mine[0].weight.shape[1]:
                theirs[0].weight.copy_(torch.cat([mine[0].weight, mine[0].weight], dim=1) / 2)
                theirs[1].load_state_dict(mine[1].state_dict())
        stage, bn = other.stage, first.stage.conv[1].state_dict()
        if isinstance(stage, (Depthwise, FullConv)):
            target = stage.conv[0].weight
            target.zero_()
            crop = _fit(kernel[:, 0], target.shape[-1])
            if isinstance(stage, Depthwise):
                target[:, 0] = crop
            else:
                target[torch.arange(len(crop)), torch.arange(len(crop))] = crop
            stage.conv[1].load_state_dict(bn)
        elif isinstance(stage, (FuSeHalf, FuSeFull)):
            middle = _fit(kernel[:, 0], stage.row[0].weight.shape[-1])
            row, col = middle[:, middle.shape[1] // 2, :], middle[:, :, middle.shape[2] // 2]
            channels = slice(0, stage.half) if isinstance(stage, FuSeHalf) else slice(None)
            rest = slice(stage.half, None) if isinstance(stage, FuSeHalf) else slice(None)
            stage.row[0].weight.copy_(row[channels, None, None, :])
            stage.col[0].weight.copy_(col[rest, None, :, None])
            for part, where in ((stage.row[1], channels), (stage.col[1], rest)):
                part.load_state_dict({key: value[where] if value.ndim else value for key, value in bn.items()})


def _fit(kernels: torch.Tensor, size: int) -> torch.Tensor:
    """Square kernels (C, k, k) centre-cropped or zero-padded to (C, size, size)."""
    k = kernels.shape[-1]
    if size <= k:
        start = (k - size) // 2
        return kernels[:, start:start + size, start:start + size].clone()
    out = kernels.new_zeros(kernels.shape[0], size, size)
    start = (size - k) // 2
    out[:, start:start + k, start:start + k] = kernels
    return out


def _cache_key(supernet: Supernet, dataset: Dataset, seed: int, budget: Budget, recipe: Recipe) -> dict[str, Any]:
    key = {"schema": CACHE_SCHEMA, "space": supernet.key,
           "data": {"name": dataset.name, "fingerprint": dataset.fingerprint},
           "seed": seed, "budget": dataclasses.asdict(budget)}
    return key if recipe == Recipe() else {**key, "recipe": dataclasses.asdict(recipe)}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if missing), held for the block."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _load_state(path: Path, key: dict[str, Any]) -> dict[str, torch.Tensor]:
    try:
        stored = files.load(path, "supernet checkpoint")
        stored_key = json.loads(stored["key"])
        state = stored["state"]
    except (ValueError, KeyError, TypeError) as err:
        message = str(err) if isinstance(err, ValueError) else f"{str(path)!r} is not a readable supernet checkpoint; delete it"
        raise ValueError(f"cache_dir: {message}") from None
    fields = differences(stored_key, key)
    if fields:
        raise ValueError(f"cache_dir: {str(path)!r} holds a supernet for another {fields[0]} "
                         f"(stored {lookup(stored_key, fields[0])!r}, wanted {lookup(key, fields[0])!r})")
    return state


def _save_state(path: Path, key: dict[str, Any], state: dict[str, torch.Tensor]) -> None:
    """Write atomically: a reader sees the old file, no file, or the whole new file."""
    files.save_atomic(path, {"key": json.dumps(key, sort_keys=True), "state": state})


def train_supernet(supernet: Supernet, data: str | Dataset = "digits", seed: int = 0,
                   budget: Budget | Mapping = Budget(), cache_dir: str | os.PathLike | None = None,
                   progress: Callable[[int, int], None] | None = None, root: str | None = None, *,
                   runtime: Runtime | None = None, checkpoint_every: int = CHECKPOINT_EVERY,
                   recipe: Recipe | None = None) -> Supernet:
    """Train ``supernet``'s weights by single-path uniform sampling (or read them from the
    cache) and return a trained copy (its module on the CPU); ``supernet`` itself is left untrained.

    Args:
        supernet: the space.
        data: a data set name or a :class:`Dataset`; training uses its training split,
            :meth:`Supernet.accuracy` its validation split.
        seed: seeds the initialisation, the batch order and the sampled paths.
        budget: optimiser steps, batch size, learning rate, ``width`` (channel multiplier
            of every candidate) and ``resolution`` (pixels); see :class:`Budget`.
        cache_dir: folder of trained supernets (created if missing); None trains every time.
        progress: called after every training step with (steps done, total steps); not
            called when the weights come from the cache.
        root: the local folder of a data set that needs one.
        runtime: device, precision, workers and threads of the training (not part of the
            cache key: they change the rounding, not what is trained).
        checkpoint_every: steps between checkpoints of a training into ``cache_dir``.
        recipe: parent scaffold and distillation (:class:`Recipe`); None: the data set's
            (:func:`default_recipe`).
    """
    if not isinstance(supernet, Supernet):
        raise TypeError(f"supernet: expected a Supernet, got {type(supernet).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed: expected an integer, got {seed!r}")
    if runtime is not None and runtime.compile:
        raise ValueError("runtime.compile: the supernet changes its path every step; compile trains fixed "
                         "networks (nos-train)")
    budget = as_budget(budget)
    dataset = load(data, budget.resolution, root)
    recipe = default_recipe(data) if recipe is None else recipe
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe: expected a Recipe, got {type(recipe).__name__}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = supernet._build(dataset, budget)
    if cache_dir is None:
        _train(supernet, net, dataset, budget, seed, progress, runtime, None, recipe)
        return supernet._bind(net.cpu(), dataset, budget, seed, from_cache=False)
    key = _cache_key(supernet, dataset, seed, budget, recipe)
    folder = Path(cache_dir).expanduser()
    path = folder / f"supernet-{hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]}.pt"
    main = distributed.current().main
    if main:
        folder.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_suffix(".lock")) if main else contextlib.nullcontext():
        state = _load_state(path, key) if main and path.exists() else None
        state = distributed.broadcast(state)
        if state is not None:
            net.load_state_dict(state)
            return supernet._bind(net, dataset, budget, seed, from_cache=True)
        checkpoint = Checkpointing(path.with_suffix(".ckpt"), checkpoint_every, key)
        _train(supernet, net, dataset, budget, seed, progress, runtime, checkpoint, recipe)
        net.cpu()
        if main:
            _save_state(path, key, net.state_dict())
            checkpoint.path.unlink(missing_ok=True)
            _parent_checkpoint(checkpoint).path.unlink(missing_ok=True)
    return supernet._bind(net, dataset, budget, seed, from_cache=False)


class _Paths:
    """The supernet's sampled paths by index (0, 1, ...), asked for in increasing order: the
    space's seeded sampler, replayed from the start when a training resumes."""

    def __init__(self, supernet: Supernet, seed: int):
        self._sampler, self._drawn, self._last = supernet._sampler(seed), 0, ()

    def __getitem__(self, index: int) -> tuple[str, ...]:
        while self._drawn <= index:
            self._last = next(self._sampler)
            self._drawn += 1
        return self._last


def _parent_checkpoint(checkpoint: Checkpointing) -> Checkpointing:
    """The checkpoint of a recipe's parent phase, beside the supernet's own."""
    return Checkpointing(checkpoint.path.with_suffix(".parent.ckpt"), checkpoint.every,
                         {**checkpoint.key, "phase": "parent"})


def _train(supernet: Supernet, net: Network, dataset: Dataset, budget: Budget, seed: int,
           progress: Callable[[int, int], None] | None, runtime: Runtime | None,
           checkpoint: Checkpointing | None, recipe: Recipe) -> None:
    """Train the first path (each block's first choice: the space's first operator, e.g. ``dw``)
    -- the first :data:`WARMUP_FRACTION` of the budget's steps, or ``recipe.parent_steps(...)`` on a
    schedule of their own --, then start every other candidate from it (:func:`_align`) and train
    a uniformly sampled path each step (the same in every process of a distributed job: the
    sampler is seeded by ``seed``), distilled from the trained first path when ``recipe.distill``.

    Why: from independent random initialisations the candidates of a block compute unrelated
    features, and a path that mixes them at random across 17 blocks is noise to the next block
    and to the classifier. Measured here (MobileNetV2 space, digits, width 0.125): uniform
    single-path training from scratch stayed at chance (loss 2.3, 10-15 % accuracy) for 1,500
    steps, even with kernel 3 vs 5 as the only choice and with identical initial weights per
    block, while every fixed path learnt; with 200 steps on the first path, then 300 uniform
    ones, sampled paths reach 45-70 %.
    """
    paths = _Paths(supernet, seed)
    first = tuple(next(iter(candidates)) for candidates in net.blocks)
    steps = budget.total_steps(dataset.size("train"))
    parent_steps = recipe.parent_steps(steps)
    if parent_steps:
        _train_parent(net, first, dataset, budget, seed, progress, runtime, checkpoint, parent_steps, steps)
        warmup, teacher = 0, _frozen(net, first) if recipe.distill else None
        main_progress = None if progress is None else (lambda done, _: progress(parent_steps + done,
                                                                                parent_steps + steps))
    else:
        warmup, teacher, main_progress = round(WARMUP_FRACTION * budget.total_steps(dataset.size("train"))), None, progress
    if warmup == 0:
        for candidates in net.blocks:
            _align(candidates)

    def loss(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, step: int) -> torch.Tensor:
        if warmup and step == warmup:
            for candidates in net.blocks:
                _align(candidates)
        net.blocks.path = first if step < warmup else paths[step - warmup]
        logits = model(images)
        if teacher is None:
            return F.cross_entropy(logits, labels)
        t = recipe.temperature
        with torch.no_grad():
            soft = F.log_softmax(teacher(images) / t, 1)
        kd = F.kl_div(F.log_softmax(logits / t, 1), soft, log_target=True, reduction="batchmean")
        return (1 - recipe.distill) * F.cross_entropy(logits, labels) + recipe.distill * t * t * kd

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout
        fit(net, dataset, budget, seed, loss=loss, runtime=runtime, progress=main_progress, checkpoint=checkpoint,
            fixed=False)


def _train_parent(net: Network, first: tuple[str, ...], dataset: Dataset, budget: Budget, seed: int,
                  progress: Callable[[int, int], None] | None, runtime: Runtime | None,
                  checkpoint: Checkpointing | None, parent_steps: int, steps: int) -> None:
    """A recipe's parent phase: the first path alone for ``parent_steps`` steps of the budget's
    schedule (its own warm-up and decay), before the ``steps`` of the sampled paths."""
    net.blocks.path = first
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fit(net, dataset, dataclasses.replace(budget, steps=parent_steps), seed, runtime=runtime, fixed=False,
            progress=None if progress is None else (lambda done, _: progress(done, parent_steps + steps)),
            checkpoint=None if checkpoint is None else _parent_checkpoint(checkpoint))


def _frozen(net: Network, path: tuple[str, ...]) -> nn.Module:
    """A frozen copy of ``net`` on ``path`` in evaluation mode: the distillation teacher."""
    teacher = copy.deepcopy(net)
    teacher.blocks.path = path
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher
