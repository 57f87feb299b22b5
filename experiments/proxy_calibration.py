"""Proxy calibration: how well does each zero-cost score rank architectures as training does?

Population: the zoo's five MobileNetV2 variants plus ``--archs`` genomes sampled uniformly
from the ``mobilenet_v2`` operator space (every block picks dw / full / fuse_half /
fuse_full). Ground truth: validation accuracy on ``digits`` after short training of the
width-scaled network (``--width``) at 32x32 for ``--epochs``, for each of ``--seeds``; the
mean over seeds is the target and the seed-to-seed Kendall tau is the noise floor.
Ground-truth runs and scores are cached (``proxy_calibration_groundtruth.csv``,
``proxy_calibration_scores.csv``) and resumed; ``--phase truth --reverse`` in a second
process shares the training from the other end of the work list.

Each proxy scores the full-width architecture exactly as the search calls it
(``score(arch, name, data="digits", seed=0)``), and is compared with the ground truth by
Kendall tau, Spearman rho and top-10 % precision; its cost is the median wall time per
architecture. The throughput table times each proxy on MobileNetV2 at 32x32 with 1 and 2
torch threads.

Writes ``experiments/results/proxy_calibration.md`` and ``proxy_calibration.csv``.
Usage: ``python experiments/proxy_calibration.py [--archs 60] [--seeds 0 1 2] [--epochs 4] [--phase all]``.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import math
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

from nos import zoo  # noqa: E402
from nos.arch import OPERATORS, Arch  # noqa: E402
from nos.proxies import IMAGENET, rank_ensemble, score  # noqa: E402
from nos.proxies import NAMES as ALL_NAMES  # noqa: E402
from nos.proxies.train import Budget, train_accuracy  # noqa: E402
from nos.search.space import arch_key  # noqa: E402
from search_spaces import get_space  # noqa: E402

NAMES = tuple(n for n in ALL_NAMES if n != IMAGENET)  # the predictor's operator effects are fitted on this ground truth
RESULTS = Path(__file__).resolve().parent / "results"
TRUTH_CSV = RESULTS / "proxy_calibration_groundtruth.csv"
TRUTH_FIELDS = ("arch", "seed", "accuracy", "seconds")
SCORES_CSV = RESULTS / "proxy_calibration_scores.csv"
SCORES_FIELDS = ("arch", "proxy", "value", "seconds")


def population(count: int, seed: int = 0) -> list[Arch]:
    """The zoo's MobileNetV2 variants, then ``count`` distinct sampled architectures."""
    archs = [zoo.get("mobilenet_v2", v) for v in zoo.VARIANTS]
    seen = {arch_key(a) for a in archs}
    space, rng = get_space("mobilenet_v2"), np.random.default_rng(seed)
    while len(archs) < len(zoo.VARIANTS) + count:
        arch = space.to_arch(space.sample(rng))
        if arch_key(arch) not in seen:
            seen.add(arch_key(arch))
            archs.append(arch)
    return archs


def _read_cache(path: Path, key: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, str]]:
    """Rows of a cache CSV keyed by the ``key`` columns ({} when the file does not exist)."""
    if not path.exists():
        return {}
    with open(path) as f:
        return {tuple(row[k] for k in key): row for row in csv.DictReader(f)}


@contextlib.contextmanager
def _appender(path: Path, fields: tuple[str, ...]):
    """A CSV writer appending to ``path`` (header written once), flushed after every row."""
    new_file = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fields)
        if new_file:
            writer.writeheader()

        class Flushing:
            def writerow(self, row: dict) -> None:
                writer.writerow(row)
                f.flush()

        yield Flushing()


