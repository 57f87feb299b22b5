"""Supernet vs stand-alone training: how well does a weight-sharing supernet rank architectures?

Population: the zoo's five MobileNetV2 variants (as members of the space) plus ``--archs``
distinct genomes of the ``mobilenet_v2`` operator space (every block picks dw / full /
fuse_half / fuse_full). Each sampled genome first draws its own operator frequencies from a
flat Dirichlet, then every block's operator from them, so the population covers every mix
from dw-only to full-only instead of clustering at about 4 blocks of each operator (what
drawing each block uniformly gives).

Ground truth: stand-alone training (``nos.proxies.train_accuracy``) on digits, the standard
split or, with ``--val-fraction``, all 1,797 images re-split (seed 0, stratified) into a harder
setting with fewer training images; width multiplier, resolution, epochs and batch below. Every
(arch, seed) run is cached in ``results/supernet_groundtruth.csv`` and resumed; ``--reverse``
in a second process shares the work list from its other end.

Supernets: ``nos.proxies.supernet.train_supernet`` on the same data, width and resolution,
for each of ``--supernet-seeds`` and ``--supernet-epochs``; weights cached under
``--cache-dir``, candidate accuracies in ``results/supernet_scores.csv`` and training times in
``results/supernet_training.csv``.

Writes ``experiments/results/supernet.md``.
Usage: ``python experiments/supernet.py [--phase all|truth|supernet] [--reverse]``.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from nos import zoo  # noqa: E402
from nos.arch import OPERATORS, Arch  # noqa: E402
from nos.proxies import score  # noqa: E402
from nos.proxies.data import Dataset, load  # noqa: E402
from nos.proxies.supernet import CALIBRATION_IMAGES, Supernet, train_supernet  # noqa: E402
from nos.proxies.train import Budget, train_accuracy  # noqa: E402
from nos.search.space import arch_key  # noqa: E402
from proxy_calibration import _appender, _read_cache, agreement  # noqa: E402
from search_spaces import get_space  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
TRUTH_CSV = RESULTS / "supernet_groundtruth.csv"
TRUTH_FIELDS = ("arch", "genome", *(f"n_{op}" for op in OPERATORS), "seed", "accuracy", "seconds", "cpu_seconds",
                "setting")
SCORES_CSV = RESULTS / "supernet_scores.csv"
SCORES_FIELDS = ("supernet_seed", "supernet_epochs", "arch", "accuracy_pct", "seconds", "cpu_seconds")
TRAINING_CSV = RESULTS / "supernet_training.csv"
TRAINING_FIELDS = ("supernet_seed", "supernet_epochs", "steps", "seconds", "cpu_seconds")

SPLIT_SEED = 0


def dataset(val_fraction: float | None) -> Dataset:
    """digits: the standard split (None) or all images re-split with ``val_fraction`` for validation."""
    return load("digits", val_fraction=val_fraction, split_seed=SPLIT_SEED)


def population(count: int, seed: int = 0) -> tuple[list[Arch], list[dict]]:
    """The zoo's MobileNetV2 variants (named by variant) then ``count`` distinct genomes with
    Dirichlet-drawn operator frequencies; returns (archs, genomes)."""
    space = get_space("mobilenet_v2")
    genomes = [space.genome_of(zoo.get("mobilenet_v2", v)) for v in zoo.VARIANTS]
    archs = [dataclasses.replace(space.to_arch(g), name=f"mobilenet_v2/{v}") for g, v in zip(genomes, zoo.VARIANTS)]
    seen = {arch_key(a) for a in archs}
    rng = np.random.default_rng(seed)
    while len(archs) < len(zoo.VARIANTS) + count:
        frequencies = rng.dirichlet(np.ones(len(OPERATORS)))
        genome = {}
        for choice in space.choices:
            p = np.array([frequencies[OPERATORS.index(op)] for op in choice.options])
            genome[choice.name] = choice.options[int(rng.choice(len(p), p=p / p.sum()))]
        arch = space.to_arch(genome)
        if arch_key(arch) not in seen:
            seen.add(arch_key(arch))
            archs.append(arch)
            genomes.append(genome)
    return archs, genomes


def setting(budget: Budget, val_fraction: float | None) -> str:
    """One string naming everything a ground-truth run depends on besides arch and seed."""
    split = "standard split" if val_fraction is None else f"val_fraction={val_fraction} split_seed={SPLIT_SEED}"
    return (f"digits {split}; epochs={budget.epochs:g} "
            f"batch={budget.batch_size} lr={budget.lr} width={budget.width} resolution={budget.resolution}")


def ground_truth(archs: list[Arch], genomes: list[dict], seeds: list[int], budget: Budget,
                 val_fraction: float | None, reverse: bool = False) -> np.ndarray:
    """Accuracy matrix (seeds x archs) in [0, 1], trained seed-major (an early stop keeps
    whole seeds); rows of another setting in the CSV are ignored."""
    data, tag = dataset(val_fraction), setting(budget, val_fraction)
    work = list(itertools.product(seeds, range(len(archs))))

    def done() -> dict:
        return {k: row for k, row in _read_cache(TRUTH_CSV, ("arch", "seed", "setting")).items() if k[2] == tag}

    with _appender(TRUTH_CSV, TRUTH_FIELDS) as writer:
        for seed, i in reversed(work) if reverse else work:
            arch = archs[i]
            if (arch.name, str(seed), tag) in done():
                continue
            start, cpu = time.perf_counter(), time.process_time()
            accuracy = train_accuracy(arch, data, budget, seed=seed)
            counts = {f"n_{op}": sum(b.op == op for b in arch.blocks) for op in OPERATORS}
            writer.writerow({"arch": arch.name, "genome": json.dumps(genomes[i], sort_keys=True), **counts,
                             "seed": seed, "accuracy": accuracy, "seconds": round(time.perf_counter() - start, 2),
                             "cpu_seconds": round(time.process_time() - cpu, 2), "setting": tag})
            print(f"truth seed {seed} {arch.name}: {accuracy:.4f}", flush=True)
    rows = done()
    missing = [(archs[i].name, s) for s, i in work if (archs[i].name, str(s), tag) not in rows]
    if missing:
        raise RuntimeError(f"ground truth: {len(missing)} runs missing, e.g. {missing[0]}")
    return np.array([[float(rows[a.name, str(s), tag]["accuracy"]) for a in archs] for s in seeds])


def supernet_scores(archs: list[Arch], seed: int, budget: Budget, val_fraction: float | None,
                    cache_dir: Path) -> np.ndarray:
    """Accuracy (%) of every arch read from the supernet trained with ``seed`` and ``budget``."""
    space = get_space("mobilenet_v2")
    timing = _read_cache(TRAINING_CSV, ("supernet_seed", "supernet_epochs"))
    start, cpu = time.perf_counter(), time.process_time()
    last = [0.0]

    def progress(step: int, total: int) -> None:
        if step == total or time.perf_counter() - last[0] > 60:
            last[0] = time.perf_counter()
            print(f"supernet seed {seed} epochs {budget.epochs:g}: step {step}/{total}", flush=True)

    supernet = train_supernet(Supernet(space.base, space.ops, space.kernels, space.expansions), dataset(val_fraction), seed,
                              budget, cache_dir=cache_dir, progress=progress)
    key = (str(seed), f"{budget.epochs:g}")
    if not supernet.from_cache or key not in timing:
        if supernet.from_cache:
            raise RuntimeError(f"supernet seed {seed}: weights cached but no training time in {TRAINING_CSV.name}; "
                               f"delete {cache_dir} to retrain")
        with _appender(TRAINING_CSV, TRAINING_FIELDS) as writer:
            writer.writerow({"supernet_seed": seed, "supernet_epochs": f"{budget.epochs:g}",
                             "steps": budget.total_steps(dataset(val_fraction).size("train")),
                             "seconds": round(time.perf_counter() - start, 1),
                             "cpu_seconds": round(time.process_time() - cpu, 1)})
    done = _read_cache(SCORES_CSV, ("supernet_seed", "supernet_epochs", "arch"))
    with _appender(SCORES_CSV, SCORES_FIELDS) as writer:
        for arch in archs:
            if (*key, arch.name) not in done:
                start, cpu = time.perf_counter(), time.process_time()
                value = supernet.accuracy(arch)
                row = {"supernet_seed": seed, "supernet_epochs": key[1], "arch": arch.name, "accuracy_pct": value,
                       "seconds": round(time.perf_counter() - start, 4),
                       "cpu_seconds": round(time.process_time() - cpu, 4)}
                writer.writerow(row)
                done[(*key, arch.name)] = row
    return np.array([float(done[(*key, a.name)]["accuracy_pct"]) for a in archs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", type=int, default=35, help="sampled architectures (besides the 5 zoo variants)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="ground-truth training seeds")
    parser.add_argument("--epochs", type=float, default=20.0, help="ground-truth training epochs")
    parser.add_argument("--width", type=float, default=0.125, help="width multiplier (ground truth and supernet)")
    parser.add_argument("--resolution", type=int, default=32, help="input pixels (ground truth and supernet)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step (ground truth and supernet)")
    parser.add_argument("--val-fraction", type=float, default=0.5,
                        help="re-split digits with this validation fraction (0: the standard 1,437 / 360 split)")
    parser.add_argument("--supernet-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--supernet-epochs", type=float, nargs="+", default=[40.0])
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "outputs" / "supernet-cache",
                        help="trained supernet weights")
    parser.add_argument("--reverse", action="store_true",
                        help="walk the ground-truth work list from its end (a second process sharing the cache)")
    parser.add_argument("--phase", choices=("all", "truth", "supernet"), default="all",
                        help="'truth' or 'supernet' only fills that cache; 'all' also writes the report")
    args = parser.parse_args()
    args.val_fraction = args.val_fraction or None
    RESULTS.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # shared machine: one thread per run is the fastest per core for these small nets

    archs, genomes = population(args.archs)
    budget = Budget(epochs=args.epochs, batch_size=args.batch_size, width=args.width, resolution=args.resolution)
    supernet_budgets = [dataclasses.replace(budget, epochs=e) for e in args.supernet_epochs]
    if args.phase in ("all", "truth"):
        accuracy = ground_truth(archs, genomes, args.seeds, budget, args.val_fraction, args.reverse)
    if args.phase in ("all", "supernet"):
        scores = {(s, b.epochs): supernet_scores(archs, s, b, args.val_fraction, args.cache_dir)
                  for b, s in itertools.product(supernet_budgets, args.supernet_seeds)}
    if args.phase == "all":
        report(archs, args.seeds, accuracy, budget, args.val_fraction, scores)


def _pairwise_tau(matrix: np.ndarray) -> list[float]:
    """Kendall tau between every two rows."""
    return [stats.kendalltau(matrix[i], matrix[j]).statistic for i, j in itertools.combinations(range(len(matrix)), 2)]


def _split_half_tau(accuracy: np.ndarray) -> float:
    """Kendall tau between the means of the two halves of the seeds (first half vs second)."""
    half = len(accuracy) // 2
    return stats.kendalltau(accuracy[:half].mean(0), accuracy[half:2 * half].mean(0)).statistic


def report(archs: list[Arch], seeds: list[int], accuracy: np.ndarray, budget: Budget, val_fraction: float | None,
           scores: dict[tuple[int, float], np.ndarray]) -> None:
    """Write ``supernet.md`` and print it."""
    data = dataset(val_fraction)
    truth = accuracy.mean(axis=0)
    noise = _pairwise_tau(accuracy)
    sampled = slice(len(zoo.VARIANTS), None)
    truth_rows = _read_cache(TRUTH_CSV, ("arch", "seed", "setting"))
    run_seconds = [float(r["cpu_seconds"]) for k, r in truth_rows.items() if k[2] == setting(budget, val_fraction)]
    timing = _read_cache(TRAINING_CSV, ("supernet_seed", "supernet_epochs"))
    costs = _read_cache(SCORES_CSV, ("supernet_seed", "supernet_epochs", "arch"))
    params = np.array([score(a, "params") for a in archs], dtype=float)
    counts = {op: np.array([sum(b.op == op for b in a.blocks) for a in archs]) for op in OPERATORS}

    lines = [
        "# Supernet vs stand-alone training",
        "",
        f"Measured on this machine ({platform.machine()}, {os.cpu_count()} cores shared with other jobs, "
        f"torch {torch.__version__}, CPU, one torch thread per process) by `python experiments/supernet.py`.",
        "",
        "## Ground truth",
        "",
        f"- Population: {len(archs)} architectures of the `mobilenet_v2` operator space: the zoo's "
        f"{len(zoo.VARIANTS)} variants ({', '.join(zoo.VARIANTS)}; as members of the space, i.e. without the "
        f"authors' never-called expansion conv) and {len(archs) - len(zoo.VARIANTS)} genomes whose operator "
        "frequencies are drawn from a flat Dirichlet (then each block's operator from them), so every mix "
        "from dw-only to full-only is represented.",
        "- Data: scikit-learn digits (real 8x8 handwriting), "
        + ("the standard split" if val_fraction is None else
           f"all 1,797 images re-split by `load(\"digits\", val_fraction={val_fraction}, split_seed={SPLIT_SEED})`")
        + f": {data.size('train')} training / {data.size('val')} validation images"
        + ("" if val_fraction is None else ", stratified; fewer training images than the standard split (so "
           "architectures differ in how well they generalise, away from the 97-99 % ceiling) and a larger, "
           "finer validation split")
        + ". Nothing of the validation split is used for training, BN statistics or choices.",
        f"- Training: `train_accuracy` with {budget.epochs:g} epochs of SGD (batch {budget.batch_size}, lr "
        f"{budget.lr}, Nesterov momentum {budget.momentum}, cosine, {budget.warmup:.0%} warm-up, wd "
        f"{budget.weight_decay}) of the width-{budget.width} network at {budget.resolution}x{budget.resolution}; "
        f"seeds {', '.join(map(str, seeds))}; {len(run_seconds)} runs, median "
        f"{statistics.median(run_seconds):.0f} CPU-s each ({sum(run_seconds) / 3600:.1f} CPU-hours in all).",
        f"- Accuracy (mean over seeds): {100 * truth.min():.1f} .. {100 * truth.max():.1f} % "
        f"(mean {100 * truth.mean():.1f} %); per-arch seed-to-seed standard deviation: median "
        f"{100 * np.median(accuracy.std(0, ddof=1)):.2f} points.",
        f"- **Seed-to-seed Kendall tau: {statistics.mean(noise):.3f}** (mean over the "
        f"{len(noise)} seed pairs: {', '.join(f'{t:.3f}' for t in noise)}; "
        f"{statistics.mean(_pairwise_tau(accuracy[:, sampled])):.3f} on the "
        f"{len(archs) - len(zoo.VARIANTS)} sampled architectures alone). Split-half tau (mean of seeds "
        f"{', '.join(map(str, seeds[:len(seeds) // 2]))} vs mean of the others): {_split_half_tau(accuracy):.3f}; "
        f"the {len(seeds)}-seed mean used as the target is more reliable still. "
        "(The earlier calibration ground truth -- 4 epochs on the standard digits split -- had 0.185.) "
        "The issue's aim of 0.5 is not reached: two seeds of 20 epochs at width 0.125 are what this session's "
        "CPU time allowed (about 1.2 CPU-hours); more seeds average the noise down (the split-half tau of a "
        "4-seed mean would measure it), wider networks and more epochs separate the architectures further.",
        "- File: `supernet_groundtruth.csv`, one row per (arch, seed): arch name, genome (JSON, "
        "`BackboneSpace.to_arch` input), per-operator block counts `n_dw`, `n_full`, `n_fuse_half`, "
        "`n_fuse_full`, seed, accuracy (validation top-1 in [0, 1]), wall and CPU seconds, setting.",
        "",
        "## Supernet ranking (higher is better)",
        "",
        f"Supernet: `Supernet(space.base, space.ops)` of the `mobilenet_v2` space, trained by "
        f"`train_supernet(supernet, data, seed, budget)` on the same {data.size('train')} training images, width "
        f"and resolution (the first 30 % of the steps on the all-`dw` path, then every other candidate started from it and one uniformly sampled path per step, SPOS). A candidate's accuracy: inherited weights, "
        f"BatchNorm statistics re-estimated on {min(CALIBRATION_IMAGES, data.size('train'))} training images, "
        f"validation top-1. Kendall tau against the {len(seeds)}-seed stand-alone mean over all "
        f"{len(archs)} architectures (90 % bootstrap interval over architectures), top-10 % precision, and on "
        f"the {len(archs) - len(zoo.VARIANTS)} sampled ones alone.",
        "",
        "| predictor | Kendall tau | tau 90 % interval | Spearman rho | top-10 % precision | tau, sampled only "
        "| training (CPU-s) | per candidate (CPU-s, median) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def row(label: str, predicted: np.ndarray, training: str, per: str) -> str:
        tau, rho, precision, (low, high) = agreement(predicted, truth)
        sampled_tau = stats.kendalltau(predicted[sampled], truth[sampled]).statistic
        return (f"| {label} | {tau:+.3f} | {low:+.3f} .. {high:+.3f} | {rho:+.3f} | {precision:.2f} | "
                f"{sampled_tau:+.3f} | {training} | {per} |")

    for (seed, epochs), values in scores.items():
        t = timing[str(seed), f"{epochs:g}"]
        per = statistics.median(float(costs[str(seed), f"{epochs:g}", a.name]["cpu_seconds"]) for a in archs)
        lines.append(row(f"supernet seed {seed}, {epochs:g} epochs ({t['steps']} steps)", values,
                         f"{float(t['cpu_seconds']):.0f}", f"{per:.2f}"))
    for epochs in sorted({e for _, e in scores}):
        members = [v for (s, e), v in scores.items() if e == epochs]
        if len(members) > 1:
            lines.append(row(f"mean of the {len(members)} supernets of {epochs:g} epochs", np.mean(members, 0),
                             "sum of the above", "sum of the above"))
    lines.append(row("params (parameter count of the digits network)", params, "0", "0.03"))
    lines.append(row(f"one stand-alone seed ({seeds[0]}) vs the mean of all", accuracy[0], "", ""))
    supernet_pairs = [stats.kendalltau(a, b).statistic for a, b in itertools.combinations(
        [v for (s, e), v in scores.items() if e == max(e for _, e in scores)], 2)]
    lines += [
        "",
        "The last row is optimistic (that seed is part of the mean it is compared with); it shows the "
        "agreement one stand-alone training run buys. "
        + (f"Supernet seed-to-seed tau (largest budget): {statistics.mean(supernet_pairs):.3f}."
           if supernet_pairs else ""),
        "",
        "## What the ground truth says about the operators",
        "",
        "Spearman rho between the number of blocks using an operator and the mean stand-alone accuracy: "
        + ", ".join(f"`{op}` {stats.spearmanr(c, truth).statistic:+.3f}" for op, c in counts.items()) + "; "
        "the same for the supernet (mean over its seeds, largest budget): "
        + ", ".join(f"`{op}` {stats.spearmanr(c, np.mean(list(v for (s, e), v in scores.items() if e == max(e for _, e in scores)), 0)).statistic:+.3f}"
                    for op, c in counts.items()) + ".",
        "",
        "| zoo variant | stand-alone mean (%) | " + " | ".join(f"supernet s{s} {e:g} ep (%)" for s, e in scores) + " |",
        "|---|---:|" + "---:|" * len(scores),
    ]
    for i, variant in enumerate(zoo.VARIANTS):
        lines.append(f"| {variant} | {100 * truth[i]:.1f} | " + " | ".join(f"{v[i]:.1f}" for v in scores.values()) + " |")
    (RESULTS / "supernet.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
