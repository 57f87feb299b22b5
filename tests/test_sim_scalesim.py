"""The ``scalesim`` model equals the real SCALE-Sim v3 package, layer by layer, under SCALE-Sim's
``padded`` fold convention (with the default ``hidden`` drain): compute cycles, SRAM reads and
writes and DRAM reads and writes of small random layers on SRAMs of 1-4 KiB, where the buffers
empty themselves inside folds (experiments/scalesim_check.py runs hundreds per dataflow)."""
import numpy as np
import pytest

import nos
from nos.sim import DATAFLOWS, Hardware, LayerTable, simulate

pytest.importorskip("scalesim", reason="the SCALE-Sim reference package (pip install nos[reference])")
from nos.sim.reference import random_layers, run_scalesim  # noqa: E402

COUNTS = {"cycles": "layer_cycles", "ifmap_reads": "sram_ifmap_reads", "filter_reads": "sram_filter_reads",
          "ofmap_writes": "sram_ofmap_writes", "dram_ifmap_reads": "dram_ifmap_reads",
          "dram_filter_reads": "dram_filter_reads", "dram_ofmap_writes": "dram_ofmap_writes"}


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_random_layers_match_scalesim_exactly(dataflow):
    rng = np.random.default_rng(100 + DATAFLOWS.index(dataflow))
    v2 = LayerTable.from_arch(nos.zoo.get("mobilenet_v2", "baseline"), input_size=8)
    padded = LayerTable(v2.data[:4], v2.names[:4])  # stem, padded 3x3 depthwise, pointwise
    stride2_pointwise = LayerTable.from_records([dict(ifmap_h=12, ifmap_w=12, filter_h=1, filter_w=1, channels=8,
                                                      num_filters=8, stride=2, groups=1)])
    # 1 KiB: a 500-word read buffer, smaller than many operands and fold working sets
    for kb in ((1, 1, 1), (2, 1, 4), (4, 2, 2)):
        table = LayerTable.concat([random_layers(rng, 10, max_ifmap=12, max_channels=8), stride2_pointwise, padded])
        rows, cols = (int(v) for v in rng.integers(2, 9, size=2))
        hw = Hardware(rows=rows, cols=cols, dataflow=dataflow, fuse=False, fold="padded", ifmap_sram_kb=kb[0],
                      filter_sram_kb=kb[1], ofmap_sram_kb=kb[2])
        reference, ours = run_scalesim(table, hw), simulate(table, hw)
        for name, attribute in COUNTS.items():  # no stalls in this mode: the cycles are the compute cycles
            assert getattr(ours, attribute).tolist() == reference[name].tolist(), (name, kb)


def test_a_mobilenet_v2_layer_on_the_papers_array():
    layer = LayerTable.from_records([dict(ifmap_h=16, ifmap_w=16, filter_h=1, filter_w=1, channels=64,
                                          num_filters=96, stride=1, groups=1)])
    hardware = Hardware(fuse=False, fold="padded")
    assert simulate(layer, hardware).layer_cycles.tolist() == run_scalesim(layer, hardware)["cycles"].tolist()
