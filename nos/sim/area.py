"""Chip area (mm^2) of hardware configs: the PE array, the FuSe additions and the three SRAMs.

``area = rows * cols * (PE + FuSe additions if fuse) + SRAM(ifmap) + SRAM(filter) + SRAM(ofmap)``
with the per-PE areas and the SRAM table of a :class:`nos.sim.tech.Tech` (``docs/energy.md``).
The FuSe row buses run over the PEs in metal and add no silicon area; the DRAM is off chip.
Vectorized over configs, so a co-search prices many arrays in one call.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nos.sim.tech import DEFAULT_TECH, Tech

AREA_PARTS = ("pe_array", "fuse", "ifmap_sram", "filter_sram", "ofmap_sram")


def area_breakdown(configs: Sequence[Any], tech: Tech | None = None) -> dict[str, np.ndarray]:
    """Area of each part (:data:`AREA_PARTS`) of each :class:`nos.sim.Hardware` config, mm^2,
    arrays shaped (configs,)."""
    tech = DEFAULT_TECH if tech is None else tech
    pes = np.array([h.rows * h.cols for h in configs], dtype=np.float64)
    fuse = np.array([h.fuse for h in configs], dtype=bool)
    parts = {"pe_array": pes * tech.pe_um2() * 1e-6, "fuse": np.where(fuse, pes * tech.fuse_pe_um2() * 1e-6, 0.0)}
    for name in ("ifmap", "filter", "ofmap"):
        field = f"{name}_sram_kb"
        kib = np.array([getattr(h, field) for h in configs], dtype=np.float64)
        parts[f"{name}_sram"] = tech.sram("mm2", kib, field)
    return parts


def area_mm2(configs: Sequence[Any], tech: Tech | None = None) -> np.ndarray:
    """Total area of each :class:`nos.sim.Hardware` config, mm^2, shaped (configs,)."""
    return sum(area_breakdown(configs, tech).values())
