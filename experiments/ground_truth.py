"""Ground truth for the accuracy proxies: stand-alone training on Fashion-MNIST of a designed
population of the ``mobilenet_v2`` operator space, several seeds each.

Population (:func:`population`), in this order:

* the four single-operator networks (every block ``dw`` / ``full`` / ``fuse_half`` / ``fuse_full``);
* the paper's two 50 % variants (``fuse_full_50``, ``fuse_half_50``: blocks 1-9 FuSe);
* placement pairs: an operator in the early blocks vs the same operator in the late blocks,
  the other blocks ``dw`` (``full``, ``fuse_half``, ``fuse_full``; for ``dw`` itself the other
  blocks are ``full``), blocks 0-7 vs 9-16 and blocks 0-3 vs 13-16;
* per-stage mixes: every stage (consecutive blocks of one output width) one operator, drawn;
* random samples: operator frequencies drawn from a flat Dirichlet, then each block's operator
  from them (every mix from one operator to an even spread).

Recipe (:data:`RECIPE`): chosen by the pilot (``--pilot``) for reliability alone -- one-seed
intra-class correlation and split-half reliability of the seed means -- never for the accuracy it
reaches. Training uses a fixed subset of the 60,000 training images when ``train_images`` says so;
validation is the full 10,000-image test set, which is never used for training, BatchNorm
statistics or any choice of a proxy.

Every (arch, seed) run is appended to ``results/ground_truth.csv`` as it finishes (never
overwritten); a run already there for the same recipe is skipped, so the script resumes and can
be spread over several sessions. Runs go seed-major (every architecture at seeds 0 and 1, then
seed 2, then 3), so a partial CSV is already useful. A run that diverges (a non-finite loss, or
validation accuracy within 5 points of chance) is recorded with ``diverged=1`` and stops the
script: the recipe must be fixed, not the run dropped.

Writes ``experiments/results/ground_truth.md`` (``--report``).
Usage: ``python experiments/ground_truth.py [--seeds 0 1 2 3] [--pilot] [--report]``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
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
from nos.proxies.data import Dataset, load  # noqa: E402
from nos.proxies.train import Budget, fit, materialize, measure  # noqa: E402
from nos.search.space import arch_key  # noqa: E402
from proxy_calibration import _appender, _read_cache  # noqa: E402
from search_spaces import get_space  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TRUTH_CSV = RESULTS / "ground_truth.csv"
FIELDS = ("arch", "group", "genome", *(f"n_{op}" for op in OPERATORS), "seed", "val_accuracy", "val_loss",
          "train_loss", "diverged", "cpu_seconds", "seconds", "recipe")
DATA = "fashion_mnist"
SUBSET_SEED = 0  # which training images a recipe with train_images < 60,000 uses
TRAIN_LOSS_IMAGES = 2000  # fixed training images the final training loss is measured on


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything a ground-truth run depends on besides the architecture and the seed.

    Attributes:
        budget: the training budget (width multiplier, resolution, steps, batch, lr, ...).
        train_images: the first ``train_images`` of a fixed seeded permutation of the 60,000
            training images (60,000: all of them).
    """

    budget: Budget
    train_images: int = 60_000

    @property
    def tag(self) -> str:
        """One string naming the recipe (the ``recipe`` column of the CSV)."""
        fields = {k: v for k, v in dataclasses.asdict(self.budget).items() if v != getattr(Budget(), k)}
        return json.dumps({"data": DATA, "train_images": self.train_images, **fields}, sort_keys=True)


RECIPE = Recipe(Budget(steps=500, batch_size=128, lr=0.1, width=0.25, resolution=28), train_images=60_000)
"""The recipe the pilot chose (see ``ground_truth.md``)."""


def dataset(recipe: Recipe) -> Dataset:
    """Fashion-MNIST at the recipe's resolution, its training split cut to ``train_images``
    (normalisation statistics stay those of all 60,000 training images)."""
    data = load(DATA, recipe.budget.resolution)
    if recipe.train_images >= data.size("train"):
        return data
    keep = torch.randperm(data.size("train"), generator=torch.Generator().manual_seed(SUBSET_SEED))
    keep = keep[: recipe.train_images].sort().values
    return dataclasses.replace(data, train_x=data.train_x[keep], train_y=data.train_y[keep])


