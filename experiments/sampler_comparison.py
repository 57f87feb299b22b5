"""Which Optuna sampler finds the best (proxy, latency) front fastest on the MobileNetV2 space?

For each sampler (tpe, nsga2, nsga3, gp, random) and seed, run a study on the MobileNetV2
operator space at 64x64 (FuSe array) and record the hypervolume after 50/100/200/500
trials, normalised by the hypervolume of a long-run reference front: the union of every
architecture evaluated by every run (all samplers, all seeds), the best front known.
The hypervolume reference point is the search's own (from the paper's variants).

The proxy is nos's default (the `imagenet` predictor: thousands of trials fit in minutes);
`--proxy` takes any proxy config of conf/proxy/. Each run uses the sampler exactly as `nos-search sampler=<name>`
configures it and the search's own batched ask/evaluate/tell step (`nos.search.study.step`);
evaluations are cached by architecture across runs (the proxy and the simulator are deterministic).

    python experiments/sampler_comparison.py [--seeds 3] [--budgets 50 100 200 500] [--proxy default]

Writes experiments/results/sampler_comparison.md.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import optuna

from nos.cli.search import config as search_config
from nos.run.config import Plan, group_options
from nos.search.objectives import Evaluator
from nos.search.pareto import hypervolume, reference_point
from nos.search.study import step

RESULTS = Path(__file__).parent / "results" / "sampler_comparison.md"
UP_DOWN = ("maximize", "minimize")


def config(sampler: str, seed: int, proxy: str) -> Plan:
    """What nos-search would run with ``sampler=<sampler> seed=<seed> proxy=<proxy>``, resolved."""
    return search_config([f"sampler={sampler}", f"seed={seed}", f"proxy={proxy}"]).resolve()


def run(c: Plan, space, evaluator: Evaluator, checkpoints, ref):
    """Hypervolume after each checkpoint, and every (proxy, latency) point evaluated, with the
    search's own ask/evaluate/tell step (batches of the sampler's population) on an in-memory study."""
    objectives = c.objectives
    study = optuna.create_study(directions=objectives.directions, sampler=c.sampler)
    batch = c.batch
    points: list[list[float]] = []
    earlier: dict[str, int] = {}
    hv, start = {}, time.perf_counter()
    for done in checkpoints:
        while len(points) < done:
            for record, key in step(study, space, evaluator, objectives, min(batch, done - len(points)),
                                    "experiment", [], earlier):
                earlier.setdefault(key, record.number)
                points.append([record.evaluation.proxy, record.evaluation.latency_ms])
        hv[done] = hypervolume(points, UP_DOWN, ref)
    return hv, points, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budgets", type=int, nargs="+", default=[50, 100, 200, 500])
    parser.add_argument("--proxy", default="default", help="a proxy config of conf/proxy/ (default: nos's default proxy)")
    parser.add_argument("--samplers", nargs="+", default=group_options("sampler"))
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = config("tpe", 0, args.proxy)
    space = base.space
    evaluator = base.evaluator  # one evaluator for every run: evaluations are cached by architecture
    evaluator.prepare()
    refs = evaluator.evaluate([arch for arch, _ in space.references.values()], score_all=True)
    ref = reference_point([[e.proxy, e.latency_ms] for e in refs], UP_DOWN)
    checkpoints = sorted(args.budgets)
    results, everything = {}, []
    for sampler in args.samplers:
        for seed in range(args.seeds):
            hv, points, seconds = run(config(sampler, seed, args.proxy), space, evaluator, checkpoints, ref)
            results[(sampler, seed)] = (hv, seconds)
            everything += points
            print(f"{sampler} seed {seed}: " + ", ".join(f"{n}: {v:.4g}" for n, v in hv.items())
                  + f" ({seconds:.0f} s)", flush=True)
    best = hypervolume(everything, UP_DOWN, ref)
    lines = ["# Sampler comparison on the MobileNetV2 operator space (64x64 FuSe array)", "",
             f"Measured with `python experiments/sampler_comparison.py --seeds {args.seeds} --budgets "
             f"{' '.join(map(str, checkpoints))} --proxy {args.proxy} --samplers {' '.join(args.samplers)}`. Objectives: proxy `{args.proxy}` (up) and "
             f"simulated latency in ms (down); hypervolume reference point (proxy, ms) = ({ref[0]:.6g}, {ref[1]:.6g}).",
             f"Values are hypervolume / hypervolume of the long-run reference front (the union of all "
             f"{len(everything)} evaluations of all runs; {len(evaluator)} distinct architectures evaluated, the 5 references included; "
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
