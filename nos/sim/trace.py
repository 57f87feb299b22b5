"""Tracing an ``nn.Module`` into LayerTable rows with torch.fx (used by ``LayerTable.from_module``):
the layers' shapes, and from the traced graph which layers' outputs each layer reads
(:mod:`nos.sim.flow`)."""
from __future__ import annotations

import math
import operator
from collections import OrderedDict

import networkx as nx
import numpy as np
import torch
from torch import nn

from nos.sim.flow import flow_rows

# Layers that compute but are not modelled: every one found is named in the error.
_UNSUPPORTED_FUNCTIONS = {
    torch.nn.functional.conv1d, torch.nn.functional.conv2d, torch.nn.functional.conv3d,
    torch.nn.functional.conv_transpose1d, torch.nn.functional.conv_transpose2d,
    torch.nn.functional.conv_transpose3d, torch.nn.functional.linear, torch.nn.functional.bilinear,
    torch.matmul, torch.mm, torch.bmm, torch.addmm, torch.einsum, operator.matmul,
}
_UNSUPPORTED_METHODS = {"matmul", "mm", "bmm", "addmm"}
_FREE_WITH_WEIGHTS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.PReLU)


def _conv_problem(conv: nn.Conv2d) -> str | None:
    if conv.dilation != (1, 1):
        return f"dilation {conv.dilation}"
    if conv.stride[0] != conv.stride[1]:
        return f"unequal strides {conv.stride}"
    if conv.padding_mode != "zeros":
        return f"padding_mode {conv.padding_mode!r}"
    if isinstance(conv.padding, str) and conv.padding == "same" and any(k % 2 == 0 for k in conv.kernel_size):
        return f"'same' padding with even kernel {conv.kernel_size}"
    return None


def _padding(conv: nn.Conv2d) -> tuple[int, int]:
    if conv.padding == "valid":
        return 0, 0
    if conv.padding == "same":
        return conv.kernel_size[0] // 2, conv.kernel_size[1] // 2
    return conv.padding


class _Shapes(torch.fx.Interpreter):
    """Runs a traced module once, recording each node's output shape in ``node.meta["shape"]``
    (None for a non-tensor); a node that fails is a ValueError naming it, with no traceback."""

    def run_node(self, node: torch.fx.Node):
        try:
            result = super().run_node(node)
        except Exception as err:  # anything the module's own code raises on this input
            module = self.module.get_submodule(node.target) if node.op == "call_module" else None
            what = f"layer {node.target} ({type(module).__name__})" if module is not None else f"operation {node.name}"
            shape = "x".join(str(d) for d in self.args_shape)
            raise ValueError(f"module: {what} cannot run on a {shape} input: {_first_line(err)}") from None
        node.meta["shape"] = tuple(result.shape) if isinstance(result, torch.Tensor) else None
        return result

    def propagate(self, example: torch.Tensor) -> None:
        self.args_shape = tuple(example.shape)
        self.extra_traceback = False  # torch.fx would append the failing node's code to the message
        self.run(example)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _is_vector(shape: tuple[int, ...] | None) -> bool:
    """A one-pixel activation: (N, C) or (N, C, 1, 1)."""
    return shape is not None and (len(shape) == 2 or (len(shape) == 4 and shape[2] * shape[3] == 1))


def _is_add(node: torch.fx.Node) -> bool:
    return (node.op == "call_function" and node.target in (operator.add, torch.add)) or (
        node.op == "call_method" and node.target == "add")


def _flow(layer_nodes: list[torch.fx.Node]) -> np.ndarray:
    """The flow columns (:func:`nos.sim.flow.flow_rows`) of the traced layers: each layer reads
    the layers whose outputs reach its input through free operations (normalization,
    activations, slicing, concatenation, scaling by a vector); an addition of two layers'
    outputs belongs to the later one and adds the earlier one's output to it (a residual);
    vectors are not tracked."""
    index = {node: i for i, node in enumerate(layer_nodes)}
    skips: list[int | None] = [None] * len(layer_nodes)
    found: dict[torch.fx.Node, frozenset[int]] = {}

    def producers(node: torch.fx.Node) -> frozenset[int]:
        if node not in found:
            if node in index:
                found[node] = frozenset([index[node]])
            elif node.op == "placeholder" or _is_vector(node.meta.get("shape")):
                found[node] = frozenset()
            else:
                parts = [producers(arg) for arg in node.all_input_nodes]
                if _is_add(node) and len(parts) == 2 and all(parts):
                    earlier, later = sorted(parts, key=max)
                    skips[max(later)] = max(earlier)
                    found[node] = later
                else:
                    found[node] = frozenset().union(*parts)
        return found[node]

    reads, vector_input, in_words, out_words, out_vector = [], [], [], [], []
    for node in layer_nodes:
        source, shape = node.args[0], node.meta["shape"]
        vector_input.append(_is_vector(source.meta["shape"]))
        reads.append([] if vector_input[-1] else sorted(producers(source)))
        in_words.append(math.prod(source.meta["shape"][1:]))
        out_words.append(math.prod(shape[1:]))
        out_vector.append(_is_vector(shape))
    return flow_rows(reads, vector_input, skips, in_words, out_words, out_vector)