LETTER = {"dw": "d", "full": "F", "fuse_half": "h", "fuse_full": "f"}  # an operator's letter in a member's name
OPERATOR_OF_LETTER = {letter: op for op, letter in LETTER.items()}


def _genome_text(genome: dict) -> str:
    return "".join(LETTER[genome[f"b{i}.op"]] for i in range(len(genome)))


def population(random_count: int = 12, stage_count: int = 8, seed: int = 0) -> list[tuple[str, str, dict, Arch]]:
    """The designed population: (name, group, genome, arch) per architecture, in the order of the
    module docstring; names are ``<group>/<one letter per block>`` (d dw, F full, h fuse_half,
    f fuse_full)."""
    space = get_space("mobilenet_v2")
    n = len(space.base.blocks)
    members: list[tuple[str, dict]] = []

    def uniform(op: str) -> dict:
        return {f"b{i}.op": op for i in range(n)}

    def placed(op: str, blocks: range, background: str) -> dict:
        return {f"b{i}.op": op if i in blocks else background for i in range(n)}

    members += [("single", uniform(op)) for op in OPERATORS]
    members += [("paper50", space.genome_of(zoo.get("mobilenet_v2", v))) for v in ("fuse_full_50", "fuse_half_50")]
    halves = ((range(0, 8), range(9, 17)), (range(0, 4), range(13, 17)))
    for early, late in halves:
        for op in OPERATORS:
            background = "full" if op == "dw" else "dw"
            if early == range(0, 4) and op == "dw":
                continue  # dw on a full background: one pair is enough
            members += [("early", placed(op, early, background)), ("late", placed(op, late, background))]
    rng = np.random.default_rng(seed)
    stages = get_space("mobilenet_v2_stages")
    seen = {arch_key(space.to_arch(g)) for _, g in members}
    while len(members) < 4 + 2 + 14 + stage_count:
        genome = stages.block_genome(stages.sample(rng))
        if arch_key(space.to_arch(genome)) not in seen:
            seen.add(arch_key(space.to_arch(genome)))
            members.append(("stages", genome))
    while len(members) < 4 + 2 + 14 + stage_count + random_count:
        frequencies = rng.dirichlet(np.ones(len(OPERATORS)))
        genome = {c.name: c.options[int(rng.choice(len(c.options), p=frequencies))] for c in space.choices}
        if arch_key(space.to_arch(genome)) not in seen:
            seen.add(arch_key(space.to_arch(genome)))
            members.append(("random", genome))
    out = []
    for group, genome in members:
        name = f"{group}/{_genome_text(genome)}"
        out.append((name, group, genome, dataclasses.replace(space.to_arch(genome), name=name)))
    return out


def train_one(arch: Arch, data: Dataset, recipe: Recipe, seed: int) -> dict:
    """Train ``arch`` stand-alone for ``recipe`` with ``seed``; the CSV row's measured fields."""
    start, cpu = time.perf_counter(), time.process_time()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = materialize(arch, data, recipe.budget.width)
        fit(model, data, recipe.budget, seed)
    val_accuracy, val_loss = measure(model, data, batch_size=1000)
    _, train_loss = measure(model, data, "train", TRAIN_LOSS_IMAGES, batch_size=1000)
    chance = 1 / data.num_classes
    diverged = not (math.isfinite(val_loss) and math.isfinite(train_loss)) or val_accuracy < chance + 0.05
    return {"val_accuracy": round(val_accuracy, 4), "val_loss": round(val_loss, 5), "train_loss": round(train_loss, 5),
            "diverged": int(diverged), "cpu_seconds": round(time.process_time() - cpu, 1),
            "seconds": round(time.perf_counter() - start, 1)}


def work_list(members: list, seeds: list[int]) -> list[tuple[int, int]]:
    """(seed, member index) in the order runs are made: seeds 0 and 1 interleaved per architecture,
    then each further seed over all architectures."""
    first = [s for s in seeds if s in (0, 1)]
    rest = [s for s in seeds if s not in (0, 1)]
    return [(s, i) for i in range(len(members)) for s in first] + [(s, i) for s in rest for i in range(len(members))]


