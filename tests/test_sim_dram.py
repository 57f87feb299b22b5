"""DRAM traffic: equal to the real SCALE-Sim v3 (small random layers, tiny to default SRAMs),
closed forms equal to the direct buffer simulation of nos.sim.buffers on the address
streams of nos.sim.streams (GEMM and FuSe), streams that agree with the verified SRAM
counts, hand-computed cases, and the ``ideal`` model."""
from __future__ import annotations

import numpy as np
import pytest

import nos
from nos.sim import DATAFLOWS, DRAINS, FOLDS, Hardware, LayerTable, simulate
from nos.sim.buffers import read_capacity, read_misses, simulate_write_buffer
from nos.sim.fuse import rowbroadcast
from nos.sim.memory import ofmap_dram_writes
from nos.sim.reference import random_layers
from nos.sim.streams import Conv, Streams, fuse_streams, gemm_filter_stream, gemm_ifmap_stream, gemm_ofmap_stores

DRAM = ("dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes")


def _layer(**fields) -> LayerTable:
    return LayerTable.from_records([dict(dict(stride=1, groups=1), **fields)])


def _gemm_streams(conv: Conv, rows: int, cols: int, dataflow: str) -> Streams:
    return Streams(gemm_ifmap_stream(conv, rows, cols, dataflow), gemm_filter_stream(conv, rows, cols, dataflow),
                   gemm_ofmap_stores(conv, rows, cols, dataflow))


def _direct(table: LayerTable, hw: Hardware, index: int) -> tuple[int, int, int]:
    """DRAM counts of one GEMM layer by running its streams through SCALE-Sim's buffers."""
    t, g = table, int(table.groups[index])
    conv = Conv(hw.batch * int(t.batch[index]), int(t.ifmap_h[index]), int(t.ifmap_w[index]), int(t.filter_h[index]),
                int(t.filter_w[index]), int(t.channels[index]) // g, int(t.num_filters[index]) // g,
                int(t.stride[index]))
    streams = _gemm_streams(conv, hw.rows, hw.cols, hw.dataflow)
    ifmap_words, filter_words, ofmap_words = hw.sram_words()
    return (g * read_misses(streams.ifmap, read_capacity(ifmap_words)),
            g * read_misses(streams.filter, read_capacity(filter_words)),
            g * simulate_write_buffer(streams.ofmap_stores, ofmap_words, hw.cols))


# ---------------------------------------------------------------- against the real SCALE-Sim
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_random_layers_match_scalesim_dram_exactly(dataflow):
    pytest.importorskip("scalesim", reason="the SCALE-Sim reference package (pip install nos[reference])")
    from nos.sim.reference import run_scalesim

    rng = np.random.default_rng(100 + DATAFLOWS.index(dataflow))
    v2 = LayerTable.from_arch(nos.zoo.get("mobilenet_v2", "baseline"), input_size=8)
    padded = LayerTable(v2.data[:4], v2.names[:4])  # stem, padded 3x3 depthwise, pointwise
    stride2_pointwise = _layer(ifmap_h=12, ifmap_w=12, filter_h=1, filter_w=1, channels=8, num_filters=8, stride=2)
    # 1 KiB: a 500-word read buffer, smaller than many operands and fold working sets
    for kb in ((1, 1, 1), (2, 1, 4), (4, 2, 2)):
        table = LayerTable.concat([random_layers(rng, 10, max_ifmap=12, max_channels=8), stride2_pointwise, padded])
        rows, cols = (int(v) for v in rng.integers(2, 9, size=2))
        hw = Hardware(rows=rows, cols=cols, dataflow=dataflow, fuse=False, fold="padded", ifmap_sram_kb=kb[0], filter_sram_kb=kb[1],
                      ofmap_sram_kb=kb[2])
        reference, ours = run_scalesim(table, hw), simulate(table, hw)
        for name in DRAM:
            assert getattr(ours, name).tolist() == reference[name].tolist(), (name, kb)
        assert ours.layer_cycles.tolist() == reference["cycles"].tolist()  # no stalls in this mode


