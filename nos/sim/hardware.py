"""The systolic array being simulated: its shape, dataflow, FuSe support, drain, clock and memories.

:func:`columns` is the one way from a list of :class:`Hardware` configs to the (configs, 1)
arrays the vectorized models broadcast against layer columns; :func:`area_mm2` prices configs.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Any, Sequence

import numpy as np

from nos.sim.area import area_breakdown
from nos.sim.fields import from_mapping
from nos.sim.tech import DEFAULT_TECH, Tech

DATAFLOWS = ("os", "ws", "is")
FOLDS = ("padded", "used")
"""Fold conventions (``docs/simulator.md``, Fold conventions): ``padded`` charges every fold the
whole array, as SCALE-Sim v3 does (its operand matrices are padded to the array); ``used``
ends a fold at its last used PE."""
DRAINS = ("hidden", "charged")
"""Output drain settings (``docs/fuse_dataflow.md``, section 7): ``hidden`` (each PE has a drain
register, so a fold's outputs move down the columns while the next fold computes; a fold shorter
than the rows it loads waits for them) or ``charged`` (no drain register: a fold's outputs leave
the array before the next fold starts)."""
MEMORY_MODELS = ("scalesim", "ideal", "resident")
"""DRAM traffic models (``docs/simulator.md``, memory model): ``scalesim`` (SCALE-Sim v3's
buffers), ``ideal`` (reuse within a layer) and ``resident`` (``ideal``, and activations stay on
chip between layers when they fit)."""


def _fail(name: str, problem: str) -> None:
    raise ValueError(f"hardware.{name}: {problem}")


def _positive_int(name: str, value: Any) -> int:
    """``value`` as a Python int (numpy integers accepted); a ValueError naming the field otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        _fail(name, f"must be a positive integer, got {value!r}")
    return int(value)


