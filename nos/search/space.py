"""Search spaces: a backbone whose blocks each choose an operator (and optionally kernel
and expansion ratio). A genome is a flat dict of named categorical choices, so the same
space serves random sampling, enumeration and Optuna's define-by-run ``trial.suggest_*``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Protocol

import numpy as np

from nos import sim
from nos.arch import OPERATORS, Arch, ArchError, OperatorChoices

Genome = dict[str, Any]

class Suggester(Protocol):
    """What a space needs from an Optuna trial (``optuna.Trial`` satisfies it)."""

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any: ...

@dataclass(frozen=True)
class Choice:
    """One categorical decision of the genome, e.g. ``b3.op`` in (dw, full, fuse_half, fuse_full)."""

    name: str
    options: tuple[Any, ...]

class Choices:
    """A genome space: one option per :class:`Choice` of ``self.choices`` (set by subclasses)."""

    choices: list[Choice]

    @property
    def size(self) -> int:
        """Number of distinct genomes."""
        return math.prod(len(c.options) for c in self.choices)

    def sample(self, rng: np.random.Generator) -> Genome:
        """A uniformly random genome."""
        return {c.name: c.options[int(rng.integers(len(c.options)))] for c in self.choices}

    def suggest(self, trial: Suggester) -> Genome:
        """A genome chosen by an Optuna trial (define-by-run)."""
        return {c.name: trial.suggest_categorical(c.name, list(c.options)) for c in self.choices}


class BackboneSpace(Choices):
    """Per-block operator (kernel, expansion) choices on top of a reference backbone.

    Args:
        name: registry name of the space.
        base: the backbone; every block keeps its stride, output width, SE and activation.
        ops: operators each block may take (subset of :data:`nos.arch.OPERATORS`).
        kernels: kernel sizes each block may take; ``None`` keeps the backbone's.
        expansions: expansion ratios (hidden = round(cin * t)) for blocks that have an
            expansion conv; ``None`` keeps the backbone's widths.
        references: paper variants of this backbone to draw beside a Pareto front,
            label -> Arch (they may carry reproduction quirks the space does not generate).

    ``operator_choices`` holds ``ops``, ``kernels`` and ``expansions`` as the
    :class:`nos.arch.OperatorChoices` the space's supernet shares.
    """

    def __init__(self, name: str, base: Arch, ops=OPERATORS, kernels=None, expansions=None,
                 references: dict[str, Arch] | None = None):
        try:
            self.operator_choices = OperatorChoices(tuple(ops), kernels, expansions)
        except ArchError as err:
            raise ValueError(f"space.{err}") from None
        self.name, self.base, self.references = name, base, dict(references or {})
        choices = self.operator_choices
        self.choices: list[Choice] = []
        for i, block in enumerate(base.blocks):
            self.choices.append(Choice(f"b{i}.op", choices.ops_at(base, i)))
            if choices.kernels:
                self.choices.append(Choice(f"b{i}.kernel", choices.kernels))
            if choices.expansions and block.expand:
                self.choices.append(Choice(f"b{i}.expansion", choices.expansions))

    def enumerate(self, fixed: Genome | None = None, limit: int = 100_000) -> Iterator[Genome]:
        """All genomes that agree with ``fixed`` (a partial genome); refuses more than ``limit``."""
        fixed = dict(fixed or {})
        unknown = set(fixed) - {c.name for c in self.choices}
        if unknown:
            raise ValueError(f"fixed: unknown choices {sorted(unknown)} (space {self.name!r} has b<i>.op, ...)")
        free = [c for c in self.choices if c.name not in fixed]
        count = math.prod(len(c.options) for c in free)
        if count > limit:
            raise ValueError(f"fixed: the sub-space has {count} genomes, more than limit={limit}; fix more choices")
        for values in itertools.product(*(c.options for c in free)):
            yield {**fixed, **dict(zip((c.name for c in free), values))}

    def to_arch(self, genome: Genome) -> Arch:
        """The architecture a genome describes."""
        missing = [c.name for c in self.choices if c.name not in genome]
        if missing:
            raise ValueError(f"genome: missing choices {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        own = {c.name: genome[c.name] for c in self.choices}
        return dataclasses.replace(self._build(self.block_genome(own)), name=f"{self.name}/{genome_hash(own)}")

    def block_genome(self, genome: Genome) -> Genome:
        """The per-block choices (``b<i>.op`` ...) a genome of this space stands for."""
        return genome

    def _build(self, genome: Genome) -> Arch:
        """The backbone with a per-block genome's operators, kernels and widths."""
        blocks, cin = [], self.base.stem.out
        for i, block in enumerate(self.base.blocks):
            change: dict[str, Any] = {"op": genome[f"b{i}.op"]}
            if self.operator_choices.kernels:
                change["kernel"] = genome[f"b{i}.kernel"]
            if self.operator_choices.expansions and block.expand:
                change["exp"] = round(cin * genome[f"b{i}.expansion"])
            blocks.append(dataclasses.replace(block, **change))
            cin = block.out
        return dataclasses.replace(self.base, blocks=tuple(blocks))

    def genome_of(self, arch: Arch) -> Genome | None:
        """The genome whose :meth:`to_arch` has ``arch``'s operators, kernels and widths, or
        None when ``arch`` lies outside the space (used to seed a study with references)."""
        if len(arch.blocks) != len(self.base.blocks):
            return None
        blocks: Genome = {}
        for i, (block, base) in enumerate(zip(arch.blocks, self.base.blocks)):
            blocks[f"b{i}.op"] = block.op
            if self.operator_choices.kernels:
                blocks[f"b{i}.kernel"] = block.kernel
            if self.operator_choices.expansions and base.expand:
                blocks[f"b{i}.expansion"] = next((t for t in self.operator_choices.expansions
                                                  if round(arch.in_channels_of(i) * t) == block.exp), None)
        genome = self.from_blocks(blocks)
        valid = genome is not None and all(genome.get(c.name) in c.options for c in self.choices)
        return genome if valid else None

    def from_blocks(self, blocks: Genome) -> Genome | None:
        """The genome of this space that stands for per-block choices (None if there is none)."""
        return blocks


