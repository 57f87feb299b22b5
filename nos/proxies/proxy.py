"""The one interface a search uses to ask for accuracy: a :class:`Proxy`, built by :func:`make`.

A proxy has a ``label`` (what its value is, with the unit) and a ``unit``; :meth:`Proxy.check`
fails fast when its data set cannot be read, :meth:`Proxy.prepare` does the one-time work of a run
(training the supernet, or reading it from the cache), and :meth:`Proxy.score` values a batch of
architectures (higher = predicted more accurate), each with its standard deviation in the same
unit where the proxy has one. ``warnings`` collects one-line guard-rail findings about the scores
so far (a validation accuracy near chance, a validation set too small to separate the candidates,
an architecture outside the published evidence) for the run's log and report.

The kinds (:data:`PROXIES`):

* ``imagenet``: predicted ImageNet top-1 (%) from published evidence, with its std
  (:mod:`nos.proxies.predictor`);
* the zero-cost scores and ``params`` / ``flops`` (:data:`nos.proxies.scores.SCORES`): no std;
* ``train``: validation accuracy (fraction) after a short stand-alone training; std: the binomial
  standard error of the validation split;
* ``supernet``: validation top-1 (%) with weights inherited from a trained weight-sharing supernet
  of the search space; std: the binomial standard error of its validation images;
* ``supernet_loss``: the same candidate's mean validation cross-entropy (nats), negated so that
  higher is better; no std. On Fashion-MNIST it ranks stand-alone training far better than the
  top-1 of the same 2,000 held-out images (``experiments/results/proxies_fashion_mnist.md``).
"""
from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from nos.arch import Arch
from nos.proxies import predictor
from nos.proxies.data import PROXY_HOLDOUT, Dataset, for_proxy, load
from nos.proxies.scores import SCORES
from nos.proxies.supernet import Supernet, default_budget, default_cache_dir, train_supernet
from nos.proxies.train import Budget, as_budget, materialize, sized, train_accuracy

IMAGENET = "imagenet"  # predicted from the Arch's shapes, no network is built
TRAIN = "train"  # validation accuracy after a short stand-alone training
SUPERNET = "supernet"  # validation accuracy (%) read from a weight-sharing supernet of the search space
SUPERNET_LOSS = "supernet_loss"  # the same supernet's validation cross-entropy, negated (higher = better)
SUPERNETS = (SUPERNET, SUPERNET_LOSS)  # the proxies that read a trained supernet
NAMES: tuple[str, ...] = (*SCORES, IMAGENET)  # what nos.proxies.score computes
PROXIES: tuple[str, ...] = (*NAMES, TRAIN, *SUPERNETS)  # what make builds
SHAPE_SCORES = ("params", "flops")  # exact from an Arch's shape arithmetic: no network is built
DEFAULT_BATCH_SIZE = 64
CHANCE_MARGIN = 0.25
"""Accuracy counts as near chance below ``chance + CHANCE_MARGIN * (1 - chance)`` (10 classes: 32.5 %)."""
Progress = Callable[[int, int], None]


class Score(NamedTuple):
    """One architecture's proxy value and its standard deviation (same unit; None: the proxy has none)."""

    value: float
    std: float | None


class Proxy:
    """Accuracy of architectures, as a search asks for it (see the module doc).

    Attributes:
        name: the kind, one of :data:`PROXIES`.
        label: what the value is, with its unit, as reports name it.
        unit: the value's unit (``%``, ``fraction``, ``parameters``, ``MACs`` or ``score``).
        warnings: one-line findings about the scores so far (see :meth:`score`).
    """

    name: str
    label: str
    unit: str

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def check(self) -> None:
        """Raise ValueError (naming ``data`` or ``root``) if the proxy's data set cannot be read."""

    def prepare(self, progress: Progress | None = None) -> None:
        """Once per run, before the first :meth:`score`: nothing unless the proxy must train first."""

    def score(self, archs: Sequence[Arch]) -> list[Score]:
        """Every architecture's value (higher = predicted more accurate), in order."""
        raise NotImplementedError

    def difference(self, a: Arch, b: Arch, score_a: Score, score_b: Score) -> Score | None:
        """``a``'s value minus ``b``'s (their scores ``score_a``, ``score_b``) and the std of that
        difference, or None when the proxy has no std. Here the two errors count as independent
        (the root sum of squares: conservative for two accuracies on one validation split, whose
        errors are positively correlated)."""
        if score_a.std is None or score_b.std is None:
            return None
        return Score(score_a.value - score_b.value, math.hypot(score_a.std, score_b.std))


