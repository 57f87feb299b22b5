"""``simulate``: cycles, utilization, SRAM/DRAM traffic and latency of networks on arrays.

One vectorized pass over every layer of every network and every hardware config: layer
columns are shaped (layers,), hardware fields (configs, 1), results (configs, layers).
Results are computed when first read, so a search that reads only ``total_cycles`` pays
only for the cycle model.
"""
from __future__ import annotations

import dataclasses
import functools
import sys
from functools import cached_property
from typing import Any, Callable, Sequence

import numpy as np

from nos.arch import Arch
from nos.sim.fuse import rowbroadcast_counts
from nos.sim.gemm import Refetch, SramAccesses, gemm_cycles, gemm_sram, refetch
from nos.sim.energy import ENERGY_PARTS, array_energy, memory_energy
from nos.sim.hardware import Hardware, columns
from nos.sim.layers import KINDS, LayerTable
from nos.sim.memory import DramTraffic, dram_traffic, keep_resident, memory_cycles
from nos.sim.paper import paper_cycles
from nos.sim.tech import DEFAULT_TECH, Tech

MODELS = ("scalesim", "paper", "paper_era")
"""Cycle models: ``scalesim`` (SCALE-Sim v3 GEMM dataflows + FuSe row broadcast from
:mod:`nos.sim.fuse`, both under ``Hardware.fold``), ``paper`` (the authors' released
formulas, floor output sizes) and ``paper_era`` (the formulas that produced the published
table, see :mod:`nos.sim.paper`); the paper models ignore ``dataflow`` and ``fold``."""


def _spread(values: Any, index: np.ndarray, shape: tuple[int, int]) -> Any:
    """Per-distinct-row ``values`` (an array, a NamedTuple or a dict of them) given to every layer."""
    if isinstance(values, np.ndarray):
        return np.broadcast_to(values, (shape[0], values.shape[-1]))[:, index]
    if isinstance(values, dict):
        return {name: _spread(value, index, shape) for name, value in values.items()}
    return type(values)(*(_spread(value, index, shape) for value in values))


def _per_distinct_row(compute: Callable[[SimResult], Any]) -> cached_property:
    """A cached property computed once per distinct table row, when the table knows its rows
    (:attr:`LayerTable.row_keys`) and they repeat, and spread back to every layer."""
    @functools.wraps(compute)
    def get(self: SimResult) -> Any:
        if self._distinct is None:
            return compute(self)
        result, index = self._distinct
        return _spread(getattr(result, compute.__name__), index, self._fused.shape)
    return cached_property(get)


_ROW_CYCLES: dict[tuple[Hardware, str], dict[int, int]] = {}
"""(config, model) -> compute cycles per :attr:`LayerTable.row_keys` key (a row key names one
cached layer row for the life of the process, never reused); bounded per config by
:data:`_ROW_CYCLES_LIMIT` rows and :data:`_ROW_CYCLES_CONFIGS` configs; :func:`clear_row_cycles` empties it."""
_ROW_CYCLES_LIMIT = 200_000  # rows per config
_ROW_CYCLES_CONFIGS = 256  # configs


def clear_row_cycles() -> None:
    """Forget the per-row cycles of single-network simulations."""
    _ROW_CYCLES.clear()


def _per_layer(counts: str, field: str, doc: str) -> property:
    """A SimResult property: per-layer ``field`` of the cached ``counts`` (an SRAM or DRAM tuple)."""
    return property(lambda self: self._layers(getattr(getattr(self, counts), field)), doc=doc)


