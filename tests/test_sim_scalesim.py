"""The ``scalesim`` model equals the real SCALE-Sim v3 package, layer by layer (small sample;
experiments/scalesim_check.py runs hundreds per dataflow), under SCALE-Sim's ``padded`` fold
convention."""
import numpy as np
import pytest

from nos.sim import DATAFLOWS, Hardware, LayerTable, simulate

pytest.importorskip("scalesim", reason="the SCALE-Sim reference package (pip install nos[reference])")
from nos.sim.reference import random_layers, run_scalesim  # noqa: E402


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_random_layers_match_scalesim_exactly(dataflow):
    rng = np.random.default_rng(DATAFLOWS.index(dataflow))
    table = random_layers(rng, 20)
    rows, cols = (int(v) for v in rng.integers(2, 9, size=2))
    hardware = Hardware(rows=rows, cols=cols, dataflow=dataflow, fuse=False, fold="padded")
    reference = run_scalesim(table, hardware)
    result = simulate(table, hardware)
    assert result.layer_cycles.tolist() == reference["cycles"].tolist()
    assert result.sram_ifmap_reads.tolist() == reference["ifmap_reads"].tolist()
    assert result.sram_filter_reads.tolist() == reference["filter_reads"].tolist()
    assert result.sram_ofmap_writes.tolist() == reference["ofmap_writes"].tolist()


def test_a_mobilenet_v2_layer_on_the_papers_array():
    layer = LayerTable.from_records([dict(ifmap_h=16, ifmap_w=16, filter_h=1, filter_w=1, channels=64,
                                          num_filters=96, stride=1, groups=1)])
    hardware = Hardware(fuse=False, fold="padded")
    assert simulate(layer, hardware).layer_cycles.tolist() == run_scalesim(layer, hardware)["cycles"].tolist()
