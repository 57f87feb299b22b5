"""Search spaces: size, sampling, enumeration, genome -> Arch, registry errors."""
import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

import nos
from nos import sim
from nos.search.space import HardwareChoices, SearchSpace, arch_key, genome_hash
from search_spaces import get_space, names


def test_registered_spaces():
    assert {"mobilenet_v2", "mobilenet_v3_large", "mnasnet_b1"} <= set(names())
    with pytest.raises(ValueError, match=r"space: unknown search space 'resnet' \(allowed: .*mobilenet_v2"):
        get_space("resnet")


def test_mobilenet_v2_space_size_and_choices():
    space = get_space("mobilenet_v2")
    assert len(space.choices) == 17 and space.size == 4 ** 17
    wide = get_space("mobilenet_v2", kernels=(3, 5, 7), expansions=(3, 6))
    # 17 op choices, 17 kernel choices, 16 expansion choices (block 0 has no expansion conv)
    assert wide.size == 4 ** 17 * 3 ** 17 * 2 ** 16
    assert get_space("mnasnet_b1").size == 4 ** 17 and get_space("mobilenet_v3_large").size == 4 ** 15


def test_sampling_is_seeded_and_genomes_map_to_valid_archs():
    space = get_space("mobilenet_v2", kernels=(3, 5, 7), expansions=(3, 6))
    a = [space.sample(np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]
    ops = set()
    for seed in range(30):
        genome = space.sample(np.random.default_rng(seed))
        arch = space.to_arch(genome)
        assert nos.Arch.from_json(arch.to_json()) == arch
        ops |= {b.op for b in arch.blocks}
        for i, b in enumerate(arch.blocks):
            assert b.op == genome[f"b{i}.op"] and b.kernel == genome[f"b{i}.kernel"]
            if b.expand:
                assert b.exp == round(arch.in_channels_of(i) * genome[f"b{i}.expansion"])
    assert ops == set(nos.arch.OPERATORS)


def test_all_dw_genome_is_the_baseline_and_all_half_matches_the_paper_variant():
    space = get_space("mobilenet_v2")
    base = space.to_arch({c.name: "dw" for c in space.choices})
    assert base.blocks == nos.zoo.get("mobilenet_v2").blocks
    half = space.to_arch({c.name: "fuse_half" for c in space.choices})
    ref = nos.zoo.get("mobilenet_v2", "fuse_half")
    # the zoo variant carries the authors' unused expansion conv in block 0 (1,088 params, no MACs)
    assert half.macs() == ref.macs() and ref.params() - half.params() == 1088


def test_enumerate_small_subspace_and_refuse_large_ones():
    space = get_space("mobilenet_v2")
    fixed = {f"b{i}.op": "dw" for i in range(15)}
    genomes = list(space.enumerate(fixed))
    assert len(genomes) == 16 and len({genome_hash(g) for g in genomes}) == 16
    with pytest.raises(ValueError, match="more than limit"):
        next(space.enumerate({}, limit=1000))
    with pytest.raises(ValueError, match="unknown choices"):
        next(space.enumerate({"b99.op": "dw"}))


def test_hash_keys_are_stable_and_order_independent():
    g = {"b1.op": "dw", "b0.op": "full"}
    assert genome_hash(g) == genome_hash(dict(reversed(list(g.items()))))
    assert len(genome_hash(g)) == 12 and int(genome_hash(g), 16) >= 0
    other_process = subprocess.run(
        [sys.executable, "-c", "from nos.search.space import genome_hash; print(genome_hash({'b0.op': 'full', 'b1.op': 'dw'}))"],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "123"})
    assert other_process.stdout.strip() == genome_hash(g)
    arch = nos.zoo.get("mobilenet_v2")
    renamed = nos.Arch.from_json(arch.to_json().replace("mobilenet_v2/baseline", "other"))
    assert arch_key(arch) == arch_key(renamed)
    assert arch_key(arch) != arch_key(nos.zoo.get("mobilenet_v2", "fuse_half"))


def test_bad_space_options():
    with pytest.raises(ValueError, match="space.ops"):
        get_space("mobilenet_v2", ops=("dw", "conv"))
    with pytest.raises(ValueError, match="kernel"):
        get_space("mobilenet_v2", kernels=(3, 4))
    with pytest.raises(ValueError, match="missing choices"):
        get_space("mobilenet_v2").to_arch({"b0.op": "dw"})


