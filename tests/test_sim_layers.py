"""LayerTable: shape arithmetic from Arch, torch.fx tracing of modules, SCALE-Sim records."""
import dataclasses

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

import nos
from nos.sim import KINDS, LayerTable
from nos.sim.layers import COLUMNS


def _agree(arch, input_size):
    shapes = LayerTable.from_arch(arch, input_size)
    traced = LayerTable.from_module(nos.build(arch), input_size)
    assert np.array_equal(shapes.data, traced.data)
    assert shapes.macs.sum() == arch.macs(input_size)
    assert len(shapes) == sum(layer.called for layer in arch.layers())


@pytest.mark.parametrize("key", sorted(nos.zoo.all_archs()), ids="/".join)
def test_from_arch_equals_from_module_on_every_zoo_network(key):
    # a 64x64 input keeps the traced forward cheap; every shape rule is exercised the same
    _agree(nos.zoo.get(*key), 64)


@pytest.mark.parametrize("key", [("mobilenet_v2", "fuse_half"), ("mobilenet_v3_large", "fuse_full")], ids="/".join)
def test_from_arch_equals_from_module_at_224(key):
    _agree(nos.zoo.get(*key), 224)


def test_columns_of_mobilenet_v2_fuse_half_first_block():
    table = LayerTable.from_arch(nos.zoo.get("mobilenet_v2", "fuse_half"))
    names = table.names
    assert names[:4] == ["stem", "blocks.0.dw_1xk", "blocks.0.dw_kx1", "blocks.0.project"]  # dead expand skipped
    row = dict(zip(COLUMNS, table.data[1].tolist()))
    assert KINDS[row["kind"]] == "dw_1xk"
    assert (row["ifmap_h"], row["ifmap_w"], row["filter_h"], row["filter_w"]) == (112, 114, 1, 3)
    assert (row["channels"], row["num_filters"], row["groups"], row["out_h"], row["out_w"]) == (16, 16, 16, 112, 112)
    assert (row["line_count"], row["line_in"], row["line_out"], row["line_kernel"]) == (16 * 112, 114, 112, 3)
    kx1 = dict(zip(COLUMNS, table.data[2].tolist()))
    assert (kx1["line_count"], kx1["line_in"], kx1["line_out"], kx1["line_kernel"]) == (16 * 112, 114, 112, 3)
    stem = dict(zip(COLUMNS, table.data[0].tolist()))
    assert (stem["ifmap_h"], stem["stride"], stem["out_h"], stem["macs"]) == (226, 2, 112, 112 * 112 * 32 * 27)
    assert KINDS[table.kind[-1]] == "linear"


def test_a_list_of_archs_is_concatenated_with_offsets():
    archs = [nos.zoo.get("mobilenet_v2", "baseline"), nos.zoo.get("mobilenet_v1", "fuse_full")]
    table = LayerTable.from_arch(archs)
    one, two = (LayerTable.from_arch(a) for a in archs)
    assert table.offsets.tolist() == [0, len(one), len(one) + len(two)]
    assert np.array_equal(table.data, np.concatenate([one.data, two.data]))
    assert table.names == one.names + two.names
    assert table.num_networks == 2
    both = LayerTable.concat([one, two])
    assert np.array_equal(both.data, table.data) and both.offsets.tolist() == table.offsets.tolist()


def test_input_size_and_class_count_change_the_shapes():
    arch = dataclasses.replace(nos.zoo.get("mobilenet_v2", "baseline"), num_classes=10)
    table = LayerTable.from_arch(arch, input_size=64)
    assert table.out_h[0] == 32 and table.num_filters[-1] == 10
    assert table.macs.sum() == arch.macs(64)


def test_from_records_derives_outputs_with_the_floor_rule():
    table = LayerTable.from_records([
        {"ifmap_h": 10, "ifmap_w": 9, "filter_h": 3, "filter_w": 3, "channels": 4, "num_filters": 8, "stride": 2,
         "groups": 1, "name": "a"},
        {"ifmap_h": 7, "ifmap_w": 7, "filter_h": 3, "filter_w": 3, "channels": 6, "num_filters": 6, "stride": 1,
         "groups": 6},
    ])
    assert table.out_h.tolist() == [4, 5] and table.out_w.tolist() == [4, 5]
    assert [KINDS[k] for k in table.kind] == ["conv", "depthwise"]
    assert table.names == ["a", "layer1"]
    assert table.macs.tolist() == [4 * 4 * 8 * 36, 5 * 5 * 6 * 9]
    assert table.records()[1]["groups"] == 6


