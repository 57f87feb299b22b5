"""nos.sim.Hardware: defaults, validation messages, construction from a config mapping."""
import dataclasses
import json

import numpy as np
import pytest

from nos.sim import DATAFLOWS, DRAINS, FOLDS, Hardware


def test_defaults_are_the_papers_array():
    hw = Hardware()
    assert (hw.rows, hw.cols, hw.dataflow, hw.fuse, hw.batch) == (64, 64, "os", True, 1)
    assert FOLDS == ("padded", "used") and hw.fold == "used"  # the default's argument: docs/simulator.md
    assert DRAINS == ("hidden", "charged") and hw.drain == "hidden"  # docs/fuse_dataflow.md, section 7
    assert hw.sram_words() == (6144 * 1024, 6144 * 1024, 2048 * 1024)
    assert Hardware(word_bytes=2).sram_words()[0] == 6144 * 512


def test_non_square_arrays_and_every_dataflow_are_accepted():
    for dataflow in DATAFLOWS:
        hw = Hardware(rows=3, cols=200, dataflow=dataflow)
        assert (hw.rows, hw.cols, hw.dataflow) == (3, 200, dataflow)


def test_numpy_numbers_are_accepted_and_stored_as_python_numbers():
    hw = Hardware(rows=np.int64(8), cols=np.int32(4), batch=np.uint8(2), clock_mhz=np.float32(500),
                  dram_words_per_cycle=np.int64(4), fuse=np.bool_(False))
    assert hw == Hardware(rows=8, cols=4, batch=2, clock_mhz=500.0, dram_words_per_cycle=4.0, fuse=False)
    assert type(hw.rows) is int and type(hw.clock_mhz) is float and type(hw.fuse) is bool
    assert json.loads(json.dumps(dataclasses.asdict(hw)))["rows"] == 8  # JSON-ready as a search record needs
    assert hash(hw) == hash(Hardware(rows=8, cols=4, batch=2, clock_mhz=500.0, dram_words_per_cycle=4.0, fuse=False))


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Hardware().rows = 8


@pytest.mark.parametrize("field, value, message", [
    ("rows", 0, "hardware.rows: must be a positive integer, got 0"),
    ("cols", -4, "hardware.cols: must be a positive integer, got -4"),
    ("rows", 8.0, "hardware.rows: must be a positive integer, got 8.0"),
    ("rows", True, "hardware.rows: must be a positive integer, got True"),
    ("batch", "2", "hardware.batch: must be a positive integer, got '2'"),
    ("dataflow", "rs", "hardware.dataflow: unknown dataflow 'rs' (allowed: os, ws, is)"),
    ("fold", "whole", "hardware.fold: unknown fold convention 'whole' (allowed: padded, used)"),
    ("fold", 1, "hardware.fold: unknown fold convention 1 (allowed: padded, used)"),
    ("drain", "free", "hardware.drain: unknown drain setting 'free' (allowed: hidden, charged)"),
    ("memory", "lru", "hardware.memory: unknown memory model 'lru' (allowed: scalesim, ideal, resident)"),
    ("rows", np.float64(8.0), "hardware.rows: must be a positive integer, got np.float64(8.0)"),
    ("rows", np.int64(0), "hardware.rows: must be a positive integer, got np.int64(0)"),
    ("fuse", 1, "hardware.fuse: must be true or false, got 1"),
    ("clock_mhz", 0, "hardware.clock_mhz: must be a positive finite number, got 0"),
    ("dram_words_per_cycle", float("inf"), "hardware.dram_words_per_cycle: must be a positive finite number"),
    ("ifmap_sram_kb", 0, "hardware.ifmap_sram_kb: must be a positive integer, got 0"),
])
def test_invalid_values_name_the_field(field, value, message):
    with pytest.raises(ValueError) as err:
        Hardware(**{field: value})
    assert str(err.value).startswith(message)


def test_from_dict_builds_and_rejects_unknown_keys():
    assert Hardware.from_dict({"rows": 32, "dataflow": "ws"}) == Hardware(rows=32, dataflow="ws")
    assert Hardware.from_dict({"fold": "padded"}).fold == "padded"
    with pytest.raises(ValueError, match=r"hardware.row: unknown field \(allowed: rows, cols"):
        Hardware.from_dict({"row": 32})
    with pytest.raises(ValueError, match="hardware: expected a mapping"):
        Hardware.from_dict([32])


def test_the_default_hardware_config_is_the_dataclass_default():
    import dataclasses

    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    import nos.cli.search
    from nos.search.space import HardwareChoices

    nos.cli.search.register()

    with initialize_config_module("nos.conf", version_base="1.3"):
        for name in ("default", "conventional"):
            hardware = OmegaConf.to_object(compose("search", overrides=[f"hardware={name}"])).hardware
            assert Hardware.from_dict(dataclasses.asdict(hardware)) == Hardware(fuse=name == "default")
        # the drain and the memory model reach a search and a co-search like any other field
        for name in ("default", "cosearch"):
            config = compose("search", overrides=[f"hardware={name}", "hardware.memory=resident",
                                                  "hardware.drain=charged"])
            choices = HardwareChoices(OmegaConf.to_container(config.hardware))
            assert (choices.reference.memory, choices.reference.drain) == ("resident", "charged")