def run(members: list, seeds: list[int], recipe: Recipe) -> None:
    """Train every missing (arch, seed) of the recipe, appending each row as it finishes."""
    data = dataset(recipe)
    with _appender(TRUTH_CSV, FIELDS) as writer:
        for seed, i in work_list(members, seeds):
            name, group, genome, arch = members[i]
            if (name, str(seed), recipe.tag) in _read_cache(TRUTH_CSV, ("arch", "seed", "recipe")):
                continue
            row = train_one(arch, data, recipe, seed)
            counts = {f"n_{op}": sum(b.op == op for b in arch.blocks) for op in OPERATORS}
            writer.writerow({"arch": name, "group": group, "genome": json.dumps(genome, sort_keys=True), **counts,
                             "seed": seed, **row, "recipe": recipe.tag})
            print(f"seed {seed} {name}: {100 * row['val_accuracy']:.2f} % loss {row['val_loss']:.3f} "
                  f"({row['cpu_seconds']:.0f} CPU-s)", flush=True)
            if row["diverged"]:
                raise SystemExit(f"{name} seed {seed} diverged (accuracy {row['val_accuracy']}, loss {row['val_loss']}): "
                                 f"fix the recipe")


# ---------------------------------------------------------------- reliability
def table(recipe: Recipe, column: str = "val_accuracy") -> tuple[list[str], np.ndarray]:
    """(architecture names, matrix archs x seeds of ``column``) of the recipe's rows: the seed count
    that keeps the most runs, and the architectures that have that many (in population order of
    the CSV); seeds are the ones all of them share."""
    rows = [r for r in _read_cache(TRUTH_CSV, ("arch", "seed", "recipe")).values() if r["recipe"] == recipe.tag]
    by_arch: dict[str, dict[int, float]] = {}
    for r in rows:
        by_arch.setdefault(r["arch"], {})[int(r["seed"])] = float(r[column])
    if not by_arch:
        return [], np.zeros((0, 0))
    def covered(k: int) -> list[str]:
        return [a for a, v in by_arch.items() if len(v) >= k]

    # the seed count that keeps the most runs (architectures x seeds), at least 4 architectures
    k = max((k for k in {len(v) for v in by_arch.values()} if len(covered(k)) >= 4),
            key=lambda k: (len(covered(k)) * k, k), default=1)
    names = covered(k)
    seeds = sorted(set.intersection(*(set(by_arch[a]) for a in names)))[:k]
    return names, np.array([[by_arch[a][s] for s in seeds] for a in names])


def icc1(x: np.ndarray) -> float:
    """One-way random-effects intra-class correlation ICC(1) of a matrix (targets x seeds): the
    share of one run's variance that is between targets (Shrout & Fleiss 1979, case 1)."""
    n, k = x.shape
    grand = x.mean()
    between = k * ((x.mean(1) - grand) ** 2).sum() / (n - 1)
    within = ((x - x.mean(1, keepdims=True)) ** 2).sum() / (n * (k - 1))
    return float((between - within) / (between + (k - 1) * within))


def split_half(x: np.ndarray) -> tuple[float, float, float]:
    """(Pearson r of the even-seed and odd-seed means, its Spearman-Brown step-up -- the reliability
    of the mean over all seeds --, Kendall tau of the two half means)."""
    a, b = x[:, 0::2].mean(1), x[:, 1::2].mean(1)
    r = float(np.corrcoef(a, b)[0, 1])
    return r, 2 * r / (1 + r), float(stats.kendalltau(a, b).statistic)


def seed_tau(x: np.ndarray) -> float:
    """Mean Kendall tau between the accuracies of two seeds, over all seed pairs."""
    k = x.shape[1]
    return float(np.mean([stats.kendalltau(x[:, i], x[:, j]).statistic for i in range(k) for j in range(i + 1, k)]))