def _positive_number(name: str, value: Any) -> float:
    """``value`` as a Python float (numpy numbers accepted); a ValueError naming the field otherwise."""
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating))
            or not value > 0 or value == float("inf")):
        _fail(name, f"must be a positive finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Hardware:
    """A ``rows`` x ``cols`` systolic array of MAC units.

    Attributes:
        rows, cols: array size in processing elements (any positive ints, non-square allowed).
        dataflow: GEMM dataflow, one of :data:`DATAFLOWS` (output / weight / input stationary).
        fold: fold convention, one of :data:`FOLDS`, applied alike to GEMM and FuSe layers:
            ``padded`` (a partial fold costs the whole array: SCALE-Sim v3 exactly) or ``used``
            (a fold ends at its last used PE; the default, see ``docs/simulator.md``).
        drain: how finished outputs leave the array (down the columns to the ofmap SRAM), one
            of :data:`DRAINS`: ``hidden`` (the default: a drain register per PE lets them leave
            while the next fold computes; see ``docs/fuse_dataflow.md``) or ``charged``.
        fuse: the array has the FuSe row-broadcast bus, so 1xK and Kx1 depthwise layers run
            as independent 1-D convolutions, one per array row (ST-OS); KxK depthwise layers
            always use the conventional mapping.
        batch: images per inference; multiplies the batch of the layer table.
        clock_mhz: clock frequency in MHz, used only to convert cycles to milliseconds.
        ifmap_sram_kb, filter_sram_kb, ofmap_sram_kb: on-chip SRAM sizes in KiB (SCALE-Sim's
            defaults).
        word_bytes: bytes per data word (1 = int8 operands), converts SRAM KiB to words.
        dram_words_per_cycle: DRAM bandwidth in words per cycle, for the bandwidth-bound
            (roofline) latency of :mod:`nos.sim.memory`.
        memory: DRAM traffic model, one of :data:`MEMORY_MODELS`: ``scalesim`` (SCALE-Sim
            v3's buffers, equal to its access report) or ``ideal`` (operands resident when
            they fit, partial sums kept on chip, no padding fetched) or ``resident`` (``ideal``,
            and a layer's output stays in the activation SRAMs for the layers that read it when
            it fits); see :mod:`nos.sim.memory`.
    """

    rows: int = 64
    cols: int = 64
    dataflow: str = "os"
    fold: str = "used"
    drain: str = "hidden"
    fuse: bool = True
    batch: int = 1
    clock_mhz: float = 1000.0
    ifmap_sram_kb: int = 6144
    filter_sram_kb: int = 6144
    ofmap_sram_kb: int = 2048
    word_bytes: int = 1
    dram_words_per_cycle: float = 10.0
    memory: str = "scalesim"

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "batch", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb", "word_bytes"):
            object.__setattr__(self, name, _positive_int(name, getattr(self, name)))
        for name, what, allowed in (("dataflow", "dataflow", DATAFLOWS), ("fold", "fold convention", FOLDS),
                                    ("drain", "drain setting", DRAINS), ("memory", "memory model", MEMORY_MODELS)):
            if getattr(self, name) not in allowed:
                _fail(name, f"unknown {what} {getattr(self, name)!r} (allowed: {', '.join(allowed)})")
        if not isinstance(self.fuse, (bool, np.bool_)):
            _fail("fuse", f"must be true or false, got {self.fuse!r}")
        object.__setattr__(self, "fuse", bool(self.fuse))
        for name in ("clock_mhz", "dram_words_per_cycle"):
            object.__setattr__(self, name, _positive_number(name, getattr(self, name)))

    @classmethod
    def from_dict(cls, data: Any) -> Hardware:
        """Build from a mapping (e.g. a Hydra ``hardware`` node); unknown keys are errors."""
        return from_mapping(cls, data, "hardware")

    def sram_words(self) -> tuple[int, int, int]:
        """(ifmap, filter, ofmap) SRAM capacities in words."""
        return tuple(kb * 1024 // self.word_bytes
                     for kb in (self.ifmap_sram_kb, self.filter_sram_kb, self.ofmap_sram_kb))

    def area_mm2(self, tech: Tech | None = None) -> float:
        """Chip area in mm^2 (PE array, FuSe additions, SRAMs; :mod:`nos.sim.area`; default :class:`Tech`)."""
        return float(area_mm2([self], tech)[0])


class Columns:
    """The fields of a tuple of :class:`Hardware` configs as read-only (configs, 1) arrays.

    Numeric fields keep their names (``rows``, ``cols``, ``batch``, ``clock_mhz``,
    ``dram_words_per_cycle``, ``word_bytes``, ``ifmap_sram_kb`` ...); ``fuse`` is bool; the
    choices ``dataflow``, ``fold``, ``drain`` and ``memory`` are indices into :data:`DATAFLOWS`,
    :data:`FOLDS`, :data:`DRAINS` and :data:`MEMORY_MODELS`. ``sram_words`` is the (ifmap,
    filter, ofmap) tuple of :meth:`Hardware.sram_words`. Built by :func:`columns`.
    """

    _CHOICES = {"dataflow": DATAFLOWS, "fold": FOLDS, "drain": DRAINS, "memory": MEMORY_MODELS}

    def __init__(self, configs: Sequence[Hardware]):
        self.configs = tuple(configs)
        for field in fields(Hardware):
            values = [getattr(h, field.name) for h in self.configs]
            if field.name in self._CHOICES:
                values = [self._CHOICES[field.name].index(value) for value in values]
            dtype = {"fuse": bool, "clock_mhz": np.float64, "dram_words_per_cycle": np.float64}.get(field.name,
                                                                                                   np.int64)
            setattr(self, field.name, _column(values, dtype))
        self.sram_words = tuple(_column(words, np.int64) for words in zip(*(h.sram_words() for h in self.configs)))

    def chose(self, field: str, value: str) -> np.ndarray:
        """Bool (configs, 1): the configs whose ``field`` (a choice) is ``value``."""
        return getattr(self, field) == self._CHOICES[field].index(value)

    def take(self, index: np.ndarray) -> Columns:
        """The columns of the configs at ``index`` (an int array)."""
        return columns(tuple(self.configs[i] for i in np.asarray(index).tolist()))


def _column(values: Sequence[Any], dtype: Any) -> np.ndarray:
    column = np.array(values, dtype=dtype).reshape(-1, 1)
    column.flags.writeable = False
    return column


@functools.lru_cache(maxsize=256)
def _columns(configs: tuple[Hardware, ...]) -> Columns:
    return Columns(configs)


def columns(configs: Sequence[Hardware]) -> Columns:
    """The :class:`Columns` of ``configs``, built once per distinct tuple (Hardware is frozen)."""
    return _columns(tuple(configs))


def area_mm2(configs: Sequence[Hardware], tech: Tech | None = None) -> np.ndarray:
    """Total area of each config, mm^2, shaped (configs,) (:mod:`nos.sim.area`; default :class:`Tech`)."""
    return sum(area_breakdown(columns(configs), DEFAULT_TECH if tech is None else tech).values())
