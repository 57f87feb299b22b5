"""Proxy accuracy: predicted ImageNet top-1, zero-cost scores, short training, the weight-sharing
supernet, and their data sets.

:func:`make` builds the one interface a search uses, a :class:`Proxy` (label and unit,
``prepare()`` once per run, ``score(archs)`` per batch with each value's std where it has one,
``warnings``); :data:`PROXIES` lists the kinds. ``score(model_or_arch, name, data="digits", seed=0)``
computes one score of :data:`NAMES` directly (higher = predicted more accurate): the zero-cost
scores and ``imagenet``, the predicted ImageNet top-1 in % of an :class:`Arch`
(:func:`nos.proxies.predictor.predict` gives it with its std). :data:`DEFAULT` is the one the
measurements chose.
:func:`train_accuracy` and :func:`successive_halving` are the short-training proxy;
:class:`Supernet` and :func:`train_supernet` the weight-sharing one (train once, read each
candidate's accuracy with inherited weights); :func:`rank_ensemble` aggregates several
scores over a population.
"""
from __future__ import annotations

from nos.proxies.data import DATASETS, Dataset, load
from nos.proxies.ensemble import rank_ensemble
from nos.proxies.predictor import Prediction, predict
from nos.proxies.proxy import (IMAGENET, NAMES, PROXIES, SUPERNET, SUPERNET_LOSS, SUPERNETS, TRAIN, Proxy, Score,
                               describe, make, percent_scale, score)
from nos.proxies.supernet import Supernet, train_supernet
from nos.proxies.train import Budget, HalvingResult, successive_halving, train_accuracy

DEFAULT = IMAGENET  # experiments/results/accuracy_predictor.md: ranks published ImageNet accuracy best

__all__ = ["DATASETS", "DEFAULT", "IMAGENET", "NAMES", "PROXIES", "SUPERNET", "SUPERNET_LOSS", "SUPERNETS", "TRAIN",
           "Budget", "Dataset", "HalvingResult", "Prediction", "Proxy", "Score", "Supernet", "describe", "load", "make", "percent_scale", "predict",
           "rank_ensemble", "score", "successive_halving", "train_accuracy", "train_supernet"]