class StageSpace(BackboneSpace):
    """MnasNet's factorized hierarchical space: the blocks of a stage (consecutive blocks with one
    output width) share one choice of each kind (``s<j>.op``, ``s<j>.kernel``, ``s<j>.expansion``),
    so a 17-block MobileNetV2 with 4 operators has 4^7 = 16,384 genomes instead of 4^17 (small
    enough to enumerate together with a grid of arrays). Arguments as :class:`BackboneSpace`.
    """

    def __init__(self, name: str, base: Arch, ops=OPERATORS, kernels=None, expansions=None,
                 references: dict[str, Arch] | None = None):
        super().__init__(name, base, ops, kernels, expansions, references)
        self.stage_of: list[int] = []
        for i, block in enumerate(base.blocks):
            first = i == 0 or block.out != base.blocks[i - 1].out
            self.stage_of.append(self.stage_of[-1] + first if self.stage_of else 0)
        per_block = {c.name: c.options for c in self.choices}
        stage_options: dict[str, tuple[Any, ...]] = {}
        for name, options in per_block.items():  # a stage takes the options all its blocks allow
            block, kind = name.split(".")
            key = f"s{self.stage_of[int(block[1:])]}.{kind}"
            kept = stage_options.get(key, options)
            stage_options[key] = tuple(o for o in kept if o in options)
        self.choices = [Choice(name, options) for name, options in stage_options.items()]

    def block_genome(self, genome: Genome) -> Genome:
        out = {}
        for i, stage in enumerate(self.stage_of):
            for kind in ("op", "kernel", "expansion"):
                if f"s{stage}.{kind}" in genome:
                    out[f"b{i}.{kind}"] = genome[f"s{stage}.{kind}"]
        return out

    def from_blocks(self, blocks: Genome) -> Genome | None:
        genome: Genome = {}
        for name, value in blocks.items():
            block, kind = name.split(".")
            key = f"s{self.stage_of[int(block[1:])]}.{kind}"
            if genome.setdefault(key, value) != value:
                return None  # the blocks of a stage differ: not in this space
        return genome


HARDWARE_PREFIX = "hw."
PAPER_ARRAY = {"rows": 64, "cols": 64, "dataflow": "os", "fuse": True}  # the FuSeConv paper's array


