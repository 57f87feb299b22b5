"""The 25 reference networks: counts against networks.md, layer rules, forward and export."""
import functools

import networkx as nx
import pytest
import torch
from torch import nn

import nos
from nos import zoo
from reference_networks import HYBRID_BLOCKS, REFERENCE

ALL = sorted(REFERENCE)
# torch.export costs about a second per network: one per family, the five variants between them
EXPORTED = [("mobilenet_v1", "fuse_full"), ("mobilenet_v2", "fuse_half"), ("mnasnet_b1", "fuse_half_50"),
            ("mobilenet_v3_small", "fuse_full_50"), ("mobilenet_v3_large", "baseline")]


@functools.lru_cache(maxsize=None)
def built(key: tuple[str, str]) -> nn.Module:
    """The network of zoo entry ``key``, built once for the module's tests (which only read it)."""
    return nos.build(zoo.get(*key)).eval()


def conv_linear_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def called_layers(model: nn.Module, size: int = 224) -> tuple[list[tuple[str, tuple[int, ...]]], torch.Tensor]:
    """(module name, input shape) of each Conv2d/Linear in forward order, and the logits of a
    random 1 x 3 x ``size`` x ``size`` image."""
    calls, hooks = [], []
    for name, m in conv_linear_modules(model):
        hooks.append(m.register_forward_hook(lambda mod, inp, out, name=name: calls.append((name, tuple(inp[0].shape)))))
    with torch.no_grad():
        logits = model.eval()(torch.randn(1, 3, size, size))
    for h in hooks:
        h.remove()
    return calls, logits


def test_names_and_variants():
    assert zoo.names() == ["mobilenet_v1", "mobilenet_v2", "mnasnet_b1", "mobilenet_v3_small", "mobilenet_v3_large"]
    assert set(zoo.all_archs()) == set(REFERENCE)


@pytest.mark.parametrize("key", ALL, ids="/".join)
def test_params_macs_and_layer_counts_match_reference(key):
    params, macs, called, modules = REFERENCE[key]
    arch = zoo.get(*key)
    model = built(key)
    assert sum(p.numel() for p in model.parameters()) == params
    assert round(params / 1e6, 4) == round(arch.params() / 1e6, 4)
    assert arch.params() == params
    assert arch.macs() == macs
    assert len(conv_linear_modules(model)) == modules
    assert len([layer for layer in arch.layers() if layer.called]) == called


@pytest.mark.parametrize("key", ALL, ids="/".join)
def test_layer_table_is_the_module_in_forward_order(key):
    """Arch.layers() (shape arithmetic) equals the built module's called layers at 224 px: names,
    channels, kernel, stride, padding, groups, bias and input size; the forward pass gives finite
    1000-class logits."""
    arch = zoo.get(*key)
    model = built(key)
    modules = dict(model.named_modules())
    calls, logits = called_layers(model)
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()
    layers = [layer for layer in arch.layers() if layer.called]
    assert len(calls) == len(layers)
    for (name, shape), layer in zip(calls, layers):
        m = modules[name]
        if isinstance(m, nn.Conv2d):
            assert layer.kind == "conv"
            assert (m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.groups, m.bias is not None) == (
                layer.cin, layer.cout, (layer.kh, layer.kw), (layer.stride,) * 2, (layer.pad_h, layer.pad_w), layer.groups, layer.bias)
            assert shape[1:] == (layer.cin, layer.in_h, layer.in_w)
        else:
            assert layer.kind == "linear" and (m.in_features, m.out_features) == (layer.cin, layer.cout)


@pytest.mark.parametrize("name", zoo.names())
@pytest.mark.parametrize("variant", ["fuse_full", "fuse_half", "fuse_full_50", "fuse_half_50"])
def test_fuse_variants_follow_the_replacement_rules(name, variant):
    """Each FuSe block has 1xK then Kx1 depthwise convs (on C/D channels each) feeding a
    projection of 2C/D inputs; every other block is the baseline block unchanged."""
    base, arch = zoo.get(name), zoo.get(name, variant)
    chosen = HYBRID_BLOCKS[name] if variant.endswith("_50") else set(range(len(base.blocks)))
    full = variant.startswith("fuse_full")
    for i, (b0, b1) in enumerate(zip(base.blocks, arch.blocks)):
        layers = {layer.role: layer for layer in arch.layers() if layer.block == i}
        if i not in chosen:
            assert b1 == b0
            continue
        c = b0.exp if full else b0.exp // 2
        k = b0.kernel
        row, col = layers["dw_1xk"], layers["dw_kx1"]
        assert (row.kh, row.kw, row.cin, row.groups, row.stride) == (1, k, c, c, b0.stride)
        assert (col.kh, col.kw, col.cin, col.groups, col.stride) == (k, 1, c, c, b0.stride)
        assert layers["project"].cin == (2 * b0.exp if full else b0.exp)
        assert "dw" not in layers


@pytest.mark.parametrize("key", ALL, ids="/".join)
def test_json_and_text_round_trips_are_lossless(key):
    arch = zoo.get(*key)
    assert nos.Arch.from_json(arch.to_json()) == arch
    assert nos.Arch.from_text(arch.to_text()) == arch
    assert nos.Arch.from_text(arch.to_text()).to_text() == arch.to_text()


@pytest.mark.parametrize("key", ALL, ids="/".join)
def test_graph_is_a_dag_whose_conv_nodes_are_the_modules_conv2d_layers(key):
    arch = zoo.get(*key)
    g = arch.graph()
    assert nx.is_directed_acyclic_graph(g)
    model = built(key)
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    conv_nodes = [n for n, d in g.nodes(data=True) if d["op"] == "conv"]
    assert len(conv_nodes) == len(convs)
    for node, (_, m) in zip(conv_nodes, convs):
        d = g.nodes[node]
        assert (d["cin"], d["cout"], (d["kh"], d["kw"]), d["groups"]) == (m.in_channels, m.out_channels, m.kernel_size, m.groups)
    # every called layer lies on a path from input to output; the dead conv is isolated
    reachable = nx.descendants(g, "input")
    for node, d in g.nodes(data=True):
        if d["op"] in ("conv", "linear"):
            assert (node in reachable) == d["called"]
    assert "output" in reachable
    residuals = [n for n, d in g.nodes(data=True) if d["op"] == "add"]
    assert len(residuals) == sum(b.has_residual(arch.in_channels_of(i)) for i, b in enumerate(arch.blocks))


@pytest.mark.parametrize("key", EXPORTED, ids="/".join)
def test_torch_export_gives_the_module_output(key):
    """torch.export of one network per family (every operator and variant among them), at 64 px."""
    model = built(key)
    x = torch.randn(1, 3, 64, 64)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x))
