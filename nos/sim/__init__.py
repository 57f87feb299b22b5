"""Systolic-array simulator: cycles, utilization, SRAM/DRAM traffic and latency from shapes.

Public API: :class:`Hardware`, :class:`LayerTable`, :func:`simulate` (returns a
:class:`SimResult`), the model names :data:`MODELS`, the layer kinds :data:`KINDS`, the
dataflows :data:`DATAFLOWS` and the fold conventions :data:`FOLDS`.
Conventions and what is exact vs modelled: ``docs/simulator.md``.
"""
from nos.sim.hardware import DATAFLOWS, FOLDS, Hardware
from nos.sim.layers import KINDS, LayerTable
from nos.sim.simulate import MODELS, SimResult, simulate

__all__ = ["DATAFLOWS", "FOLDS", "KINDS", "MODELS", "Hardware", "LayerTable", "SimResult", "simulate"]
