"""The technology table: energy per access (pJ) and area (um^2, mm^2) of each component.

Every default is a published figure for an 8-bit datapath near 45 nm; ``docs/energy.md``
gives the source of each one and derives the FuSe additions. Override any field (a Hydra
``tech`` group, ``conf/tech/``, or ``Tech(...)``); all are read by :mod:`nos.sim.energy` and
:mod:`nos.sim.area`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from nos.sim.fields import from_mapping

# CACTI 7 at 45 nm (experiments/results/cacti_sram.md): one bank, one read/write port, a 64-bit
# port; per 64-bit access in nJ and area in mm^2, 1 KiB .. 8 MiB.
_CACTI_KIB = tuple(float(2 ** i) for i in range(14))
_CACTI_READ_NJ = (0.00160991, 0.00267139, 0.0033181, 0.00604792, 0.00890893, 0.016998, 0.0212026, 0.0374928,
                  0.0459623, 0.0599027, 0.0771867, 0.104474, 0.13948, 0.194131)
_CACTI_WRITE_NJ = (0.0032665, 0.00398158, 0.00604183, 0.00741363, 0.0117713, 0.0144836, 0.0186882, 0.0242248,
                   0.0326943, 0.0466347, 0.0639187, 0.0912061, 0.12605, 0.180701)
_CACTI_MM2 = (0.00403525, 0.00843996, 0.015032, 0.0294029, 0.0549288, 0.106242, 0.234013, 0.435513, 0.894782,
              1.77514, 3.56541, 7.02961, 13.9468, 27.5734)


def _per_bit(access_nj: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(round(nj * 1000 / 64, 6) for nj in access_nj)


@dataclass(frozen=True)
class Tech:
    """Energy and area of the array's components (defaults: ``docs/energy.md``, sources cited there).

    Attributes:
        word_bits: bits per operand word; the hardware's ``word_bytes * 8`` must equal it.
        mac_pj: one multiply-accumulate: an 8-bit multiply (0.2 pJ) and a 32-bit add (0.1 pJ),
            Horowitz, ISSCC 2014, 45 nm.
        register_pj_per_bit: writing one bit into a PE register (Aladdin register, 40 nm).
        wire_pj_per_bit_mm: driving one bit over 1 mm of on-chip wire (CACTI 7, 45 nm,
            delay-optimal repeated wire): the hop to the next PE and the FuSe row bus.
        dram_pj_per_bit: one bit to or from DRAM: 1.3 nJ per 64-bit access (Horowitz, ISSCC
            2014, the low end of 1.3-2.6 nJ).
        multiplier_um2, adder_um2: the PE's 8x8-bit multiplier and 32-bit adder (Aladdin,
            40 nm; the 32x32 multiplier's 6350 um^2 scaled by (8/32)^2 as Accelergy does).
        register_um2_per_bit, mux_um2_per_bit: a flip-flop and a 2:1 multiplexer bit
            (NanGate 45 nm open cell library: DFF_X1, MUX2_X1).
        pe_register_bits: register bits per PE: ifmap and weight operand (8 + 8), accumulator
            and drain (shadow) register (32 + 32).
        drain_register_bits: of ``pe_register_bits``, the drain register's: what a PE of an
            array with ``Hardware.drain = "charged"`` does not have (``docs/fuse_dataflow.md``).
        fuse_stride: the largest stride the FuSe input chain supports (FuSeConv uses 1 and 2);
            each PE gets ``fuse_stride - 1`` extra word registers and a start-token bit per chain
            register (``docs/energy.md``).
        sram_kib: SRAM sizes (KiB) of the rows below, increasing; sizes between rows are
            interpolated log-log, sizes outside them are errors.
        sram_read_pj_per_bit, sram_write_pj_per_bit, sram_mm2: CACTI 7 at 45 nm for each size
            (``experiments/cacti_sram.py``): energy per bit of a 64-bit access, and area.
    """

    word_bits: int = 8
    mac_pj: float = 0.3
    register_pj_per_bit: float = 0.009
    wire_pj_per_bit_mm: float = 0.4384
    dram_pj_per_bit: float = 20.3125
    multiplier_um2: float = 396.875
    adder_um2: float = 278.0
    register_um2_per_bit: float = 4.522
    mux_um2_per_bit: float = 1.862
    pe_register_bits: int = 80
    drain_register_bits: int = 32
    fuse_stride: int = 2
    sram_kib: tuple[float, ...] = _CACTI_KIB
    sram_read_pj_per_bit: tuple[float, ...] = _per_bit(_CACTI_READ_NJ)
    sram_write_pj_per_bit: tuple[float, ...] = _per_bit(_CACTI_WRITE_NJ)
    sram_mm2: tuple[float, ...] = _CACTI_MM2

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.startswith("sram_"):
                self._check_row(field.name, value)
            elif field.type == "int":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f"tech.{field.name}: must be a positive integer, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise ValueError(f"tech.{field.name}: must be a finite number >= 0, got {value!r}")
        if self.drain_register_bits >= self.pe_register_bits:
            raise ValueError(f"tech.drain_register_bits: must be less than pe_register_bits "
                             f"({self.pe_register_bits}), got {self.drain_register_bits}")

    def _check_row(self, name: str, values: Any) -> None:
        if not isinstance(values, tuple) or not values or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf") for v in values):
            raise ValueError(f"tech.{name}: must be a non-empty tuple of positive numbers, got {values!r}")
        if len(values) != len(self.sram_kib):
            raise ValueError(f"tech.{name}: must have one value per sram_kib size ({len(self.sram_kib)}), "
                             f"got {len(values)}")
        if name == "sram_kib" and any(b <= a for a, b in zip(values, values[1:])):
            raise ValueError(f"tech.sram_kib: sizes must increase, got {values!r}")

    @classmethod
    def from_dict(cls, data: Any) -> Tech:
        """Build from a mapping (e.g. a Hydra ``tech`` node); lists become tuples, unknown keys are errors."""
        return from_mapping(cls, data, "tech", lambda value: tuple(value) if isinstance(value, (list, tuple)) else value)

    def pe_um2(self) -> float:
        """Area of one conventional PE: multiplier, adder and its registers, the drain register
        included (um^2)."""
        return self.multiplier_um2 + self.adder_um2 + self.pe_register_bits * self.register_um2_per_bit

    def drain_register_um2(self) -> float:
        """Area of the drain register of :meth:`pe_um2` (um^2)."""
        return self.drain_register_bits * self.register_um2_per_bit

    def fuse_pe_um2(self) -> float:
        """What the FuSe dataflow adds to each PE (um^2): a multiplexer choosing the weight
        operand from the row bus, ``fuse_stride - 1`` extra input-chain registers and a
        multiplexer switching them in (none for stride 1 only), and one start-token bit per
        chain register (``docs/energy.md``)."""
        extra_words = self.fuse_stride - 1
        muxes = self.word_bits * (1 + (extra_words > 0))
        return (muxes * self.mux_um2_per_bit
                + (extra_words * self.word_bits + self.fuse_stride) * self.register_um2_per_bit)

    def sram(self, what: str, kib: np.ndarray, field: str) -> np.ndarray:
        """``what`` (``read_pj_per_bit``, ``write_pj_per_bit`` or ``mm2``) of SRAMs of ``kib``
        KiB, interpolated log-log between the table's rows; ``field`` names the hardware field
        in the error for a size outside the table."""
        kib = np.asarray(kib, dtype=np.float64)
        low, high = self.sram_kib[0], self.sram_kib[-1]
        if np.any((kib < low) | (kib > high)):
            bad = kib[(kib < low) | (kib > high)].flat[0]
            raise ValueError(f"hardware.{field}: the tech table covers SRAMs of {low:g}-{high:g} KiB, got {bad:g}")
        values = np.log(getattr(self, f"sram_{what}"))
        return np.exp(np.interp(np.log(kib), np.log(self.sram_kib), values))


DEFAULT_TECH = Tech()
"""The documented default table; simulations without a ``tech`` share this one instance (built
and validated once, not on every call)."""