class SimResult:
    """What :func:`simulate` returns.

    Per-layer arrays are in table order, shaped (layers,) for one hardware config or
    (configs, layers) for a list. Totals are an int for one network on one config, shaped
    (networks,) for a list of networks, (configs,) for a list of configs, or
    (configs, networks) for both. Cycles are compute cycles unless named otherwise.

    Attributes:
        table: the simulated :class:`LayerTable` (all networks concatenated).
        hardware: the hardware configs, a tuple.
        model: the cycle model, one of :data:`MODELS`.
        tech: the :class:`Tech` table the energies come from.
    """

    def __init__(self, table: LayerTable, hardware: Sequence[Hardware], model: str, one_config: bool,
                 one_network: bool, tech: Tech):
        self.table = table
        self.hardware = tuple(hardware)
        self.model = model
        self.tech = tech
        self._hw = columns(self.hardware)
        self._one_config = one_config
        self._one_network = one_network

    # ------------------------------------------------------------ shaping helpers
    def _layers(self, values: np.ndarray) -> np.ndarray:
        values = np.broadcast_to(values, (len(self.hardware), len(self.table)))
        return values[0] if self._one_config else values

    def _sums(self, values: np.ndarray) -> np.ndarray:
        """Per-layer ``values`` summed per network, shaped (configs, networks)."""
        shape = (len(self.hardware), len(self.table))
        full = values if np.shape(values) == shape else np.broadcast_to(values, shape)
        return np.add.reduceat(full, self.table.offsets[:-1], axis=1)

    def _squeeze(self, values: np.ndarray) -> Any:
        """(configs, networks) values shaped as documented for totals."""
        if self._one_network:
            values = values[:, 0]
        if self._one_config:
            values = values[0]
        return values.item() if np.ndim(values) == 0 else values

    def _totals(self, values: np.ndarray) -> Any:
        return self._squeeze(self._sums(values))

    # ------------------------------------------------------------ models
    @cached_property
    def _distinct(self) -> tuple[SimResult, np.ndarray] | None:
        """(a result on the table's distinct rows, each layer's row in it), or None where the
        table does not know its rows or they hardly repeat."""
        keys = self.table.row_keys
        if keys is None or len(keys) == 0:
            return None
        if keys.max() < 4 * len(keys):
            seen = np.zeros(int(keys.max()) + 1, dtype=bool)
            seen[keys] = True
            position = np.cumsum(seen) - 1
            row_of = np.empty(len(seen), dtype=np.int64)
            row_of[keys] = np.arange(len(keys))
            distinct, index = row_of[seen], position[keys]
        else:
            _, distinct, index = np.unique(keys, return_index=True, return_inverse=True)
        if len(distinct) > len(keys) // 2:
            return None
        table = LayerTable(self.table.data[distinct], ())
        return SimResult(table, self.hardware, self.model, self._one_config, True, self.tech), index

    @cached_property
    def _gemm_shape(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P, K, M) of one group's GEMM; P shaped (configs, layers), K and M (layers,)."""
        t = self.table
        return t.batch * self._hw.batch * t.out_h * t.out_w, t.window, t.group_filters

    @cached_property
    def _fused(self) -> np.ndarray:
        """Bool (configs, layers): the layer runs on the FuSe row-broadcast dataflow."""
        return (self.table.line_kernel > 0) & self._hw.fuse

    @cached_property
    def _passes(self) -> Refetch:
        hw = self._hw
        return refetch(*self._gemm_shape, hw.rows, hw.cols, hw.dataflow)

    @cached_property
    def _rowbroadcast(self) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, np.ndarray]]:
        """((config index, layer index) of the FuSe layers, their :func:`nos.sim.fuse.rowbroadcast` costs)."""
        t, hw = self.table, self._hw
        configs, layers = np.nonzero(self._fused)
        costs = rowbroadcast_counts(n1d=t.batch[layers] * hw.batch[configs, 0] * t.line_count[layers],
                                    out_len=t.line_out[layers], kernel=t.line_kernel[layers], stride=t.stride[layers],
                                    rows=hw.rows[configs, 0], cols=hw.cols[configs, 0], fold=hw.fold[configs, 0],
                                    drain=hw.drain[configs, 0])
        return (configs, layers), costs

    def _with_rowbroadcast(self, gemm_values: np.ndarray, name: str) -> np.ndarray:
        """Per-layer ``gemm_values`` of one group times the groups, FuSe layers replaced by
        their row-broadcast ``name`` count; shaped (configs, layers)."""
        values = np.multiply(self.table.groups, gemm_values, out=np.empty(self._fused.shape, dtype=np.int64))
        if self._fused.any():
            where, costs = self._rowbroadcast
            values[where] = costs[name]
        return values

    @_per_distinct_row
    def _sram(self) -> SramAccesses:
        hw = self._hw
        gemm = gemm_sram(*self._gemm_shape, hw.rows, hw.cols, hw.dataflow, hw.fold)
        return SramAccesses(*(self._with_rowbroadcast(v, name) for v, name in zip(gemm, SramAccesses._fields)))

    @cached_property
    def _compute_cycles(self) -> np.ndarray:
        """Compute cycles per layer, (configs, layers). One network from ``Arch`` on one config
        (``simulate(arch, hardware)`` in a loop) reads them from :data:`_ROW_CYCLES` by row key
        when every row was simulated on that config before."""
        keys = self.table.row_keys
        if keys is None or len(self.hardware) != 1 or self.table.num_networks != 1:
            return self._cycles_of_rows()
        if len(_ROW_CYCLES) > _ROW_CYCLES_CONFIGS and (self.hardware[0], self.model) not in _ROW_CYCLES:
            _ROW_CYCLES.clear()
        known = _ROW_CYCLES.setdefault((self.hardware[0], self.model), {})
        rows = keys.tolist()
        try:
            return np.array([[known[row] for row in rows]], dtype=np.int64)
        except KeyError:
            cycles = self._cycles_of_rows()
            if len(known) > _ROW_CYCLES_LIMIT:
                known.clear()
            known.update(zip(rows, cycles[0].tolist()))
            return cycles

    def _cycles_of_rows(self) -> np.ndarray:
        hw = self._hw
        if self.model == "scalesim":
            cycles = gemm_cycles(*self._gemm_shape, hw.rows, hw.cols, hw.dataflow, hw.fold, hw.drain)
            return self._with_rowbroadcast(cycles, "cycles")
        cycles = paper_cycles(self.table, hw.batch, hw.rows, hw.cols, hw.fuse, self.model == "paper_era")
        return np.ceil(cycles).astype(np.int64)

    @_per_distinct_row
    def _layer_dram(self) -> DramTraffic:
        """DRAM words of each layer on its own (``resident`` configs: ``ideal``'s)."""
        return dram_traffic(self.table, self._hw, self._passes, self._fused)

    @cached_property
    def _resident(self) -> bool:
        """Some config keeps activations on chip between layers (``memory="resident"``)."""
        return bool(self._hw.chose("memory", "resident").any())

    @cached_property
    def _dram(self) -> DramTraffic:
        """DRAM words per layer, activations kept on chip between layers for ``resident`` configs
        (which needs each layer's neighbours: the whole table, not its distinct rows)."""
        return keep_resident(self.table, self._hw, self._layer_dram) if self._resident else self._layer_dram

    @_per_distinct_row
    def _row_memory_cycles(self) -> np.ndarray:
        return memory_cycles(self._layer_dram, self._hw.dram_words_per_cycle)

    @cached_property
    def _memory_cycles(self) -> np.ndarray:
        if self._resident:
            return memory_cycles(self._dram, self._hw.dram_words_per_cycle)
        return self._row_memory_cycles

    @cached_property
    def _roofline_cycles(self) -> np.ndarray:
        return np.maximum(self._compute_cycles, self._memory_cycles)

    @cached_property
    def _macs(self) -> np.ndarray:
        return self.table.macs * self._hw.batch

    @_per_distinct_row
    def _array_energy(self) -> dict[str, np.ndarray]:
        return array_energy(self.table, self._hw, self.tech, self._macs, self._sram, self._fused)

    @_per_distinct_row
    def _row_energy(self) -> dict[str, np.ndarray]:
        """Energy of each layer with its own DRAM traffic: the array side and the DRAM side."""
        memory = memory_energy(self._hw, self.tech, self._layer_dram)
        return {name: value + memory[name] for name, value in self._array_energy.items()}

    @_per_distinct_row
    def _row_layer_energy(self) -> np.ndarray:
        return sum(self._row_energy.values())

    @cached_property
    def _energy(self) -> dict[str, np.ndarray]:
        """Energy per component and layer: once per distinct row, unless activations stay on
        chip between layers, whose DRAM side is priced on every layer."""
        if not self._resident:
            return self._row_energy
        memory = memory_energy(self._hw, self.tech, self._dram)
        return {name: value + memory[name] for name, value in self._array_energy.items()}

    @cached_property
    def _layer_energy(self) -> np.ndarray:
        return sum(self._energy.values()) if self._resident else self._row_layer_energy

    # ------------------------------------------------------------ public results
    @property
    def layer_cycles(self) -> np.ndarray:
        """Compute cycles per layer (int64)."""
        return self._layers(self._compute_cycles)

    @property
    def total_cycles(self) -> Any:
        """Compute cycles of each network (sum over its layers)."""
        return self._totals(self._compute_cycles)

    @property
    def layer_macs(self) -> np.ndarray:
        """Multiply-accumulates per layer, hardware batch included."""
        return self._layers(self._macs)

    @cached_property
    def _stepped_cycles(self) -> np.ndarray:
        """Cycles the array runs per layer: under ``scalesim`` the reported compute cycles plus
        the one cycle SCALE-Sim's last-cycle index drops per GEMM (per group) or FuSe layer;
        the paper models' cycles are counts already."""
        if self.model != "scalesim":
            return self._compute_cycles
        return self._compute_cycles + np.where(self._fused, 1, self.table.groups)

    @property
    def layer_utilization(self) -> np.ndarray:
        """Busy PE-cycles / (stepped cycles x rows x cols) per layer, in [0, 1].

        A MAC keeps one PE busy for one cycle, so busy PE-cycles are the layer's MACs; stepped
        cycles are the cycles the array runs (the compute cycles plus SCALE-Sim's dropped
        last cycle per GEMM or FuSe layer), so no layer can exceed 1."""
        area = self._hw.rows * self._hw.cols
        return self._layers(self._macs / (self._stepped_cycles * area))

    @property
    def utilization(self) -> Any:
        """Busy PE-cycles / (stepped cycles x rows x cols) of each network, in [0, 1] (as
        :attr:`layer_utilization`, summed over the network's layers)."""
        area = self._hw.rows * self._hw.cols
        return self._squeeze(self._sums(self._macs) / (self._sums(self._stepped_cycles) * area))

    # per-layer traffic (words); SRAM from the scalesim mapping, DRAM from nos.sim.memory
    sram_ifmap_reads = _per_layer("_sram", "ifmap_reads", "SRAM ifmap reads per layer (words).")
    sram_filter_reads = _per_layer("_sram", "filter_reads", "SRAM filter reads per layer (words).")
    sram_ofmap_writes = _per_layer("_sram", "ofmap_writes", "SRAM ofmap writes per layer (words).")
    dram_ifmap_reads = _per_layer("_dram", "ifmap_reads", "DRAM ifmap reads per layer (words).")
    dram_filter_reads = _per_layer("_dram", "filter_reads", "DRAM filter reads per layer (words).")
    dram_ofmap_writes = _per_layer("_dram", "ofmap_writes", "DRAM ofmap writes per layer (words).")
    dram_ofmap_reads = _per_layer("_dram", "ofmap_reads",
                                  "DRAM partial-sum reads per layer (words; ``ideal`` memory spills only).")

    @property
    def total_dram_words(self) -> Any:
        """DRAM words moved by each network."""
        return self._totals(self._dram.total)

    @property
    def layer_memory_cycles(self) -> np.ndarray:
        """Cycles each layer needs for its DRAM traffic at the configured bandwidth."""
        return self._layers(self._memory_cycles)

    @property
    def memory_cycles(self) -> Any:
        """DRAM transfer cycles of each network (sum of per-layer memory cycles)."""
        return self._totals(self._memory_cycles)

    @property
    def roofline_cycles(self) -> Any:
        """Bandwidth-bound cycles of each network: sum over layers of max(compute, memory)."""
        return self._totals(self._roofline_cycles)

    def _milliseconds(self, cycles: np.ndarray) -> Any:
        """Per-layer ``cycles`` summed per network, in milliseconds at each config's clock."""
        return self._squeeze(self._sums(cycles) / (self._hw.clock_mhz * 1e3))

    @property
    def latency_ms(self) -> Any:
        """Compute latency in milliseconds: :attr:`total_cycles` at the configured clock."""
        return self._milliseconds(self._compute_cycles)

    @property
    def roofline_latency_ms(self) -> Any:
        """Bandwidth-bound latency in milliseconds: :attr:`roofline_cycles` at the clock."""
        return self._milliseconds(self._roofline_cycles)

    @property
    def layer_energy_pj(self) -> np.ndarray:
        """Energy per layer, pJ (sum of :meth:`layer_energy_breakdown`)."""
        return self._layers(self._layer_energy)

    @property
    def energy_pj(self) -> Any:
        """Energy of each network, pJ (MACs, array, FuSe bus, SRAMs, DRAM; ``docs/energy.md``)."""
        return self._totals(self._layer_energy)

    def layer_energy_breakdown(self) -> dict[str, np.ndarray]:
        """Energy per layer of each component of :data:`nos.sim.energy.ENERGY_PARTS`, pJ."""
        return {name: self._layers(self._energy[name]) for name in ENERGY_PARTS}

    def energy_breakdown(self) -> dict[str, Any]:
        """Energy of each component of :data:`nos.sim.energy.ENERGY_PARTS`, pJ, each shaped like
        :attr:`energy_pj`."""
        return {name: self._totals(self._energy[name]) for name in ENERGY_PARTS}

    def breakdown(self) -> dict[str, Any]:
        """Compute cycles by layer kind (:data:`nos.sim.layers.KINDS`), kinds present only;
        each value shaped like :attr:`total_cycles`."""
        cycles = self._compute_cycles
        out = {}
        for code in np.unique(self.table.kind):
            out[KINDS[code]] = self._totals(np.where(self.table.kind == code, cycles, 0))
        return out

    def summary(self) -> dict[str, Any]:
        """Totals of a one-network, one-config result as a JSON-ready dict."""
        self._require_single("summary")
        return {"model": self.model, "hardware": dataclasses.asdict(self.hardware[0]), "layers": len(self.table),
                "macs": int(self._macs.sum()), "total_cycles": self.total_cycles,
                "memory_cycles": self.memory_cycles, "roofline_cycles": self.roofline_cycles,
                "latency_ms": self.latency_ms, "roofline_latency_ms": self.roofline_latency_ms,
                "utilization": self.utilization, "dram_words": self.total_dram_words, "breakdown": self.breakdown(),
                "energy_pj": self.energy_pj, "energy_breakdown": self.energy_breakdown(),
                "area_mm2": self.hardware[0].area_mm2(self.tech)}

    def layer_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per layer of a one-config result: the table's record fields,
        then cycles, utilization, SRAM and DRAM words, memory cycles and energy (pJ)."""
        self._require_single("layer_records", networks=False)
        columns = {"cycles": self.layer_cycles, "utilization": self.layer_utilization,
                   "sram_ifmap_reads": self.sram_ifmap_reads, "sram_filter_reads": self.sram_filter_reads,
                   "sram_ofmap_writes": self.sram_ofmap_writes, "dram_ifmap_reads": self.dram_ifmap_reads,
                   "dram_filter_reads": self.dram_filter_reads, "dram_ofmap_writes": self.dram_ofmap_writes,
                   "dram_ofmap_reads": self.dram_ofmap_reads,
                   "memory_cycles": self.layer_memory_cycles, "energy_pj": self.layer_energy_pj}
        values = {name: column.tolist() for name, column in columns.items()}
        return [{**record, **{name: values[name][i] for name in columns}}
                for i, record in enumerate(self.table.records())]

    def _require_single(self, what: str, networks: bool = True) -> None:
        if not self._one_config or (networks and not self._one_network):
            raise ValueError(f"{what}: needs a result of one network on one hardware config")


def _as_table(x: Any, input_size: int | None) -> tuple[LayerTable, bool]:
    if isinstance(x, LayerTable):
        if input_size is not None:
            raise ValueError("input_size: a LayerTable already has its shapes; give input_size with an Arch or module")
        return x, x.num_networks == 1
    if isinstance(x, Arch):
        return LayerTable.from_arch(x, input_size), True
    torch = sys.modules.get("torch")  # a module exists only once torch is loaded: never import it here
    if torch is not None and isinstance(x, torch.nn.Module):
        return LayerTable.from_module(x, 224 if input_size is None else input_size), True
    if isinstance(x, (list, tuple)) and not x:
        raise ValueError("x: the list of architectures is empty")
    if isinstance(x, (list, tuple)) and all(isinstance(a, Arch) for a in x):
        return LayerTable.from_arch(x, input_size), False
    raise TypeError(f"x: expected an Arch, a list of Arch, an nn.Module or a LayerTable, got {type(x).__name__}")


def simulate(x: Any, hardware: Hardware | Sequence[Hardware] = Hardware(), model: str = "scalesim",
             input_size: int | None = None, tech: Tech | None = None) -> SimResult:
    """Simulate ``x`` on ``hardware`` in one vectorized pass.

    Args:
        x: an :class:`~nos.arch.Arch`, a list of Arch (one result row per arch), an
            ``nn.Module`` (traced, see :meth:`LayerTable.from_module`) or a :class:`LayerTable`.
        hardware: one :class:`Hardware` or a list of them (one result row per config).
        model: cycle model, one of :data:`MODELS`.
        input_size: image size for an Arch/module (default: the arch's own, 224 for a module).
        tech: energies and areas for :attr:`SimResult.energy_pj` (default :class:`Tech`).

    Returns:
        a :class:`SimResult`.
    """
    if model not in MODELS:
        raise ValueError(f"model: unknown model {model!r} (allowed: {', '.join(MODELS)})")
    one_config = isinstance(hardware, Hardware)
    configs = [hardware] if one_config else list(hardware)
    if not configs or not all(isinstance(h, Hardware) for h in configs):
        raise TypeError("hardware: expected a nos.sim.Hardware or a non-empty list of them")
    if tech is not None and not isinstance(tech, Tech):
        raise TypeError(f"tech: expected a nos.sim.Tech, got {type(tech).__name__}")
    table, one_network = _as_table(x, input_size)
    return SimResult(table, configs, model, one_config, one_network, DEFAULT_TECH if tech is None else tech)
