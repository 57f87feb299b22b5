"""Systolic-array simulator: cycles, utilization, SRAM/DRAM traffic, latency, energy and area from shapes.

Public API: :class:`Hardware`, :class:`LayerTable`, :class:`Tech`, :func:`simulate` (returns a
:class:`SimResult`), :func:`area_mm2` (many configs at once), the model names :data:`MODELS`
and :data:`MEMORY_MODELS`, the layer kinds :data:`KINDS`, the dataflows :data:`DATAFLOWS`, the
fold conventions :data:`FOLDS` and the drain settings :data:`DRAINS`. Conventions and what is
exact vs modelled: ``docs/simulator.md``, ``docs/energy.md``, ``docs/fuse_dataflow.md``.
"""
from nos.sim.hardware import DATAFLOWS, DRAINS, FOLDS, MEMORY_MODELS, Hardware, area_mm2
from nos.sim.layers import KINDS, LayerTable
from nos.sim.simulate import MODELS, SimResult, simulate
from nos.sim.tech import Tech

__all__ = ["DATAFLOWS", "DRAINS", "FOLDS", "KINDS", "MEMORY_MODELS", "MODELS", "Hardware", "LayerTable", "SimResult",
           "Tech", "area_mm2", "simulate"]
