"""Systolic-array simulator: cycles, utilization, SRAM/DRAM traffic and latency from shapes.

Public API: :class:`Hardware`, :class:`LayerTable`, :func:`simulate` (returns a
:class:`SimResult`), the model names :data:`MODELS` and the layer kinds :data:`KINDS`.
Conventions and what is exact vs modelled: ``docs/simulator.md``.
"""
from nos.sim.hardware import DATAFLOWS, Hardware
from nos.sim.layers import KINDS, LayerTable
from nos.sim.simulate import MODELS, SimResult, simulate

__all__ = ["DATAFLOWS", "KINDS", "MODELS", "Hardware", "LayerTable", "SimResult", "simulate"]