def trace_module(module: nn.Module, input_size: int, in_channels: int | None
                 ) -> tuple[list[tuple[int, ...]], np.ndarray, list[str], nx.DiGraph]:
    """(layer fields, flow columns, names, graph) of ``module`` on a 1 x C x ``input_size``^2
    input: one tuple of :func:`nos.sim.layers.layer_rows` arguments per layer; see
    :meth:`nos.sim.LayerTable.from_module`."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
        raise ValueError(f"input_size: must be a positive integer, got {input_size!r}")
    if in_channels is None:
        in_channels = next((m.in_channels for m in module.modules() if isinstance(m, nn.Conv2d)), 3)
    example = torch.zeros(1, in_channels, input_size, input_size)
    if torch.fx.Tracer().is_leaf_module(module, ""):
        # torch.fx traces *into* a root module, so a bare library layer (nn.Conv2d, nn.Linear)
        # would appear as its functional call; as the one child of a Sequential it is a layer,
        # named after its class. A bare nn.Linear gets one input vector.
        if isinstance(module, nn.Linear):
            example = torch.zeros(1, module.in_features)
        module = nn.Sequential(OrderedDict([(type(module).__name__.lower(), module)]))
    try:
        graph_module = torch.fx.symbolic_trace(module)
    except Exception as err:  # torch.fx raises many types for untraceable code
        raise ValueError(f"module: torch.fx cannot trace {type(module).__name__}: {_first_line(err)}") from None
    was_training = module.training
    graph_module.eval()
    try:
        with torch.no_grad():
            _Shapes(graph_module).propagate(example)
    finally:
        graph_module.train(was_training)

    modules = dict(graph_module.named_modules())
    fields: list[tuple[int, ...]] = []  # layer_rows arguments, one tuple per layer
    layer_nodes: list[torch.fx.Node] = []
    names: list[str] = []
    unsupported: list[str] = []
    graph = nx.DiGraph()
    for node in graph_module.graph.nodes:
        graph.add_node(node.name, op=node.op, target=str(node.target), shape=node.meta.get("shape"))
        for src in node.all_input_nodes:
            graph.add_edge(src.name, node.name)
        if node.op == "call_module":
            layer = modules[node.target]
            in_shape = node.args[0].meta["shape"]
            if isinstance(layer, nn.Conv2d):
                problem = _conv_problem(layer)
                if problem:
                    unsupported.append(f"{node.target} (Conv2d with {problem})")
                    continue
                ph, pw = _padding(layer)
                fields.append((0, in_shape[2] + 2 * ph, in_shape[3] + 2 * pw, *layer.kernel_size, layer.in_channels,
                               layer.out_channels, layer.stride[0], layer.groups, 1, ph, pw))
            elif isinstance(layer, nn.Linear):
                positions = math.prod(in_shape[1:-1])
                fields.append((1, 1, positions, 1, 1, layer.in_features, layer.out_features, 1, 1, 1, 0, 0))
            else:
                if any(True for _ in layer.parameters(recurse=False)) and not isinstance(layer, _FREE_WITH_WEIGHTS):
                    unsupported.append(f"{node.target} ({type(layer).__name__})")
                continue
            layer_nodes.append(node)
            names.append(str(node.target))
        elif (node.op == "call_function" and node.target in _UNSUPPORTED_FUNCTIONS) or (
                node.op == "call_method" and node.target in _UNSUPPORTED_METHODS):
            unsupported.append(f"{node.name} ({getattr(node.target, '__name__', node.target)})")
    if unsupported:
        raise ValueError("module: unsupported layers (the simulator models Conv2d and Linear only): "
                         + ", ".join(unsupported))
    if not names:
        raise ValueError(f"module: {type(module).__name__} has no Conv2d or Linear layer to simulate")
    return fields, _flow(layer_nodes), names, graph