class ImagenetProxy(Proxy):
    """Predicted ImageNet top-1 (%) and its std, a prior from published ImageNet results
    (``imagenet``). An architecture outside the evidence is predicted at the evidence's edge with a
    widened std (:meth:`nos.proxies.predictor.Predictor.predict`), and one warning line says so."""

    name, unit = IMAGENET, "%"

    def __init__(self) -> None:
        super().__init__()
        self.label = describe(IMAGENET)
        self._outside: dict[str, int] = {}  # reason -> candidates

    def score(self, archs: Sequence[Arch]) -> list[Score]:
        fitted = predictor.default()
        out = []
        for arch in archs:
            prediction = fitted.predict(arch)
            reason = fitted.outside(arch)
            if reason:
                self._outside[reason] = self._outside.get(reason, 0) + 1
            out.append(Score(prediction.mean, prediction.std))
        self.warnings = [f"imagenet: {count} candidate(s) outside the published evidence ({reason}): predicted at "
                         f"its edge, with the std widened by the distance" for reason, count in self._outside.items()]
        return out

    def difference(self, a: Arch, b: Arch, score_a: Score, score_b: Score) -> Score | None:
        """The predictor's difference (:meth:`nos.proxies.predictor.Predictor.difference`): for two
        candidates of one backbone the size model's error is shared and cancels."""
        d = predictor.default().difference(a, b)
        return Score(d.mean, d.std)


class ScoreProxy(Proxy):
    """A zero-cost score or ``params`` / ``flops`` (:func:`nos.proxies.score`); no std."""

    def __init__(self, name: str, data: str | Dataset, seed: int, root: str | None):
        super().__init__()
        self.name, self.data, self.seed, self.root = name, data, seed, root
        self.unit = {"params": "parameters", "flops": "MACs"}.get(name, "score")
        self.label = describe(name, _data_name(data))

    def check(self) -> None:
        load(self.data, root=self.root)

    def score(self, archs: Sequence[Arch]) -> list[Score]:
        return [Score(float(score(arch, self.name, data=self.data, seed=self.seed, root=self.root)), None)
                for arch in archs]


class _ValidationProxy(Proxy):
    """A proxy whose value is an accuracy on a validation split: its std is the binomial standard
    error of that split, and it watches for accuracy near chance and for a split too small to
    separate the candidates it scored."""

    scale = 1.0  # value units per unit accuracy (100 for %)

    def __init__(self, data: str | Dataset, seed: int, root: str | None, budget: Budget):
        super().__init__()
        self.data, self.seed, self.root, self.budget = data, seed, root, budget
        self.values: list[float] = []

    def check(self) -> None:
        load(self.data, root=self.root)

    def _dataset(self) -> Dataset:
        return for_proxy(self.data, self.budget.resolution, self.root)

    def standard_error(self, value: float) -> float:
        """Binomial standard error (value units) of an accuracy ``value`` on the validation split."""
        p = min(max(value / self.scale, 0.0), 1.0)
        return self.scale * math.sqrt(p * (1 - p) / self._dataset().size("val"))

    def _watch(self, accuracies: list[float], separation: bool = True) -> None:
        """Add validation accuracies (value units) to those seen and renew the guard-rail warnings."""
        self.values += accuracies
        self.warnings = guard_rails(self.values, self._dataset(), self.scale, self.name, separation)

    def _scored(self, values: list[float]) -> list[Score]:
        self._watch(values)
        return [Score(v, self.standard_error(v)) for v in values]


class TrainProxy(_ValidationProxy):
    """Validation accuracy (fraction) after training each candidate for ``budget`` (``train``)."""

    name, unit = TRAIN, "fraction"

    def __init__(self, data: str | Dataset, seed: int, root: str | None, budget: Budget):
        super().__init__(data, seed, root, budget)
        self.label = describe(TRAIN, _data_name(data))

    def score(self, archs: Sequence[Arch]) -> list[Score]:
        dataset = self._dataset()
        return self._scored([float(train_accuracy(a, dataset, self.budget, self.seed)) for a in archs])