def test_genome_of_recovers_reference_genomes_and_refuses_outsiders():
    space = get_space("mobilenet_v2", kernels=(3, 5), expansions=(3, 6))
    for variant in nos.zoo.VARIANTS:
        ref = nos.zoo.get("mobilenet_v2", variant)
        genome = space.genome_of(ref)
        assert [b.op for b in space.to_arch(genome).blocks] == [b.op for b in ref.blocks]
        assert space.to_arch(genome).macs() == ref.macs()
    narrow = get_space("mobilenet_v2", ops=("dw", "fuse_half"))
    assert narrow.genome_of(nos.zoo.get("mobilenet_v2", "fuse_full")) is None
    assert narrow.genome_of(nos.zoo.get("mobilenet_v1")) is None


# ---------------------------------------------------------------- the array as search dimensions

def test_hardware_choices_fixed_fields_lists_and_the_reference_array():
    fixed = HardwareChoices({"rows": 32, "cols": 16, "dataflow": "ws"})
    assert not fixed.searched and fixed.choices == [] and fixed.reference == sim.Hardware(rows=32, cols=16, dataflow="ws")
    choices = HardwareChoices({"rows": [8, 64, 256], "cols": [16, 32], "dataflow": ["ws", "os"], "fuse": [False, True],
                               "clock_mhz": 500.0})
    assert [c.name for c in choices.choices] == ["hw.rows", "hw.cols", "hw.dataflow", "hw.fuse"]
    # the paper's array where the options allow it (64 rows, os, FuSe), the first option where not (cols)
    assert choices.reference == sim.Hardware(rows=64, cols=16, dataflow="os", fuse=True, clock_mhz=500.0)
    genome = {"hw.rows": 256, "hw.cols": 32, "hw.dataflow": "ws", "hw.fuse": False}
    array = choices.to_hardware(genome)
    assert array == sim.Hardware(rows=256, cols=32, dataflow="ws", fuse=False, clock_mhz=500.0)
    assert choices.genome_of(array) == genome and choices.genome_of(sim.Hardware(rows=128)) is None
    assert choices.describe()["rows"] == [8, 64, 256] and choices.describe()["clock_mhz"] == 500.0


@pytest.mark.parametrize("fields, message", [
    ({"rowz": [8]}, "hardware.rowz: unknown field"),
    ({"rows": []}, "hardware.rows: an empty list of choices"),
    ({"rows": [8, -1]}, "hardware.rows: must be a positive integer, got -1"),
    ({"dataflow": ["os", "rs"]}, "hardware.dataflow: unknown dataflow 'rs'"),
    ({"ifmap_sram_kb": [64, 100000]}, "ifmap_sram_kb"),
    ({"word_bytes": [1, 2]}, "hardware.word_bytes: the tech table is for 8-bit words, got 2 bytes"),
])
def test_bad_hardware_choices_name_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        HardwareChoices(fields)


def test_a_search_space_gives_candidates_and_places_the_references_on_the_paper_array():
    operators = get_space("mobilenet_v2", ops=("dw", "fuse_half"))
    space = SearchSpace(operators, HardwareChoices({"rows": [32, 64], "fuse": [True, False]}))
    assert space.size == operators.size * 4
    genome = space.sample(np.random.default_rng(0))
    arch, array = space.candidate(genome)
    assert arch == operators.to_arch(genome) and array == space.hardware.to_hardware(genome)
    assert space.genome_of(arch, array) == genome
    for label, (ref, on) in space.references.items():
        assert ref == operators.references[label] and on == sim.Hardware(rows=64, fuse=True)


def test_stage_space_ties_the_blocks_of_each_stage():
    space = get_space("mobilenet_v2_stages")
    per_block = get_space("mobilenet_v2")
    assert [c.name for c in space.choices] == [f"s{j}.op" for j in range(7)] and space.size == 4 ** 7
    assert space.stage_of == [0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6]  # MobileNetV2's 7 stages
    genome = space.sample(np.random.default_rng(3))
    arch = space.to_arch(genome)
    assert [b.op for b in arch.blocks] == [genome[f"s{j}.op"] for j in space.stage_of]
    assert arch == dataclasses.replace(per_block.to_arch(space.block_genome(genome)), name=arch.name)
    assert space.genome_of(arch) == genome
    uniform = space.to_arch({f"s{j}.op": "fuse_half" for j in range(7)})
    mixed = dataclasses.replace(uniform, blocks=(*uniform.blocks[:2], dataclasses.replace(uniform.blocks[2], op="full"),
                                                 *uniform.blocks[3:]))
    assert space.genome_of(mixed) is None  # blocks 1 and 2 (one stage) differ
    assert all(space.genome_of(a) is not None for a in space.references.values())  # the paper's variants are stage-uniform
    assert len(list(space.enumerate({f"s{j}.op": "dw" for j in range(5)}))) == 16