def ground_truth(archs: list[Arch], seeds: list[int], budget: Budget, reverse: bool = False) -> np.ndarray:
    """Accuracy matrix (seeds x archs), trained seed-major so an early stop keeps whole seeds.

    The cache is re-read before every run, so two processes (one with ``reverse``) can share
    the work list from both ends; at most the run where they meet is done twice.
    """
    work = list(itertools.product(seeds, archs))
    with _appender(TRUTH_CSV, TRUTH_FIELDS) as writer:
        for seed, arch in reversed(work) if reverse else work:
            if (arch.name, str(seed)) not in _read_cache(TRUTH_CSV, ("arch", "seed")):
                start = time.perf_counter()
                accuracy = train_accuracy(arch, "digits", budget, seed=seed)
                writer.writerow({"arch": arch.name, "seed": seed, "accuracy": accuracy,
                                 "seconds": round(time.perf_counter() - start, 2)})
                print(f"seed {seed} {arch.name}: {accuracy:.4f}", flush=True)
    done = _read_cache(TRUTH_CSV, ("arch", "seed"))
    missing = [(a.name, s) for s, a in work if (a.name, str(s)) not in done]
    if missing:
        raise RuntimeError(f"ground truth: {len(missing)} runs missing, e.g. {missing[0]}")
    return np.array([[float(done[a.name, str(s)]["accuracy"]) for a in archs] for s in seeds])


def top_precision(predicted: np.ndarray, truth: np.ndarray, fraction: float = 0.1) -> float:
    """Share of the true top ``fraction`` that the prediction also ranks in its top ``fraction``."""
    k = max(1, math.ceil(fraction * len(truth)))
    return len(set(np.argsort(-predicted)[:k]) & set(np.argsort(-truth)[:k])) / k


def tau_interval(predicted: np.ndarray, truth: np.ndarray, resamples: int = 1000) -> tuple[float, float]:
    """90 % bootstrap interval of Kendall tau (architectures resampled with replacement, fixed seed)."""
    rng = np.random.default_rng(0)
    taus = []
    for _ in range(resamples):
        pick = rng.integers(len(truth), size=len(truth))
        taus.append(stats.kendalltau(predicted[pick], truth[pick]).statistic)
    low, high = np.nanpercentile(taus, [5, 95])
    return float(low), float(high)


def agreement(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float, float, tuple[float, float]]:
    """(Kendall tau, Spearman rho, top-10 % precision, tau's 90 % interval) of ``predicted`` against ``truth``."""
    return (stats.kendalltau(predicted, truth).statistic, stats.spearmanr(predicted, truth).statistic,
            top_precision(predicted, truth), tau_interval(predicted, truth))


def proxy_table(archs: list[Arch]) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every proxy's score per architecture and its median cost (seconds per architecture);
    runs are cached in ``proxy_calibration_scores.csv`` and resumed."""
    done = _read_cache(SCORES_CSV, ("arch", "proxy"))
    with _appender(SCORES_CSV, SCORES_FIELDS) as writer:
        for name, arch in itertools.product(NAMES, archs):
            if (arch.name, name) not in done:
                start = time.perf_counter()
                value = score(arch, name, data="digits", seed=0)
                row = {"arch": arch.name, "proxy": name, "value": repr(value),
                       "seconds": round(time.perf_counter() - start, 4)}
                writer.writerow(row)
                done[arch.name, name] = row
    values = {n: np.array([float(done[a.name, n]["value"]) for a in archs]) for n in NAMES}
    costs = {n: statistics.median(float(done[a.name, n]["seconds"]) for a in archs) for n in NAMES}
    return values, costs


def throughput(threads: int, repeats: int = 5) -> dict[str, float]:
    """Median seconds per call of each proxy on MobileNetV2 (full width, 32x32, digits)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    arch = zoo.get("mobilenet_v2")
    out = {}
    for name in NAMES:
        score(arch, name)  # warm-up (data cache, kernels)
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            score(arch, name)
            seconds.append(time.perf_counter() - start)
        out[name] = statistics.median(seconds)
    torch.set_num_threads(previous)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", type=int, default=60, help="sampled architectures (besides the 5 zoo variants)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--epochs", type=float, default=4.0, help="ground-truth training epochs")
    parser.add_argument("--width", type=float, default=0.5, help="width multiplier for ground-truth training")
    parser.add_argument("--reverse", action="store_true",
                        help="walk the ground-truth work list from its end (a second process sharing the cache)")
    parser.add_argument("--phase", choices=("all", "scores", "truth"), default="all",
                        help="'scores' or 'truth' only fills that cache; 'all' also writes the report")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # shared machine: one thread per run is the fastest per core for these small nets

    archs = population(args.archs)
    budget = Budget(epochs=args.epochs, width=args.width)
    if args.phase in ("all", "scores"):
        values, costs = proxy_table(archs)
    if args.phase in ("all", "truth"):
        accuracy = ground_truth(archs, args.seeds, budget, args.reverse)
    if args.phase == "all":
        report(archs, args.seeds, accuracy, values, costs, {t: throughput(t) for t in (1, 2)}, budget)