# ---------------------------------------------------------------- closed forms vs direct simulation
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_closed_forms_equal_the_direct_buffer_simulation(dataflow):
    rng = np.random.default_rng(7 + DATAFLOWS.index(dataflow))
    for _ in range(4):
        table = random_layers(rng, 10, max_ifmap=14, max_channels=16)
        rows, cols = (int(v) for v in rng.integers(1, 10, size=2))
        kb = [int(v) for v in rng.choice([1, 2, 64], size=3)]
        hw = Hardware(rows=rows, cols=cols, dataflow=dataflow, fuse=False, batch=int(rng.integers(1, 3)),
                      ifmap_sram_kb=kb[0], filter_sram_kb=kb[1], ofmap_sram_kb=kb[2])
        result = simulate(table, hw)
        for i in range(len(table)):
            assert tuple(int(getattr(result, name)[i]) for name in DRAM) == _direct(table, hw, i)


def test_os_filter_folds_refetched_after_the_buffer_empties():
    # K = 72, 12 filters on 4 columns: 3 folds of 288 words, each streamed ceil(100 / 4) = 25 times.
    # 500-word buffer: fold 0 fits (288); fold 1 empties it after 212 new words, so its second
    # pass re-reads those 212; fold 2 starts with 288 held and empties after 212 again.
    table = _layer(ifmap_h=12, ifmap_w=12, filter_h=3, filter_w=3, channels=8, num_filters=12)
    hw = Hardware(rows=4, cols=4, fuse=False, filter_sram_kb=1)
    assert read_capacity(1024) == 500
    assert simulate(table, hw).dram_filter_reads[0] == 3 * 288 + 212 + 212 == _direct(table, hw, 0)[1]


def test_stride_2_pointwise_reads_only_the_pixels_it_uses():
    # the layer: 1x1 stride 2 on 56x56x72 reads 28 x 28 x 72 words, not the whole ifmap
    table = _layer(ifmap_h=56, ifmap_w=56, filter_h=1, filter_w=1, channels=72, num_filters=24, stride=2)
    for dataflow in DATAFLOWS:
        assert simulate(table, Hardware(dataflow=dataflow, fuse=False)).dram_ifmap_reads[0] == 28 * 28 * 72


def test_ws_partial_sums_are_all_written():
    # K = 3*3*64 = 576 = 9 window folds of 64 rows: 9 partial sums per output, P*M = 14*14*32
    table = _layer(ifmap_h=16, ifmap_w=16, filter_h=3, filter_w=3, channels=64, num_filters=32)
    for dataflow in ("ws", "is"):
        writes = simulate(table, Hardware(dataflow=dataflow, fuse=False)).dram_ofmap_writes[0]
        assert writes == 9 * 14 * 14 * 32  # 56,448 < 1 MiB drain batch: no padded line
    assert simulate(table, Hardware(dataflow="os", fuse=False)).dram_ofmap_writes[0] == 14 * 14 * 32


# ---------------------------------------------------------------- the write buffer
def test_write_rule_equals_the_write_buffer_on_any_schedule():
    rng = np.random.default_rng(3)
    for _ in range(60):
        line = int(rng.integers(1, 9))
        words = 1024 * int(rng.integers(1, 3)) + int(rng.choice([0, 3, 100]))
        stores = rng.integers(0, line + 1, size=int(rng.integers(1, 4000)))
        expected = simulate_write_buffer(stores, words, line)
        assert ofmap_dram_writes(np.array(int(stores.sum())), np.array(words), np.array(line)) == expected


