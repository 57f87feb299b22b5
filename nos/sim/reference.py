"""Run the real SCALE-Sim v3 package on LayerTable rows (the reference the ``scalesim`` model
is checked against). Optional dependency: ``pip install nos[reference]`` (numpy < 2.4).

Slow by design (about 83 ms per one-channel layer): for tests and ``experiments/`` only.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile

import numpy as np

from nos.sim.hardware import Hardware
from nos.sim.layers import LayerTable

_CONFIG = """[general]
run_name = nos_check

[run_presets]
InterfaceBandwidth = CALC
UseRamulatorTrace = False

[architecture_presets]
ArrayHeight = {rows}
ArrayWidth = {cols}
IfmapSramSzkB = {ifmap_kb}
FilterSramSzkB = {filter_kb}
OfmapSramSzkB = {ofmap_kb}
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Dataflow = {dataflow}
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
FilterCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = false
"""


def run_scalesim(table: LayerTable, hardware: Hardware) -> dict[str, np.ndarray]:
    """SCALE-Sim's compute cycles, SRAM accesses and DRAM accesses for each layer of ``table``.

    Each layer is given SCALE-Sim with its ifmap cropped to the extent its outputs read,
    ``(E - 1) * stride + R`` (and likewise for the width), so SCALE-Sim's ceil output rule
    gives the same E and F as PyTorch's floor rule (the cropped rows and columns are never
    read, so no count changes). A grouped layer is run as one group (C/groups channels,
    M/groups filters) and its numbers multiplied by ``groups``, which SCALE-Sim's own
    depthwise expansion does identically (``shared/reference/scalesim.md``). SCALE-Sim runs
    with its memory system on (``InterfaceBandwidth = CALC``) and ``hardware``'s SRAM sizes;
    layers must have batch 1, ``hardware.batch`` 1 and ``hardware.word_bytes`` 1 (SCALE-Sim
    has one-byte words). SCALE-Sim charges folds by the ``padded`` convention whatever
    ``hardware.fold`` says: compare with ``simulate`` under ``fold="padded"``.

    Returns:
        int64 arrays in table order: ``cycles`` (COMPUTE_REPORT compute cycles),
        ``ifmap_reads``, ``filter_reads``, ``ofmap_writes`` (SRAM, words) and
        ``dram_ifmap_reads``, ``dram_filter_reads``, ``dram_ofmap_writes`` (DRAM, words:
        ``get_detail_report_items()`` indices 11, 14, 17).
    """
    from scalesim.scale_sim import scalesim

    if hardware.batch != 1 or np.any(table.batch != 1):
        raise ValueError("batch: SCALE-Sim simulates batch 1 only")
    if hardware.word_bytes != 1:
        raise ValueError(f"hardware.word_bytes: SCALE-Sim has one-byte words, got {hardware.word_bytes}")
    g = table.groups
    rows = [f"L{i}, {ih}, {iw}, {fh}, {fw}, {c}, {m}, {s},"
            for i, (ih, iw, fh, fw, c, m, s) in enumerate(zip(
                (table.out_h - 1) * table.stride + table.filter_h, (table.out_w - 1) * table.stride + table.filter_w,
                table.filter_h, table.filter_w, table.channels // g,
                table.num_filters // g, table.stride))]
    with tempfile.TemporaryDirectory(prefix="nos-scalesim-") as tmp:
        config = os.path.join(tmp, "config.cfg")
        topology = os.path.join(tmp, "layers.csv")
        with open(config, "w") as f:
            f.write(_CONFIG.format(rows=hardware.rows, cols=hardware.cols, dataflow=hardware.dataflow,
                                   ifmap_kb=hardware.ifmap_sram_kb, filter_kb=hardware.filter_sram_kb,
                                   ofmap_kb=hardware.ofmap_sram_kb))
        with open(topology, "w") as f:
            f.write("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                    "Num Filter, Strides,\n" + "\n".join(rows) + "\n")
        sim = scalesim(save_disk_space=True, verbose=False, config=config, topology=topology, layout=topology)
        with contextlib.redirect_stdout(io.StringIO()):
            sim.run_scale(top_path=tmp)
        layers = sim.runner.single_layer_sim_object_list
        compute = [layer.get_compute_report_items() for layer in layers]
        detail = [layer.get_detail_report_items() for layer in layers]
    counts = {"cycles": [items[1] for items in compute]}
    for name, index in (("ifmap_reads", 2), ("filter_reads", 5), ("ofmap_writes", 8), ("dram_ifmap_reads", 11),
                        ("dram_filter_reads", 14), ("dram_ofmap_writes", 17)):
        counts[name] = [items[index] for items in detail]
    return {name: g * np.array(values, dtype=np.int64) for name, values in counts.items()}


def random_layers(rng: np.random.Generator, count: int, max_ifmap: int = 12, max_channels: int = 8) -> LayerTable:
    """``count`` random small conv layers (kernels 1/3/5 and 1xK/Kx1, strides 1/2, dense,
    grouped and depthwise) for checks against :func:`run_scalesim`; sizes bound the cost."""
    records = []
    for i in range(count):
        kernel_h, kernel_w = [(1, 1), (3, 3), (5, 5), (1, 3), (3, 1)][rng.integers(5)]
        groups_kind = rng.integers(3)  # dense, grouped, depthwise
        groups = 1 if groups_kind == 0 else int(rng.integers(1, max_channels // 2 + 1))
        channels = groups * (int(rng.integers(1, max_channels // groups + 1)) if groups_kind < 2 else 1)
        filters = channels if groups_kind == 2 else groups * int(rng.integers(1, max_channels // groups + 1))
        records.append({"name": f"random{i}", "ifmap_h": int(rng.integers(kernel_h, max_ifmap + 1)),
                        "ifmap_w": int(rng.integers(kernel_w, max_ifmap + 1)), "filter_h": kernel_h,
                        "filter_w": kernel_w, "channels": channels, "num_filters": filters,
                        "stride": int(rng.integers(1, 3)), "groups": groups})
    return LayerTable.from_records(records)
