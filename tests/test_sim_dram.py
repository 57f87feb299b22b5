"""DRAM traffic: closed forms equal to the direct buffer simulation of nos.sim.buffers on the
address streams of nos.sim.streams (GEMM and FuSe), streams that agree with the verified SRAM
counts, hand-computed cases, and the ``ideal`` and ``resident`` models (equality with the real
SCALE-Sim v3: ``test_sim_scalesim.py``)."""
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
    with pytest.raises(ValueError, match=r"hardware.memory: unknown memory model 'lru' \(allowed: scalesim, ideal, "
                                         r"resident\)"):
        Hardware(memory="lru")


# ---------------------------------------------------------------- the resident model
def _residual_net() -> nos.Arch:
    """stem 3 -> 8 (3x3, 16x16), one residual block (expand 8 -> 16, 3x3 depthwise, project 16 -> 8), a
    linear classifier on the pooled 8 features: tensors of 768 (image), 2048, 4096, 4096, 2048 words."""
    from nos.arch import Arch, Block, Head, Stem

    return Arch(stem=Stem(out=8, kernel=3, stride=1), blocks=(Block("dw", 3, 1, exp=16, out=8, act="relu"),),
                head=Head(conv=0), input_size=16, num_classes=10)


def test_resident_model_by_hand():
    table = LayerTable.from_arch(_residual_net())
    assert table.names == ["stem", "blocks.0.expand", "blocks.0.dw", "blocks.0.project", "classifier"]
    # the block input (the stem's 2048 words) is held across the depthwise and the projection for the add
    assert (table.held.tolist(), table.skip.tolist()) == ([0, 0, 2048, 2048, 0], [0, 0, 0, 3, 0])
    ideal = simulate(table, Hardware(memory="ideal", ifmap_sram_kb=4, ofmap_sram_kb=4))
    # 8192 words of activation SRAM: a layer keeps min(output, 8192 - input - held): 2048, 4096, then the
    # depthwise only 8192 - 4096 - 2048 = 2048 of its 4096 (the projection fetches that spilled half), the
    # projection its 2048; the classifier's 10 outputs leave the chip; the image is read
    big = simulate(table, Hardware(memory="resident", ifmap_sram_kb=4, ofmap_sram_kb=4))
    assert big.dram_ifmap_reads.tolist() == [768, 0, 0, 2048, 0]
    assert big.dram_ofmap_writes.tolist() == [0, 0, 2048, 0, 10]
    assert big.dram_filter_reads.tolist() == ideal.dram_filter_reads.tolist()
    # 2048 words: the stem keeps 2048 - 768 = 1280 of its 2048, so the expansion fetches 768, and the add
    # fetches those 768 again; nothing else fits beside the 2048-word inputs
    small = simulate(table, Hardware(memory="resident", ifmap_sram_kb=1, ofmap_sram_kb=1))
    assert small.dram_ifmap_reads.tolist() == [768, 768, 4096, 4096 + 768, 0]
    assert small.dram_ofmap_writes.tolist() == [768, 4096, 4096, 2048, 10]


def test_resident_mobilenet_v2_moves_only_its_weights_image_and_logits():
    """With the default SRAMs every MobileNet-V2 activation fits on chip: DRAM carries the weights
    once, the 3 x 224 x 224 image and the 1000 logits; the traced module gives the same numbers."""
    arch = nos.zoo.get("mobilenet_v2", "fuse_half")
    resident = simulate(arch, Hardware(memory="resident"))
    ideal = simulate(arch, Hardware(memory="ideal"))
    assert resident.total_dram_words == ideal.dram_filter_reads.sum() + 3 * 224 * 224 + 1000
    assert resident.total_dram_words < ideal.total_dram_words / 4
    mixed = simulate(arch, [Hardware(memory="resident"), Hardware(memory="ideal"), Hardware()])
    assert mixed.total_dram_words.tolist() == [resident.total_dram_words, ideal.total_dram_words,
                                               simulate(arch, Hardware()).total_dram_words]
    assert simulate(nos.build(arch.scaled(0.5)), Hardware(memory="resident", ifmap_sram_kb=64, ofmap_sram_kb=64),
                    input_size=96).total_dram_words == simulate(
        arch.scaled(0.5), Hardware(memory="resident", ifmap_sram_kb=64, ofmap_sram_kb=64), input_size=96).total_dram_words


def test_resident_records_are_a_chain():
    # 16x16x4 -> 16 filters (4096 words) -> 4 filters: 2048 words of SRAM keep 2048 - 1024 of the first
    # output; the second layer fetches the other 3072 (one pass: 4 filters fit the 4 columns)
    table = LayerTable.from_records([dict(ifmap_h=16, ifmap_w=16, filter_h=1, filter_w=1, channels=4, num_filters=16,
                                          stride=1, groups=1),
                                     dict(ifmap_h=16, ifmap_w=16, filter_h=1, filter_w=1, channels=16, num_filters=4,
                                          stride=1, groups=1)])
    assert (table.source.tolist(), table.sources.tolist(), table.held.tolist()) == ([0, 1], [0, 1], [0, 0])
    result = simulate(table, Hardware(rows=4, cols=4, memory="resident", ifmap_sram_kb=1, ofmap_sram_kb=1))
    assert result.dram_ofmap_writes.tolist() == [4096 - 1024, 1024]
    assert result.dram_ifmap_reads.tolist() == [1024, 3072]