def _fmt(x: float) -> str:
    return f"{x:+.3f}"


def report(archs: list[Arch], seeds: list[int], accuracy: np.ndarray, values: dict[str, np.ndarray],
           costs: dict[str, float], speed: dict[int, dict[str, float]], budget: Budget) -> None:
    """Write the CSV of raw numbers and the Markdown summary; print the chosen default."""
    truth = accuracy.mean(axis=0)
    pairs = list(itertools.combinations(range(len(seeds)), 2))
    noise = [stats.kendalltau(accuracy[i], accuracy[j]).statistic for i, j in pairs]
    rows = {name: agreement(v, truth) for name, v in values.items()}
    zero_cost = [n for n in NAMES if n not in ("params", "flops")]
    best3 = sorted(zero_cost, key=lambda n: -rows[n][0])[:3]
    ensembles = {f"ensemble of all {len(zero_cost)} zero-cost scores": zero_cost,
                 f"ensemble {' + '.join(best3)} (chosen after seeing the table)": best3,
                 f"ensemble params + {best3[0]} (chosen after seeing the table)": ["params", best3[0]]}
    for label, members in ensembles.items():
        rows[label] = agreement(rank_ensemble({n: values[n] for n in members}), truth)
        costs[label] = sum(costs[n] for n in members)

    affordable = [n for n in NAMES if speed[2][n] < 1.0]
    default = max(affordable, key=lambda n: rows[n][0])
    best_zero_cost = max(zero_cost, key=lambda n: rows[n][0])
    beats = rows[best_zero_cost][0] > rows["params"][0]

    counts = {op: np.array([sum(b.op == op for b in a.blocks) for a in archs]) for op in OPERATORS}
    by_op = {op: stats.spearmanr(c, truth).statistic for op, c in counts.items()}
    with open(RESULTS / "proxy_calibration.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch", *(f"n_{op}" for op in OPERATORS), *(f"acc_seed{s}" for s in seeds),
                         "acc_mean", *NAMES])
        for i, arch in enumerate(archs):
            writer.writerow([arch.name, *(counts[op][i] for op in OPERATORS), *(f"{a:.4f}" for a in accuracy[:, i]),
                             f"{truth[i]:.4f}",
                             *(repr(float(values[n][i])) for n in NAMES)])

    tau, rho = rows[default][:2]
    lines = [
        f"**Default proxy: `{default}`** — Kendall tau {tau:.3f} (Spearman rho {rho:.3f}) against short-training "
        f"accuracy on digits over {len(archs)} MobileNetV2-style architectures; the seed-to-seed noise floor of "
        f"that ground truth is tau {statistics.mean(noise):.3f}"
        + ("." if default in zero_cost else f"; no zero-cost score beats it (best: `{best_zero_cost}`, tau "
                                            f"{rows[best_zero_cost][0]:.3f})."),
        "",
        "# Proxy calibration",
        "",
        f"Measured on this machine ({platform.machine()}, {os.cpu_count()} cores shared with other jobs, "
        f"torch {torch.__version__}, CPU) by `python experiments/proxy_calibration.py`.",
        "",
        "## Setup",
        "",
        f"- Population: the zoo's 5 MobileNetV2 variants ({', '.join(zoo.VARIANTS)}) plus {len(archs) - 5} "
        "distinct genomes drawn uniformly from the `mobilenet_v2` space (each of the 17 blocks picks dw / full / "
        "fuse_half / fuse_full).",
        f"- Ground truth: validation accuracy on `digits` (1,437 train / 360 val) after {budget.epochs:g} epochs "
        f"of SGD (batch {budget.batch_size}, lr {budget.lr}, cosine, {budget.warmup:.0%} warm-up, wd "
        f"{budget.weight_decay}) of the width-{budget.width} network at {budget.resolution}x{budget.resolution}; "
        f"mean over seeds {', '.join(map(str, seeds))}. Accuracy range {truth.min():.3f} .. {truth.max():.3f} "
        f"(mean {truth.mean():.3f}).",
        f"- Noise floor: Kendall tau between two seeds' accuracies: "
        f"{', '.join(f'{t:.3f}' for t in noise)} (mean {statistics.mean(noise):.3f}). A proxy cannot be "
        "expected to agree with one training run better than another run does; the mean over seeds is less noisy.",
        "- Proxies: `score(arch, name, data=\"digits\", seed=0)` on the full-width architecture at 32x32, "
        "batch 64, exactly the call the search makes. One torch thread (the machine is shared).",
        "",
        "## Agreement with training (higher is better)",
        "",
        "| proxy | Kendall tau | tau 90 % interval | Spearman rho | top-10 % precision | cost per arch (s, 1 thread) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in sorted(rows, key=lambda n: -rows[n][0]):
        t, r, p, (low, high) = rows[name]
        lines.append(f"| {name} | {_fmt(t)} | {_fmt(low)} .. {_fmt(high)} | {_fmt(r)} | {p:.2f} | {costs[name]:.3f} |")
    lines += [
        "",
        f"Top-10 % precision: share of the {math.ceil(0.1 * len(archs))} most accurate architectures that the "
        "proxy also puts in its top 10 %. The tau interval is a bootstrap over architectures (1,000 resamples): "
        "where intervals overlap, the ranking of two proxies is not settled by this population. Costs are medians over the population, recorded by the "
        "cached scoring pass: it shares the machine with whatever runs beside it (here the ground-truth training "
        "and other jobs), so plan with the throughput table, timed in one go at the end.",
        "",
        "## Throughput on MobileNetV2 (full width, 32x32, batch 64; median of 5 calls)",
        "",
        "| proxy | 1 thread (s) | 2 threads (s) |",
        "|---|---:|---:|",
    ]
    lines += [f"| {n} | {speed[1][n]:.3f} | {speed[2][n]:.3f} |" for n in NAMES]
    lines += [
        "",
        "## What the ground truth says about the operators",
        "",
        "Spearman rho between the number of blocks using an operator and the mean accuracy: "
        + ", ".join(f"`{op}` {_fmt(r)}" for op, r in by_op.items()) + ".",
    ]
    verdict = (f"The best zero-cost score, `{best_zero_cost}` (tau {rows[best_zero_cost][0]:.3f}), beats the "
               f"parameter count (tau {rows['params'][0]:.3f})." if beats else
               f"No zero-cost score beats the parameter count: the best, `{best_zero_cost}`, reaches tau "
               f"{rows[best_zero_cost][0]:.3f} against {rows['params'][0]:.3f} for `params`.")
    lines += [
        "",
        "## Choice of the default",
        "",
        verdict,
        f"`nos.proxies.DEFAULT = \"{default}\"`: the highest Kendall tau among the proxies that score a "
        "MobileNetV2 at 32x32 in under a second on 2 threads. Ensembles are reported for information; the one "
        "built from the three best scores was chosen after seeing this table and is optimistically biased.",
        "",
        "Raw numbers: `proxy_calibration.csv` (per architecture: operator counts, accuracy per seed, every score), "
        "caches `proxy_calibration_groundtruth.csv` and `proxy_calibration_scores.csv`.",
    ]
    (RESULTS / "proxy_calibration.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