def test_write_rule_by_hand():
    # 1 KiB, 4-word lines: drain batches of 512 words = 128 lines. The 513th store leaves less
    # than half free: 128 full lines go, the closed line holding 1 word waits; it is the first
    # line of the next batch of 128, so its 3 empty slots are counted: 800 stores, 803 writes.
    assert simulate_write_buffer(np.full(200, 4), 1024, 4) == 803
    assert simulate_write_buffer(np.full(128, 4), 1024, 4) == 512  # never more than half full
    assert simulate_write_buffer(np.full(200, 3), 1024, 3) == 600  # 512 is not a multiple of 3


# ---------------------------------------------------------------- the streams themselves
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_gemm_streams_have_the_sram_counts_and_cycles(dataflow):
    table = random_layers(np.random.default_rng(11), 6, max_ifmap=10, max_channels=6)
    hw = Hardware(rows=3, cols=5, dataflow=dataflow, fuse=False, fold="padded")  # SCALE-Sim's streams
    result = simulate(table, hw)
    for i in range(len(table)):
        g = int(table.groups[i])
        conv = Conv(1, int(table.ifmap_h[i]), int(table.ifmap_w[i]), int(table.filter_h[i]), int(table.filter_w[i]),
                    int(table.channels[i]) // g, int(table.num_filters[i]) // g, int(table.stride[i]))
        streams = _gemm_streams(conv, hw.rows, hw.cols, dataflow)
        assert g * sum(len(a) * n for a, n in streams.ifmap) == result.sram_ifmap_reads[i]
        assert g * sum(len(a) * n for a, n in streams.filter) == result.sram_filter_reads[i]
        assert g * (len(streams.ofmap_stores) - 1) == result.layer_cycles[i]
        assert np.all(streams.ofmap_stores <= hw.cols)


def test_fuse_streams_have_the_row_broadcast_counts():
    # 1x3 stride 2 and 3x1 stride 1 depthwise, padded, on 5x3: the doc's worked example and its transpose
    for h, w, kh, kw, stride in ((8, 10, 1, 3, 2), (10, 8, 3, 1, 1)):
        streams = fuse_streams(1, h, w, 3, kh, kw, stride, rows=5, cols=3)
        lines = ((h if kh == 1 else w) - 1) // stride + 1
        in_len = w if kh == 1 else h
        counts = rowbroadcast(n1d=3 * lines, in_len=in_len, out_len=(in_len - max(kh, kw)) // stride + 1,
                              kernel=max(kh, kw), stride=stride, rows=5, cols=3, fold=FOLDS.index("used"),
                              drain=DRAINS.index("hidden"))
        assert len(streams.ifmap[0][0]) == counts["ifmap_reads"]
        assert len(streams.filter[0][0]) == counts["filter_reads"]
        assert streams.ofmap_stores.sum() == counts["ofmap_writes"]


def test_fuse_closed_forms_equal_the_direct_buffer_simulation():
    rng = np.random.default_rng(5)
    records = []
    for _ in range(14):
        kernel, stride, channels = int(rng.choice([3, 5])), int(rng.integers(1, 3)), int(rng.integers(2, 12))
        row = bool(rng.integers(2))
        size = [int(v) for v in rng.integers(kernel, 30, size=2)]
        records.append(dict(ifmap_h=size[0], ifmap_w=size[1], filter_h=1 if row else kernel,
                            filter_w=kernel if row else 1, channels=channels, num_filters=channels, stride=stride,
                            groups=channels))
    table = LayerTable.from_records(records)
    for rows, cols, kb, batch in ((7, 4, (1, 1, 1), 2), (16, 16, (2, 64, 1), 1), (3, 9, (64, 64, 64), 1)):
        hw = Hardware(rows=rows, cols=cols, batch=batch, ifmap_sram_kb=kb[0], filter_sram_kb=kb[1], ofmap_sram_kb=kb[2])
        result = simulate(table, hw)
        for i in range(len(table)):
            streams = fuse_streams(batch, int(table.ifmap_h[i]), int(table.ifmap_w[i]), int(table.channels[i]),
                                   int(table.filter_h[i]), int(table.filter_w[i]), int(table.stride[i]), rows, cols)
            words = hw.sram_words()
            direct = (read_misses(streams.ifmap, read_capacity(words[0])),
                      read_misses(streams.filter, read_capacity(words[1])),
                      simulate_write_buffer(streams.ofmap_stores, words[2], cols))
            assert tuple(int(getattr(result, name)[i]) for name in DRAM) == direct


def test_fuse_layer_by_hand():
    # MobileNet-V2 FuSe-Half block 1's 1x3 (16 channels, 112x112, W padded to 114) on 64x64:
    # each 1-D conv reads its 114 inputs once (the 2-word halo of the second column fold hits),
    # the 16 x 3 taps once, and writes its 112 outputs.
    table = LayerTable.from_arch(nos.zoo.get("mobilenet_v2", "fuse_half"))
    layer = table.names.index("blocks.0.dw_1xk")
    result = simulate(table, Hardware())
    assert (table.channels[layer], table.ifmap_w[layer], table.out_w[layer]) == (16, 114, 112)
    assert result.dram_ifmap_reads[layer] == 16 * 112 * 114
    assert result.dram_filter_reads[layer] == 16 * 3
    assert result.dram_ofmap_writes[layer] == 16 * 112 * 112


# ---------------------------------------------------------------- the ideal model
def test_ideal_model_by_hand():
    padded = LayerTable.from_arch(nos.zoo.get("mobilenet_v2", "baseline"))
    first = 0  # the stem: 3x3 stride 2 on 3 x 224 x 224 padded to 226 x 226
    assert (padded.ifmap_h[first], padded.pad_h[first], padded.stride[first]) == (226, 1, 2)
    scalesim, ideal = simulate(padded, Hardware()), simulate(padded, Hardware(memory="ideal"))
    # SCALE-Sim reads rows 0..224 (the outputs' extent, padding row 0 included); ideal skips the padding
    assert scalesim.dram_ifmap_reads[first] == 225 * 225 * 3
    assert ideal.dram_ifmap_reads[first] == 224 * 224 * 3
    # ws partial sums: kept in the ofmap SRAM when the outputs fit it, spilled when not
    layer = _layer(ifmap_h=16, ifmap_w=16, filter_h=3, filter_w=3, channels=64, num_filters=32)
    fits = simulate(layer, Hardware(dataflow="ws", memory="ideal"))
    assert (fits.dram_ofmap_writes[0], fits.dram_ofmap_reads[0]) == (14 * 14 * 32, 0)
    spills = simulate(layer, Hardware(dataflow="ws", memory="ideal", ofmap_sram_kb=1))
    assert (spills.dram_ofmap_writes[0], spills.dram_ofmap_reads[0]) == (9 * 14 * 14 * 32, 8 * 14 * 14 * 32)
    assert spills.total_dram_words == sum(int(getattr(spills, n)[0]) for n in DRAM + ("dram_ofmap_reads",))
    # an operand whose re-streamed part does not fit is re-read once per pass: the 16 KiB ifmap once per
    # filter fold (256 / 64 = 4); in os one filter fold (576 x 64 words = 36 KiB) per pixel fold (196 / 64 -> 4)
    big = _layer(ifmap_h=16, ifmap_w=16, filter_h=3, filter_w=3, channels=64, num_filters=256)
    assert simulate(big, Hardware(memory="ideal", ifmap_sram_kb=8)).dram_ifmap_reads[0] == 4 * 16 * 16 * 64
    assert simulate(big, Hardware(memory="ideal", filter_sram_kb=64)).dram_filter_reads[0] == 576 * 256
    assert simulate(big, Hardware(memory="ideal", filter_sram_kb=32)).dram_filter_reads[0] == 4 * 576 * 256


def test_memory_model_is_validated():
    with pytest.raises(ValueError, match=r"hardware.memory: unknown memory model 'lru' \(allowed: scalesim, ideal\)"):
        Hardware(memory="lru")