class SupernetProxy(_ValidationProxy):
    """Validation top-1 (%) with weights inherited from ``supernet`` once trained (``supernet``),
    or, with ``by_loss``, the negated validation cross-entropy in nats (``supernet_loss``; no
    std, and of the guard rails only the one for accuracy near chance)."""

    scale = 100.0

    def __init__(self, supernet: Supernet, data: str | Dataset, seed: int, root: str | None, budget: Budget,
                 cache_dir: str | None, by_loss: bool = False):
        super().__init__(data, seed, root, budget)
        self.supernet, self.cache_dir, self.by_loss = supernet, cache_dir, by_loss
        self.name, self.unit = (SUPERNET_LOSS, "nats") if by_loss else (SUPERNET, "%")
        self.label = describe(self.name, _data_name(data))

    def prepare(self, progress: Progress | None = None) -> None:
        if not self.supernet.trained:
            self.supernet = train_supernet(self.supernet, super()._dataset(), self.seed, self.budget, self.cache_dir,
                                           progress)

    def _dataset(self) -> Dataset:
        return self.supernet.dataset if self.supernet.trained else super()._dataset()

    def score(self, archs: Sequence[Arch]) -> list[Score]:
        self.prepare()
        measured = [self.supernet.validation(a) for a in archs]
        if not self.by_loss:
            return self._scored([float(top1) for top1, _ in measured])
        self._watch([float(top1) for top1, _ in measured], separation=False)  # the loss is ranked, not the top-1
        return [Score(-float(loss), None) for _, loss in measured]


def guard_rails(values: Sequence[float], dataset: Dataset, scale: float, name: str,
                separation: bool = True) -> list[str]:
    """One-line findings about validation accuracies ``values`` (``scale`` units per unit accuracy)
    measured on ``dataset``'s validation split: their median near chance (:data:`CHANCE_MARGIN`),
    or, with ``separation`` (the accuracies are what the proxy ranks by), the split's binomial
    standard error above their spread (standard deviation, 3 or more values), so the differences
    between the candidates are mostly the split's sampling noise."""
    if not values:
        return []
    out = []
    chance = 1 / dataset.num_classes
    median = statistics.median(values) / scale
    n = dataset.size("val")
    if median < chance + CHANCE_MARGIN * (1 - chance):
        out.append(f"{name}: validation accuracy near chance: median {100 * median:.1f} % over {len(values)} "
                   f"candidate(s), chance {100 * chance:.1f} % ({dataset.num_classes} classes); the proxy cannot "
                   f"rank them (train longer, or check the data)")
    if separation and len(values) >= 3:
        spread = statistics.stdev(values) / scale
        error = math.sqrt(median * (1 - median) / n)
        if error > spread:
            out.append(f"{name}: validation set too small to separate the candidates: binomial standard error "
                       f"{100 * error:.2f} points ({n} images) above the spread of the {len(values)} scores "
                       f"(standard deviation {100 * spread:.2f} points)")
    return out


def _data_name(data: str | Dataset) -> str:
    return data.name if isinstance(data, Dataset) else data


def describe(name: str, data: str = "digits") -> str:
    """How reports name proxy ``name``'s value, with its unit."""
    if name == IMAGENET:
        return "ImageNet top-1 (%), prior from published results"
    if name == "params":
        return f"parameters (network with a {data} classifier)"
    if name == "flops":
        return f"MACs per {data} image at the proxy resolution"
    holdout = PROXY_HOLDOUT.get(data)
    where = "validation" if holdout is None else f"held-out ({holdout:,} training images)"
    if name == TRAIN:
        return f"{data} {where} accuracy after short training (fraction)"
    if name == SUPERNET:
        return f"{data} {where} top-1, supernet weights (%)"
    if name == SUPERNET_LOSS:
        return f"{data} {where} cross-entropy, supernet weights (nats, negated: higher = better)"
    return f"{name} score on {data} (zero-cost; higher = predicted better)"


def percent_scale(label: str, data: str) -> float | None:
    """The factor that turns a value of the proxy labelled ``label`` into a top-1 in % on data set
    ``data`` (1 for ``supernet``, 100 for ``train``, on that data set), or None when the proxy
    measures something else (a difference to a measured accuracy would have no meaning)."""
    return {describe(SUPERNET, data): 1.0, describe(TRAIN, data): 100.0}.get(label)