class HardwareChoices:
    """The array a search evaluates candidates on: fixed fields, and fields given as a list of
    options that every trial chooses among (a co-search of the array with the operators).

    Args:
        fields: :class:`nos.sim.Hardware` field -> value, or -> list of values to choose from
            (choices named ``hw.<field>``); missing fields keep Hardware's defaults.
        tech: the technology table the arrays are priced with (each option's area is checked).
    """

    def __init__(self, fields: Mapping[str, Any], tech: sim.Tech | None = None):
        names = [f.name for f in dataclasses.fields(sim.Hardware)]
        self.fixed: dict[str, Any] = {}
        self.choices: list[Choice] = []
        for name, value in dict(fields).items():
            if name not in names:
                raise ValueError(f"hardware.{name}: unknown field (allowed: {', '.join(names)})")
            if isinstance(value, (list, tuple)):
                if not value:
                    raise ValueError(f"hardware.{name}: an empty list of choices")
                self.choices.append(Choice(f"{HARDWARE_PREFIX}{name}", tuple(value)))
            else:
                self.fixed[name] = value
        self.tech = sim.Tech() if tech is None else tech
        options = [self.to_hardware({c.name: option}, partial=True) for c in self.choices for option in c.options]
        sim.area_mm2(options or [self.to_hardware({})], self.tech)  # every SRAM size must be priced
        for h in options or [self.to_hardware({})]:
            if h.word_bytes * 8 != self.tech.word_bits:
                raise ValueError(f"hardware.word_bytes: the tech table is for {self.tech.word_bits}-bit words, "
                                 f"got {h.word_bytes} bytes")
        self.reference = self.to_hardware({c.name: _paper_option(c) for c in self.choices})
        """The paper's array where the choices allow it (each field's first option where not)."""

    @property
    def searched(self) -> bool:
        """Whether trials choose the array (some field has options)."""
        return bool(self.choices)

    def to_hardware(self, genome: Genome, partial: bool = False) -> sim.Hardware:
        """The array of a genome's ``hw.*`` choices (with ``partial``, missing ones keep defaults)."""
        chosen = {c.name[len(HARDWARE_PREFIX):]: genome[c.name] for c in self.choices if c.name in genome}
        if not partial and len(chosen) < len(self.choices):
            missing = [c.name for c in self.choices if c.name not in genome]
            raise ValueError(f"genome: missing choices {missing}")
        return sim.Hardware.from_dict({**self.fixed, **chosen})

    def genome_of(self, hardware: sim.Hardware) -> Genome | None:
        """The ``hw.*`` choices that give ``hardware``, or None when it is not among them."""
        genome = {c.name: getattr(hardware, c.name[len(HARDWARE_PREFIX):]) for c in self.choices}
        if any(genome[c.name] not in c.options for c in self.choices):
            return None
        return genome if self.to_hardware(genome) == hardware else None

    def describe(self) -> dict[str, Any]:
        """The fields as configured: fixed values and lists of options."""
        return {**self.fixed, **{c.name[len(HARDWARE_PREFIX):]: list(c.options) for c in self.choices}}


def _paper_option(choice: Choice) -> Any:
    value = PAPER_ARRAY.get(choice.name[len(HARDWARE_PREFIX):])
    return value if value in choice.options else choice.options[0]


class SearchSpace(Choices):
    """What a search chooses: a backbone's operator choices and the array's hardware choices.
    One genome gives one candidate, an (Arch, Hardware) pair.

    Args:
        operators: the backbone's operator (kernel, expansion) choices.
        hardware: the array's fixed fields and choices.
    """

    def __init__(self, operators: BackboneSpace, hardware: HardwareChoices):
        self.operators, self.hardware = operators, hardware
        self.name = operators.name
        self.choices = [*operators.choices, *hardware.choices]

    def candidate(self, genome: Genome) -> tuple[Arch, sim.Hardware]:
        return self.operators.to_arch(genome), self.hardware.to_hardware(genome)

    @property
    def references(self) -> dict[str, tuple[Arch, sim.Hardware]]:
        """The paper's variants of the backbone, each on the paper's array (where the choices allow)."""
        return {label: (arch, self.hardware.reference) for label, arch in self.operators.references.items()}

    def genome_of(self, arch: Arch, hardware: sim.Hardware) -> Genome | None:
        """The genome of a candidate, or None when it lies outside the space."""
        ops, hw = self.operators.genome_of(arch), self.hardware.genome_of(hardware)
        return None if ops is None or hw is None else {**ops, **hw}


def genome_hash(genome: Genome) -> str:
    """A stable 12-hex-digit key of a genome (independent of dict order and process)."""
    text = ",".join(f"{k}={genome[k]!r}" for k in sorted(genome))
    return hashlib.sha1(text.encode()).hexdigest()[:12]

def arch_key(arch: Arch) -> str:
    """A stable key of an architecture's structure (its name excluded), for result caches."""
    body = arch.to_dict()
    body.pop("name")
    return hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()


def candidate_key(arch: Arch, hardware: sim.Hardware | Mapping[str, Any] | None) -> str:
    """A stable key of an (architecture, array) pair, for result caches and fronts (the array as
    a Hardware or its fields, as an :class:`~nos.search.record.Evaluation` records them)."""
    fields = dataclasses.asdict(hardware) if isinstance(hardware, sim.Hardware) else dict(hardware or {})
    return hashlib.sha1(f"{arch_key(arch)}|{json.dumps(fields, sort_keys=True)}".encode()).hexdigest()
