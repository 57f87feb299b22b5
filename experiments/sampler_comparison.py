"""Which Optuna sampler finds the best (proxy, latency) front fastest on the MobileNetV2 space?

For each sampler (tpe, nsga2, nsga3, gp, random) and seed, run a study on the MobileNetV2
operator space at 64x64 (FuSe array) and record the hypervolume after 50/100/200/500
trials, normalised by the hypervolume of a long-run reference front: the union of every
architecture evaluated by every run (all samplers, all seeds), the best front known.
The hypervolume reference point is the search's own (from the paper's variants).

The proxy defaults to `params` so that thousands of trials fit in minutes; `--proxy` takes
any name of nos.proxies.NAMES. Evaluations are cached by architecture across runs (the
proxy and the simulator are deterministic).

    python experiments/sampler_comparison.py [--seeds 3] [--budgets 50 100 200 500] [--proxy params]

Writes experiments/results/sampler_comparison.md.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import optuna

from nos import sim
from nos.search.objectives import Evaluation, Evaluator
from nos.search.pareto import hypervolume_2d, reference_point
from nos.search.space import arch_key
from nos.search.study import SAMPLERS, make_sampler
from search_spaces import get_space

RESULTS = Path(__file__).parent / "results" / "sampler_comparison.md"


class CachedEvaluator:
    """Evaluations shared by all runs, keyed by architecture."""

    def __init__(self, evaluator: Evaluator):
        self.evaluator, self.cache = evaluator, {}

    def __call__(self, arch) -> Evaluation:
        key = arch_key(arch)
        if key not in self.cache:
            self.cache[key] = self.evaluator(arch)
        return self.cache[key]


def run(sampler: str, seed: int, trials: int, space, evaluate: CachedEvaluator, checkpoints, ref):
    """Hypervolume after each checkpoint, and every (proxy, latency) point evaluated."""
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(sampler, seed))
    points: list[tuple[float, float]] = []

    def objective(trial):
        e = evaluate(space.to_arch(space.suggest(trial)))
        points.append((e.proxy, e.latency_ms))
        return e.proxy, e.latency_ms

    hv, start = {}, time.perf_counter()
    for done in checkpoints:
        study.optimize(objective, n_trials=done - len(points))
        hv[done] = hypervolume_2d([p for p, _ in points], [t for _, t in points], ref)
    return hv, points, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budgets", type=int, nargs="+", default=[50, 100, 200, 500])
    parser.add_argument("--proxy", default="params")
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS))
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = get_space("mobilenet_v2")
    # results/sampler_comparison.md was measured under the padded fold convention (the default then)
    hardware = sim.Hardware(rows=64, cols=64, dataflow="os", fuse=True, fold="padded")
    evaluate = CachedEvaluator(Evaluator(hardware, args.proxy))
    refs = [evaluate(a) for a in space.references.values()]
    ref = reference_point([e.proxy for e in refs], [e.latency_ms for e in refs])
    checkpoints = sorted(args.budgets)
    results, everything = {}, []
    for sampler in args.samplers:
        for seed in range(args.seeds):
            hv, points, seconds = run(sampler, seed, checkpoints[-1], space, evaluate, checkpoints, ref)
            results[(sampler, seed)] = (hv, seconds)
            everything += points
            print(f"{sampler} seed {seed}: " + ", ".join(f"{n}: {v:.4g}" for n, v in hv.items())
                  + f" ({seconds:.0f} s)", flush=True)
    best = hypervolume_2d([p for p, _ in everything], [t for _, t in everything], ref)
    lines = ["# Sampler comparison on the MobileNetV2 operator space (64x64 FuSe array)", "",
             f"Measured with `python experiments/sampler_comparison.py --seeds {args.seeds} --budgets "
             f"{' '.join(map(str, checkpoints))} --proxy {args.proxy}`. Objectives: proxy `{args.proxy}` (up) and "
             f"simulated latency in ms (down); hypervolume reference point (proxy, ms) = ({ref[0]:.6g}, {ref[1]:.6g}).",
             f"Values are hypervolume / hypervolume of the long-run reference front (the union of all "
             f"{len(everything)} evaluations of all runs; {len(evaluate.cache)} distinct architectures evaluated, the 5 references included; "
             f"its hypervolume is {best:.6g}); mean ± standard deviation over {args.seeds} seeds.", "",
             "| sampler | " + " | ".join(f"{n} trials" for n in checkpoints) + " | seconds per run |",
             "|---|" + "---:|" * (len(checkpoints) + 1)]
    for sampler in args.samplers:
        cells = []
        for n in checkpoints:
            values = [results[(sampler, s)][0][n] / best for s in range(args.seeds)]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.3f} ± {sd:.3f}")
        seconds = statistics.mean(results[(sampler, s)][1] for s in range(args.seeds))
        lines.append(f"| {sampler} | " + " | ".join(cells) + f" | {seconds:.0f} |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
