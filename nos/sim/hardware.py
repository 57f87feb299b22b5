"""The systolic array being simulated: its shape, dataflow, FuSe support, clock and memories."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nos.sim.area import area_mm2 as configs_area_mm2
from nos.sim.fields import from_mapping
from nos.sim.tech import Tech

DATAFLOWS = ("os", "ws", "is")
FOLDS = ("padded", "used")
"""Fold conventions (``docs/simulator.md``, Fold conventions): ``padded`` charges every fold the
whole array, as SCALE-Sim v3 does (its operand matrices are padded to the array); ``used``
ends a fold at its last used PE."""
MEMORY_MODELS = ("scalesim", "ideal")


def _fail(name: str, problem: str) -> None:
    raise ValueError(f"hardware.{name}: {problem}")


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(name, f"must be a positive integer, got {value!r}")


def _check_positive_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        _fail(name, f"must be a positive finite number, got {value!r}")


@dataclass(frozen=True)
class Hardware:
    """A ``rows`` x ``cols`` systolic array of MAC units.

    Attributes:
        rows, cols: array size in processing elements (any positive ints, non-square allowed).
        dataflow: GEMM dataflow, one of :data:`DATAFLOWS` (output / weight / input stationary).
        fold: fold convention, one of :data:`FOLDS`, applied alike to GEMM and FuSe layers:
            ``padded`` (a partial fold costs the whole array: SCALE-Sim v3 exactly) or ``used``
            (a fold ends at its last used PE; the default, see ``docs/simulator.md``).
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
            they fit, partial sums kept on chip, no padding fetched); see :mod:`nos.sim.memory`.
    """

    rows: int = 64
    cols: int = 64
    dataflow: str = "os"
    fold: str = "used"
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
            _check_positive_int(name, getattr(self, name))
        if self.dataflow not in DATAFLOWS:
            _fail("dataflow", f"unknown dataflow {self.dataflow!r} (allowed: {', '.join(DATAFLOWS)})")
        if self.fold not in FOLDS:
            _fail("fold", f"unknown fold convention {self.fold!r} (allowed: {', '.join(FOLDS)})")
        if self.memory not in MEMORY_MODELS:
            _fail("memory", f"unknown memory model {self.memory!r} (allowed: {', '.join(MEMORY_MODELS)})")
        if not isinstance(self.fuse, bool):
            _fail("fuse", f"must be true or false, got {self.fuse!r}")
        _check_positive_number("clock_mhz", self.clock_mhz)
        _check_positive_number("dram_words_per_cycle", self.dram_words_per_cycle)

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
        return float(configs_area_mm2([self], tech)[0])