def score(model_or_arch: nn.Module | Arch, name: str, data: str | Dataset = "digits", seed: int = 0,
          resolution: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE, root: str | None = None) -> float:
    """Score ``name`` (one of :data:`NAMES`, or ``supernet``) of a network; higher = predicted better.

    ``imagenet`` is the predicted ImageNet top-1 (%) of an :class:`Arch` (a module is refused:
    the prediction reads the architecture's shapes); the other arguments do not change it.
    ``supernet`` is the top-1 (%) of an :class:`Arch` read from the weight-sharing supernet of its
    operator space (:meth:`Supernet.around`) trained on ``data`` with ``seed`` (the data set's
    :func:`~nos.proxies.supernet.default_budget`); the first call trains it, or reads it from
    :func:`~nos.proxies.supernet.default_cache_dir`.
    For the zero-cost scores an :class:`Arch` is built with the data set's class count (its
    ``input_size`` is left alone; the score runs at ``resolution`` pixels); a module is scored
    on a deep copy.
    Deterministic for ``seed``: it seeds the initialisation of a built arch, the random
    inputs of data-free scores and the choice of the ``batch_size`` training images
    (the caller's torch RNG state is restored afterwards).

    Args:
        model_or_arch: a :class:`nos.Arch` or a ``torch.nn.Module`` taking (N, C, H, W) images.
        name: the score.
        data: a data set name (:data:`nos.proxies.DATASETS`) or a :class:`Dataset`.
        seed: random seed.
        resolution: input side length in pixels; None: a Dataset's own, else 32.
        batch_size: images per minibatch.
        root: the data set's folder (see :func:`nos.proxies.data.load`).
    """
    if name not in NAMES and name not in SUPERNETS:
        raise ValueError(f"name: unknown proxy {name!r} (allowed: {', '.join((*NAMES, *SUPERNETS))})")
    if name in SUPERNETS:
        if not isinstance(model_or_arch, Arch):
            raise ValueError(f"model_or_arch: the {name} proxy reads a nos.Arch, got {type(model_or_arch).__name__}")
        return _supernet_of(name, Supernet.around(model_or_arch), data, seed, root).score([model_or_arch])[0].value
    if name == IMAGENET:
        if not isinstance(model_or_arch, Arch):
            raise ValueError(f"model_or_arch: the {IMAGENET} proxy predicts from a nos.Arch, got {type(model_or_arch).__name__}")
        return predictor.predict(model_or_arch).mean
    dataset = load(data, resolution, root)
    if name in SHAPE_SCORES and isinstance(model_or_arch, Arch):
        built = sized(model_or_arch, dataset)  # the numbers the module-level scores count, without building it
        return float(built.params() if name == "params" else built.macs(dataset.resolution))
    x, y = dataset.sample(batch_size, seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = materialize(model_or_arch, dataset)
        return float(SCORES[name](model, x, y))


def _supernet_of(name: str, supernet: Supernet, data: str | Dataset, seed: int, root: str | None) -> Proxy:
    """The prepared supernet proxy ``name`` of ``supernet``'s space (one per kind, space, data, seed
    and root in a process)."""
    key = (name, json.dumps(supernet.key, sort_keys=True), data, seed, root)
    if key not in _SUPERNETS:
        proxy = make(name, data, seed, root, supernet=supernet, cache_dir=str(default_cache_dir()))
        proxy.prepare()
        _SUPERNETS[key] = proxy
    return _SUPERNETS[key]


_SUPERNETS: dict[tuple, Proxy] = {}


def make(name: str, data: str | Dataset = "digits", seed: int = 0, root: str | None = None,
         budget: Budget | Mapping[str, Any] | None = None, supernet: Supernet | None = None,
         cache_dir: str | None = None) -> Proxy:
    """The proxy ``name`` (one of :data:`PROXIES`).

    Args:
        name: the kind.
        data: a data set name (:data:`nos.proxies.DATASETS`) or a :class:`Dataset`.
        seed: the proxy's seed: a value equals ``nos.proxies.score(arch, name, data=data, seed=seed)``
            (``train_accuracy(arch, data, budget, seed)`` for ``train``).
        root: the data set's folder, where it needs one.
        budget: ``train`` and ``supernet`` only: :class:`Budget` fields over the proxy's default
            (``train``: ``Budget()``; ``supernet``: :func:`nos.proxies.supernet.default_budget`).
        supernet: ``supernet`` only: the untrained :class:`Supernet` of the search space.
        cache_dir: ``supernet`` only: folder of trained supernets (None: train every time).

    Raises:
        ValueError: naming the argument (``name``, ``budget``, ``supernet``) and the allowed values.
    """
    if name not in PROXIES:
        raise ValueError(f"name: unknown proxy {name!r} (allowed: {', '.join(PROXIES)})")
    if name not in (TRAIN, *SUPERNETS) and budget:
        raise ValueError(f"budget: only the {', '.join(map(repr, (TRAIN, *SUPERNETS)))} proxies take a training budget")
    if name in SUPERNETS and not isinstance(supernet, Supernet):
        raise ValueError(f"supernet: the {name!r} proxy needs the search space's Supernet")
    if name == IMAGENET:
        return ImagenetProxy()
    if name in SCORES:
        return ScoreProxy(name, data, seed, root)
    budget = as_budget(budget or {}, default_budget(data) if name in SUPERNETS else Budget())
    if name == TRAIN:
        return TrainProxy(data, seed, root, budget)
    return SupernetProxy(supernet, data, seed, root, budget, cache_dir, by_loss=name == SUPERNET_LOSS)
