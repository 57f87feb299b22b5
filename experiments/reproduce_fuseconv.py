"""Reproduce the FuSeConv paper's latency results (DATE 2021, Table + array-size sweep), and
report the ``scalesim`` model's speed-ups under both fold conventions and both drain settings.

Writes ``experiments/results/fuseconv_speedups.md``:

1. the 20 published speed-ups at 64x64 (baseline on the conventional array vs the variant on
   FuSe hardware) beside the ``paper_era`` and ``paper`` (released, floor) models and the
   ``scalesim`` + ST-OS model under the ``padded`` and ``used`` fold conventions, each with a
   ``hidden`` and a ``charged`` drain;
2. the baseline cycle counts of fuseconv.md (released model) and under every model;
3. FuSe networks on the conventional array (no FuSe bus);
4. all 25 networks (5 baselines + 20 variants) on square arrays of 8 to 256 PEs a side:
   speed-ups under ``paper_era`` and the four ``scalesim`` settings, and the baselines' cycles;
5. where the remaining gap to the published numbers comes from (MobileNet-V2 cycles by part).

Every speed-up is truncated to the digits shown, the published table's own rule.

Run: ``python experiments/reproduce_fuseconv.py`` (a few seconds).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nos import zoo
from nos.sim import Hardware, simulate
from nos.sim.paper import PUBLISHED_SPEEDUPS

RESULTS = Path(__file__).resolve().parent / "results" / "fuseconv_speedups.md"
NETWORKS = ("mobilenet_v1", "mobilenet_v2", "mnasnet_b1", "mobilenet_v3_small", "mobilenet_v3_large")
VARIANTS = ("fuse_full", "fuse_half", "fuse_full_50", "fuse_half_50")
LABELS = {"fuse_full": "Full", "fuse_half": "Half", "fuse_full_50": "50% Full", "fuse_half_50": "50% Half"}
BASELINE_CYCLES = {"mobilenet_v1": 2_521_760, "mobilenet_v2": 2_961_936, "mnasnet_b1": 2_735_928,
                   "mobilenet_v3_small": 693_549, "mobilenet_v3_large": 2_003_753}  # fuseconv.md, released model
SIZES = (8, 16, 32, 64, 128, 256)
# (label, cycle model, fold convention, drain); the paper models ignore fold and drain
MODELS = (("paper_era", "paper_era", "used", "hidden"), ("paper", "paper", "used", "hidden"),
          ("scalesim used", "scalesim", "used", "hidden"), ("scalesim padded", "scalesim", "padded", "hidden"),
          ("scalesim used charged", "scalesim", "used", "charged"),
          ("scalesim padded charged", "scalesim", "padded", "charged"))
SCALESIM = tuple(label for label, model, _, _ in MODELS if model == "scalesim")
FUSE_KINDS = ("dw_1xk", "dw_kx1")


def truncated(value: float, decimals: int) -> str:
    """``value`` truncated (not rounded) to ``decimals`` decimals, as the published table prints."""
    scale = 10 ** decimals
    return f"{math.floor(value * scale) / scale:.{decimals}f}"


def decimals_of(printed: str) -> int:
    return len(printed.split(".")[1]) if "." in printed else 0


def sweep(model: str, fold: str, drain: str, sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(speed-up on FuSe hardware, speed-up on the conventional array, baseline cycles), shaped
    (sizes, networks, variants) / (sizes, networks), from two vectorized simulate calls."""
    archs = [zoo.get(n, v) for n in NETWORKS for v in ("baseline",) + VARIANTS]
    shape = (len(sizes), len(NETWORKS), 1 + len(VARIANTS))
    conventional, fused = (simulate(archs, [Hardware(rows=s, cols=s, fuse=fuse, fold=fold, drain=drain)
                                            for s in sizes], model).total_cycles.reshape(shape)
                           for fuse in (False, True))
    base = conventional[:, :, :1]
    return base / fused[:, :, 1:], base / conventional[:, :, 1:], base[:, :, 0]