@pytest.mark.parametrize("records, message", [
    ([], "records: expected a non-empty list"),
    ([{"ifmap_h": 4}], r"records\[0\].ifmap_w: missing"),
    ([dict(ifmap_h=4, ifmap_w=4, filter_h=3, filter_w=3, channels=2, num_filters=2, stride=0, groups=1)],
     r"records\[0\].stride: must be a positive integer, got 0"),
    ([dict(ifmap_h=2, ifmap_w=4, filter_h=3, filter_w=3, channels=2, num_filters=2, stride=1, groups=1)],
     r"records\[0\].filter_h: larger than ifmap_h"),
    ([dict(ifmap_h=4, ifmap_w=4, filter_h=3, filter_w=3, channels=3, num_filters=2, stride=1, groups=2)],
     r"records\[0\].groups: must divide channels"),
    ([dict(ifmap_h=4, ifmap_w=4, filter_h=3, filter_w=3, channels=2, num_filters=2, stride=1, groups=1, pad=1)],
     r"records\[0\].pad: unknown field"),
])
def test_from_records_rejects_bad_records(records, message):
    with pytest.raises(ValueError, match=message):
        LayerTable.from_records(records)


def test_kinds_of_traced_layers_and_the_graph():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, (1, 5), stride=2, padding=(0, 2), groups=8),
                        nn.Conv2d(8, 8, (5, 1), padding="same", groups=8),
                        nn.Conv2d(8, 16, 3, groups=4), nn.Conv2d(16, 16, 1),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))
    table = LayerTable.from_module(net, input_size=20)
    assert [KINDS[k] for k in table.kind] == ["conv", "dw_1xk", "dw_kx1", "grouped", "pointwise", "linear"]
    assert table.ifmap_h.tolist() == [22, 20, 14, 10, 8, 1]
    assert table.ifmap_w.tolist() == [22, 24, 10, 10, 8, 1]
    assert table.out_h.tolist() == [20, 10, 10, 8, 8, 1]
    assert isinstance(table.graph, nx.DiGraph) and nx.is_directed_acyclic_graph(table.graph)
    assert table.graph.number_of_nodes() == 12  # input, 10 modules, output


def test_linear_on_a_sequence_counts_every_position():
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Flatten(2), nn.Linear(36, 7))
    table = LayerTable.from_module(net, input_size=6)
    assert table.ifmap_w[1] == 4 and table.macs[1] == 4 * 36 * 7


class _Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, dilation=2)
        self.up = nn.ConvTranspose2d(4, 4, 2)
        self.gru = nn.GRU(4, 4)

    def forward(self, x):
        y = self.up(self.conv(x))
        return torch.matmul(y, y.transpose(2, 3))


def test_unsupported_layers_are_all_named():
    with pytest.raises(ValueError) as err:
        LayerTable.from_module(_Attention(), input_size=16)
    message = str(err.value)
    assert "conv (Conv2d with dilation (2, 2))" in message
    assert "up (ConvTranspose2d)" in message and "matmul" in message


def test_untraceable_module_and_bad_arguments():
    class Dynamic(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(ValueError, match="torch.fx cannot trace Dynamic"):
        LayerTable.from_module(Dynamic())
    with pytest.raises(ValueError, match="no Conv2d or Linear"):
        LayerTable.from_module(nn.ReLU(), input_size=4)
    with pytest.raises(TypeError, match="expected a torch.nn.Module"):
        LayerTable.from_module("net")
    with pytest.raises(ValueError, match="input_size: must be a positive integer"):
        LayerTable.from_module(nn.Conv2d(3, 3, 1), input_size=0)


@pytest.mark.parametrize("module, message", [
    (nn.Sequential(nn.Conv1d(3, 4, 3)), "module: layer 0 (Conv1d) cannot run on a 1x3x5x5 input: Expected 2D"),
    (nn.Sequential(nn.Conv2d(3, 4, 9)), "module: layer 0 (Conv2d) cannot run on a 1x3x5x5 input: Calculated padded"),
])
def test_a_module_that_cannot_take_the_image_is_a_value_error_naming_the_layer(module, message, capfd):
    with pytest.raises(ValueError) as err:
        LayerTable.from_module(module, input_size=5)
    assert str(err.value).startswith(message) and len(str(err.value).splitlines()) == 1
    assert capfd.readouterr() == ("", "")  # no traceback printed on the way
