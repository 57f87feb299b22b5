"""Chip area (mm^2) of hardware configs: the PE array, the FuSe additions and the three SRAMs.

``area = rows * cols * (PE + FuSe additions if fuse) + SRAM(ifmap) + SRAM(filter) + SRAM(ofmap)``
with the per-PE areas and the SRAM table of a :class:`nos.sim.tech.Tech` (``docs/energy.md``).
A PE of an array whose drain is ``charged`` has no drain register. The FuSe row buses run over
the PEs in metal and add no silicon area; the DRAM is off chip. Vectorized over the columns of
many configs (:func:`nos.sim.hardware.columns`), so a co-search prices many arrays in one call;
:func:`nos.sim.area_mm2` and :meth:`nos.sim.Hardware.area_mm2` take the configs themselves.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from nos.sim.tech import Tech

AREA_PARTS = ("pe_array", "fuse", "ifmap_sram", "filter_sram", "ofmap_sram")


def pe_um2(hw: Any, tech: Tech) -> tuple[np.ndarray, np.ndarray]:
    """(conventional PE, FuSe additions) area per PE of each config of the columns ``hw``, um^2,
    shaped (configs, 1): no drain register when the drain is ``charged``, no FuSe additions
    without ``fuse``."""
    return (tech.pe_um2() - np.where(hw.chose("drain", "charged"), tech.drain_register_um2(), 0.0),
            np.where(hw.fuse, tech.fuse_pe_um2(), 0.0))


def area_breakdown(hw: Any, tech: Tech) -> dict[str, np.ndarray]:
    """Area of each part (:data:`AREA_PARTS`) of each config of the columns ``hw``, mm^2, arrays
    shaped (configs,)."""
    pes = (hw.rows * hw.cols).astype(np.float64)
    pe, fuse = pe_um2(hw, tech)
    parts = {"pe_array": (pes * pe * 1e-6)[:, 0], "fuse": (pes * fuse * 1e-6)[:, 0]}
    for name in ("ifmap", "filter", "ofmap"):
        field = f"{name}_sram_kb"
        parts[f"{name}_sram"] = tech.sram("mm2", getattr(hw, field)[:, 0].astype(np.float64), field)
    return parts