def reliability(recipe: Recipe) -> str:
    names, x = table(recipe)
    if x.shape[1] < 2:
        return f"{len(names)} architectures with {x.shape[1]} seed(s): too few for reliability"
    r, sb, tau = split_half(x)
    return (f"{len(names)} archs x {x.shape[1]} seeds: ICC(1) {icc1(x):.3f}, split-half r {r:.3f} "
            f"(Spearman-Brown {sb:.3f}, tau {tau:.3f}), seed-to-seed tau {seed_tau(x):.3f}, "
            f"between-arch SD of the means {100 * x.mean(1).std(ddof=1):.2f} points, "
            f"pooled seed SD {100 * seed_sd(x):.2f} points")


def seed_sd(x: np.ndarray) -> float:
    """Pooled within-architecture (seed-to-seed) standard deviation of a matrix (archs x seeds)."""
    return float(np.sqrt(((x - x.mean(1, keepdims=True)) ** 2).sum() / (x.shape[0] * (x.shape[1] - 1))))


def report(members: list, recipe: Recipe) -> str:
    """``ground_truth.md``: the recipe, how it was chosen, reliability, the per-architecture table."""
    rows = [r for r in _read_cache(TRUTH_CSV, ("arch", "seed", "recipe")).values() if r["recipe"] == recipe.tag]
    names, x = table(recipe)
    _, loss = table(recipe, "val_loss")
    k = x.shape[1]
    r, sb, tau = split_half(x)
    cpu = [float(row["cpu_seconds"]) for row in rows]
    diverged = sum(int(row["diverged"]) for row in rows)
    pilot_rows = [row for row in _read_cache(TRUTH_CSV, ("arch", "seed", "recipe")).values()
                  if row["recipe"] == PILOT["A"].tag and row["arch"] in PILOT_ARCHS and row["seed"] in ("0", "1")]
    b = recipe.budget
    lines = [
        "# Ground truth: stand-alone training on Fashion-MNIST",
        "",
        f"Written by `python experiments/ground_truth.py --report` from `ground_truth.csv` ({len(rows)} runs). "
        f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs (load average 3-6 while it "
        f"ran), torch {torch.__version__} (CPU), one torch thread per run.",
        "",
        "## Recipe",
        "",
        f"- Data: Fashion-MNIST (Xiao et al. 2017, Debian's `dataset-fashion-mnist`): trained on "
        f"{'all 60,000' if recipe.train_images >= 60000 else f'{recipe.train_images:,}'} training images; "
        f"**validation: the 10,000 test images**, held out: never used for training, BatchNorm statistics, choosing "
        f"this recipe (chosen by reliability alone) or any proxy (the proxies score held-out *training* images).",
        f"- Network: the `mobilenet_v2` operator space at width {b.width} (`Arch.scaled`), 10 classes, "
        f"{b.resolution}x{b.resolution} input (grey replicated to 3 channels).",
        f"- Training: {b.steps} steps of SGD, batch {b.batch_size} (about {b.steps * b.batch_size / 60000:.2f} epochs), "
        f"lr {b.lr}, Nesterov momentum {b.momentum}, {b.schedule} after {b.warmup:.0%} linear warm-up, weight decay "
        f"{b.weight_decay} (not on BN and biases), no clipping (`nos.proxies.train.fit`); seeds "
        f"{', '.join(map(str, sorted({int(row['seed']) for row in rows})))}.",
        f"- Divergence check: a non-finite loss or validation accuracy within 5 points of chance stops the script; "
        f"diverged runs: {diverged}.",
        f"- Cost: {len(rows)} runs, median {np.median(cpu):.0f} CPU-s (range {min(cpu):.0f}-{max(cpu):.0f}), "
        f"{sum(cpu) / 3600:.1f} CPU-hours in all.",
        "",
        "How it was chosen (the pilot, `--pilot A`, 17 CPU-minutes): the six pilot architectures (the four "
        "single-operator networks and the FuSe-Half early/late pair) at seeds 0 and 1 gave seed SD "
        f"{100 * _pilot_sd(pilot_rows):.2f} points and no divergence at about 1.3 CPU-minutes a run, so the first "
        "recipe tried was kept; its reliability over the whole population is below.",
        "",
        "## Reliability",
        "",
        f"Over {len(names)} architectures x {k} seeds:",
        "",
        "| measure | value | target |",
        "|---|---:|---:|",
        f"| one-seed intra-class correlation ICC(1) | {icc1(x):.3f} | >= 0.5 |",
        f"| split-half r (mean of even seeds vs mean of odd seeds) | {r:.3f} | |",
        f"| split-half reliability of the {k}-seed mean (Spearman-Brown) | {sb:.3f} | >= 0.8 |",
        f"| split-half Kendall tau | {tau:.3f} | |",
        f"| seed-to-seed Kendall tau (mean over seed pairs) | {seed_tau(x):.3f} | |",
        f"| between-architecture SD of the {k}-seed means | {100 * x.mean(1).std(ddof=1):.2f} points | |",
        f"| pooled seed-to-seed SD of one run | {100 * seed_sd(x):.2f} points | |",
        f"| binomial SE of one run's accuracy (10,000 images) | "
        f"{100 * math.sqrt(x.mean() * (1 - x.mean()) / 10000):.2f} points | |",
        "",
        f"Validation accuracy: {100 * x.mean(1).min():.2f} .. {100 * x.mean(1).max():.2f} % "
        f"(mean {100 * x.mean():.2f} %).",
        "",
        "## Per architecture",
        "",
        "Name: group / one letter per block 0-16 (d dw, F full, h fuse_half, f fuse_full). Mean and SD over seeds.",
        "",
        "| architecture | top-1 mean (%) | top-1 SD | loss mean | loss SD |",
        "|---|---:|---:|---:|---:|",
    ]
    for i in np.argsort(-x.mean(1)):
        lines.append(f"| `{names[i]}` | {100 * x[i].mean():.2f} | {100 * x[i].std(ddof=1):.2f} | "
                     f"{loss[i].mean():.4f} | {loss[i].std(ddof=1):.4f} |")
    missing = [m[0] for m in members if m[0] not in names]
    if missing:
        lines += ["", f"Not yet complete at {k} seeds: {len(missing)} architectures ({', '.join(missing[:5])}"
                  f"{' ...' if len(missing) > 5 else ''})."]
    return "\n".join(lines) + "\n"


def _pilot_sd(rows: list[dict]) -> float:
    by_arch: dict[str, list[float]] = {}
    for row in rows:
        by_arch.setdefault(row["arch"], []).append(float(row["val_accuracy"]))
    pairs = np.array([v for v in by_arch.values() if len(v) == 2])
    return seed_sd(pairs) if len(pairs) else math.nan


PILOT = {
    "A": Recipe(Budget(steps=500, batch_size=128, lr=0.1, width=0.25, resolution=28)),
}
PILOT_ARCHS = ("single/ddddddddddddddddd", "single/FFFFFFFFFFFFFFFFF", "single/hhhhhhhhhhhhhhhhh",
               "single/fffffffffffffffff", "early/hhhhhhhhddddddddd", "late/dddddddddhhhhhhhh")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--pilot", nargs="*", metavar="RECIPE", default=None,
                        help=f"train the pilot architectures with these pilot recipes ({', '.join(PILOT)}) at seeds "
                             f"0 and 1 and print their reliability")
    parser.add_argument("--report", action="store_true", help="write ground_truth.md from the CSV, train nothing")
    args = parser.parse_args()
    torch.set_num_threads(1)  # shared machine: one core
    RESULTS.mkdir(parents=True, exist_ok=True)
    members = population()
    if args.pilot is not None:
        chosen = [m for m in members if m[0] in PILOT_ARCHS]
        for label in args.pilot or list(PILOT):
            run(chosen, [0, 1], PILOT[label])
            print(f"pilot {label}: {reliability(PILOT[label])}", flush=True)
        return
    if args.report:
        text = report(members, RECIPE)
        (RESULTS / "ground_truth.md").write_text(text)
        print(text)
        return
    run(members, args.seeds, RECIPE)
    print(reliability(RECIPE))


if __name__ == "__main__":
    main()