def published_table(at64: dict) -> tuple[list[str], list[tuple[str, str, str, float]]]:
    """Section 1 and the entries paper_era does not reproduce by truncation."""
    lines = ["## 1. The published table at 64x64", "",
             "| network | variant | published | paper_era | truncated | match | paper (released) | "
             "released vs published | " + " | ".join(SCALESIM) + " |",
             "|---|---|---:|---:|---:|---|---:|---:|" + "---:|" * len(SCALESIM)]
    deviations = []
    for i, network in enumerate(NETWORKS):
        for j, variant in enumerate(VARIANTS):
            printed = PUBLISHED_SPEEDUPS[(network, variant)]
            era, released = (at64[label][0][0, i, j] for label in ("paper_era", "paper"))
            shown = truncated(era, decimals_of(printed))
            if shown != printed:
                deviations.append((network, variant, shown, era))
            lines.append(f"| {network} | {LABELS[variant]} | {printed} | {era:.5f} | {shown} | "
                         f"{'yes' if shown == printed else '**no**'} | {truncated(released, 4)} | "
                         f"{released / float(printed) - 1:+.1%} | "
                         + " | ".join(truncated(at64[label][0][0, i, j], 2) for label in SCALESIM) + " |")
    return lines, deviations


def sweep_table(speedups: np.ndarray) -> list[str]:
    lines = ["| network | variant | " + " | ".join(f"{s}x{s}" for s in SIZES) + " |",
             "|---|---|" + "---:|" * len(SIZES)]
    for i, network in enumerate(NETWORKS):
        for j, variant in enumerate(VARIANTS):
            cells = [truncated(speedups[k, i, j], 2) for k in range(len(SIZES))]
            lines.append(f"| {network} | {LABELS[variant]} | " + " | ".join(cells) + " |")
    return lines + [""]


def mobilenet_v2_parts() -> dict[str, tuple[int, int, int, int, int]]:
    """Per model: MobileNet-V2 baseline cycles (conventional array), then FuSe-layer (1xK/Kx1
    depthwise) and other-layer cycles of the Full and of the Half variant (FuSe array)."""
    parts = {}
    for label, model, fold, drain in MODELS:
        base = simulate(zoo.get("mobilenet_v2", "baseline"), Hardware(fuse=False, fold=fold, drain=drain),
                        model).total_cycles
        cells = [base]
        for variant in ("fuse_full", "fuse_half"):
            result = simulate(zoo.get("mobilenet_v2", variant), Hardware(fold=fold, drain=drain), model)
            fuse = sum(cycles for kind, cycles in result.breakdown().items() if kind in FUSE_KINDS)
            cells += [fuse, result.total_cycles - fuse]
        parts[label] = tuple(cells)
    return parts


def gap_table(parts: dict[str, tuple[int, int, int, int, int]]) -> list[str]:
    lines = ["| model | baseline | Full: FuSe layers | Full: other layers | Half: FuSe layers | "
             "Half: other layers | Full speed-up | Half speed-up |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, (base, *cycles) in parts.items():
        speedups = [truncated(base / (cycles[0] + cycles[1]), 2), truncated(base / (cycles[2] + cycles[3]), 2)]
        lines.append(f"| {label} | {base:,} | " + " | ".join([f"{c:,}" for c in cycles] + speedups) + " |")
    return lines + [""]


def main() -> None:
    at64 = {label: sweep(model, fold, drain, (64,)) for label, model, fold, drain in MODELS}
    sweeps = {label: sweep(model, fold, drain, SIZES) for label, model, fold, drain in MODELS if label != "paper"}
    lines = ["# FuSeConv speed-ups reproduced", "",
             "Generated by `python experiments/reproduce_fuseconv.py`. Speed-up = cycles of the baseline network "
             "on the conventional array / cycles of the variant on the same array with the FuSe row-broadcast bus; "
             "batch 1, 224x224, output-stationary. **Every speed-up here is truncated to the digits shown**, the "
             "rule of the published table. Models (see `docs/simulator.md`):", "",
             "* `paper_era`: the authors' formulas as they produced the published table (true division for "
             "output sizes, FuSe column folds on the unpadded width);",
             "* `paper`: the authors' released formulas (floor output sizes);",
             "* `scalesim used`: SCALE-Sim v3 GEMM dataflow + the FuSe row-broadcast closed form of "
             "`nos.sim.fuse`, every fold ending at its last used PE (`Hardware(fold=\"used\")`), the outputs "
             "draining down the columns while the next fold computes (`drain=\"hidden\"`): nos's default;",
             "* `scalesim padded`: the same, every fold charged the whole array (`fold=\"padded\"`; SCALE-Sim "
             "v3 exactly on GEMM layers);",
             "* `... charged`: the same two with `drain=\"charged\"`: a fold's outputs leave the array before "
             "the next fold starts (an array without drain registers, `docs/fuse_dataflow.md` section 7).",
             "All four are verified cycle by cycle by the stepped model `nos.sim.stepped` and the RTL array "
             "(`rtl/`, `tests/test_rtl.py`).", ""]

    section, deviations = published_table(at64)
    lines += section
    named = "; ".join(f"{n} {LABELS[v]} {era:.5f} -> {shown} (published {PUBLISHED_SPEEDUPS[(n, v)]})"
                      for n, v, shown, era in deviations)
    released = np.array([at64["paper"][0][0, i, j] / float(PUBLISHED_SPEEDUPS[(n, v)]) - 1
                         for i, n in enumerate(NETWORKS) for j, v in enumerate(VARIANTS)
                         if (n, v) != ("mobilenet_v1", "fuse_full_50")])
    lines += ["", f"**paper_era reproduces {20 - len(deviations)} of the 20 published values by truncation.** "
              f"The {len(deviations)} others: {named}. The released (floor) model stays within "
              f"{np.abs(released).max():.1%} of the published values (the V1 50 % Full typo excluded).", ""]

    lines += ["## 2. Baseline cycles at 64x64 (conventional array)", "",
              "| network | fuseconv.md | `paper` | equal | `paper_era` | " + " | ".join(SCALESIM) + " |",
              "|---|---:|---:|---|---:|" + "---:|" * len(SCALESIM)]
    for i, network in enumerate(NETWORKS):
        era, released = (int(at64[label][2][0, i]) for label in ("paper_era", "paper"))
        lines.append(f"| {network} | {BASELINE_CYCLES[network]:,} | {released:,} | "
                     f"{'yes' if released == BASELINE_CYCLES[network] else '**no**'} | {era:,} | "
                     + " | ".join(f"{int(at64[label][2][0, i]):,}" for label in SCALESIM) + " |")
    lines += ["", "`scalesim` padded charges every fold `T + A_r + A_c - 2` cycles with the full array even for the "
              "one-column GEMMs of depthwise layers (M = 1), so its baselines are about 2x the paper's; `scalesim` "
              "used charges `T + r_u + c_u - 2`, one cycle per fold less than the authors' `T + rows_used + "
              "cols_used - 1`. MobileNet-V2 under `scalesim` padded is the 5,691,403 SCALE-Sim cycles of "
              "scalesim.md (conv layers) + 22,495 for the classifier. A hidden drain costs a GEMM nothing (an os "
              "fold always lasts as long as its rows take to enter the drain registers); a charged one adds the "
              "64 rows' drain to every fold, which nearly doubles the depthwise layers' 72-cycle folds.", ""]

    lines += ["## 3. FuSe networks on the conventional array (no FuSe bus), 64x64", "",
              "Published: 0.56-0.66x (Full) and 1.09-1.20x (Half).", "",
              "| network | " + " | ".join(f"{LABELS[v]} ({label})" for v in VARIANTS[:2] for label, *_ in MODELS)
              + " |", "|---|" + "---:|" * (2 * len(MODELS))]
    for i, network in enumerate(NETWORKS):
        cells = [truncated(at64[label][1][0, i, j], 2) for j in range(2) for label, *_ in MODELS]
        lines.append(f"| {network} | " + " | ".join(cells) + " |")
    lines.append("")
    for j, variant in enumerate(VARIANTS[:2]):
        ranges = ", ".join(f"{label} {truncated(at64[label][1][0, :, j].min(), 2)}-"
                           f"{truncated(at64[label][1][0, :, j].max(), 2)}x" for label, *_ in MODELS)
        released = at64["paper"][1][0, :, j]
        lines += [f"{LABELS[variant]}: {ranges}. The published range is the released model's rounded, "
                  f"{released.min():.2f}-{released.max():.2f}x: the paper's text rounds where its table truncates.",
                  ""]

    lines += ["## 4. All 25 networks on square arrays", "",
              f"Speed-ups of the 20 variants (4a-4{'abcde'[len(sweeps) - 1]}) and the cycles of the 5 baselines "
              f"they are measured against (4{'bcdef'[len(sweeps) - 1]}).", ""]
    for letter, label in zip("abcde", sweeps):
        lines += [f"### 4{letter}. Speed-ups, {label}", ""] + sweep_table(sweeps[label][0])
    lines += [f"### 4{'bcdef'[len(sweeps) - 1]}. Baseline cycles (conventional array)", "",
              "| network | model | " + " | ".join(f"{s}x{s}" for s in SIZES) + " |",
              "|---|---|" + "---:|" * len(SIZES)]
    for i, network in enumerate(NETWORKS):
        for label in sweeps:
            lines.append(f"| {network} | {label} | " + " | ".join(f"{int(c):,}" for c in sweeps[label][2][:, i]) + " |")
    era = sweeps["paper_era"][0]
    v2_half = ", ".join(truncated(era[k, 1, 1], 2) for k in range(len(SIZES)))
    hybrids = era[SIZES.index(64):, :, 2:]
    lines += ["", "fuseconv.md expects (paper model): MobileNet-V2 Half about 1.7x at 8x8, 4.6x at 32x32, 7.2x at "
              "64x64, 10x at 128x128 and 12x at 256x256; MobileNet-V1 Full about 0.72x at 8x8; the 50 % variants "
              f"levelling off near 1.6-2.7x from 64x64 up. paper_era gives {v2_half} for MobileNet-V2 Half "
              f"(8x8 to 256x256), {truncated(era[0, 0, 0], 2)} for MobileNet-V1 Full at 8x8 and "
              f"{truncated(hybrids.min(), 2)}-{truncated(hybrids.max(), 2)} for the 50 % variants from 64x64 up. "
              "Under `scalesim` the Full/Half speed-ups keep growing with the array under every setting (the "
              "row broadcast fills every row), while the 50 % variants level off or fall: their KxK depthwise "
              "layers use one column whatever the width.", ""]

    lines += ["## 5. Where the gap to the published speed-ups comes from (MobileNet-V2, 64x64)", "",
              "Cycles of the baseline (conventional array) and of the Full and Half variants (FuSe array), "
              "the variants split into their FuSe layers (1xK and Kx1 depthwise) and all other layers.", ""]
    parts = mobilenet_v2_parts()
    lines += gap_table(parts)
    era64 = at64["paper_era"]
    v2 = {(label, j): truncated(at64[label][0][0, 1, j], 2) for label in SCALESIM for j in (0, 1)}
    change = at64["paper"][0][0] / era64[0][0] - 1
    lines += ["## Differences explained", "",
              f"* **One rounding rule.** The published table truncates: V2 Full {era64[0][0, 1, 0]:.5f} and V2 50 % "
              f"Half {era64[0][0, 1, 3]:.5f} print as 5.1 and 2.1, which rounding would make 5.2 and 2.2. Under "
              f"truncation paper_era misses {len(deviations)} entries:"]
    for network, variant, shown, speedup in deviations:
        printed = PUBLISHED_SPEEDUPS[(network, variant)]
        base = era64[2][0, NETWORKS.index(network)]
        fused = simulate(zoo.get(network, variant), Hardware(), "paper_era").total_cycles
        excess = fused - base / float(printed)
        lines.append(f"  - {network} {LABELS[variant]}: {speedup:.5f} truncates to {shown}, published {printed} "
                     f"({base:,} / {fused:,} cycles; {printed} needs {abs(excess):,.0f} "
                     f"{'fewer' if excess > 0 else 'more'} cycles on the variant);")
    lines += ["  - The V1 50 % Full value is most likely a typo (every model gives 2.20, fuseconv.md); the other two "
              "would match if rounded (the V3-Small one is a few cycles short, the level of the authors' per-layer "
              "float rounding), but no single rule matches the whole table. nos's networks match the authors' "
              "definitions exactly (networks.md) and all five baselines match fuseconv.md to the cycle.",
              "* **released vs paper-era**: floor output sizes drop the fractional half row/column of every "
              "stride-2 layer (E = 112 instead of 112.5 for a 224 input), which shortens baselines and variants "
              f"by different amounts: released speed-ups differ from paper_era's by {change.min():+.1%} to "
              f"{change.max():+.1%}.",
              "* **padded vs used**: `padded` charges every partial fold the idle PEs, on both sides. A KxK "
              "depthwise layer on the conventional array is C one-column GEMMs, so the MobileNet-V2 baseline "
              f"grows from {parts['scalesim used'][0]:,} to {parts['scalesim padded'][0]:,} cycles; the FuSe "
              "layers of the Half variant, whose small late feature maps leave most columns idle, grow from "
              f"{parts['scalesim used'][3]:,} to {parts['scalesim padded'][3]:,}, a large factor but a small "
              "number of cycles. So `padded` speed-ups are the larger ones: MobileNet-V2 Full/Half "
              f"{v2['scalesim padded', 0]}x/{v2['scalesim padded', 1]}x padded vs "
              f"{v2['scalesim used', 0]}x/{v2['scalesim used', 1]}x used (hidden drain).",
              "* **hidden vs charged drain**: a hidden drain costs the GEMM layers nothing and a FuSe fold only "
              "when it computes for fewer cycles than it has rows (64) to move into the drain registers: the "
              "small late feature maps (out_len 7 or 14: folds of 9 or 16 cycles). A charged drain adds 64 cycles "
              "to every fold of every layer, which nearly doubles the baseline's depthwise layers (folds of 72 "
              f"cycles: {parts['scalesim used'][0]:,} -> {parts['scalesim used charged'][0]:,} cycles) and so "
              f"raises the speed-ups: MobileNet-V2 Full/Half {v2['scalesim used charged', 0]}x/"
              f"{v2['scalesim used charged', 1]}x used, {v2['scalesim padded charged', 0]}x/"
              f"{v2['scalesim padded charged', 1]}x padded.",
              "* **scalesim used vs paper**: the GEMM layers cost almost the same (section 2; one cycle per fold "
              "less), so the remaining gap is the FuSe layers (section 5): the ST-OS closed form counts output "
              "rows, not input rows divided by the stride, charges a fold `(c_u - 1) * s + K` cycles for the "
              "columns it uses instead of `Y + K` (but at least the 64 rows its outputs need in the drain "
              "registers), and does not assume a square array for Kx1 convs (`docs/fuse_dataflow.md` sections 6 "
              "and 7).", ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print(f"paper_era: {20 - len(deviations)}/20 published speed-ups reproduced by truncation ({named}); "
          "MobileNet-V2 Full/Half at 64x64: " + ", ".join(f"{label} {v2[label, 0]}x/{v2[label, 1]}x" for label in SCALESIM)
          + f"; written to {RESULTS}")


if __name__ == "__main__":
    main()
