"""The four operators as PyTorch modules, and the block that hosts them.

A *spatial stage* replaces the depthwise conv of a depthwise-separable block:

* :class:`Depthwise` (``dw``): KxK depthwise conv -> BN.
* :class:`FullConv` (``full``): KxK dense conv (groups 1) -> BN.
* :class:`FuSeHalf` (``fuse_half``): 1xK depthwise on the first channel half -> BN and
  Kx1 depthwise on the second half -> BN, concatenated [1xK, Kx1]; C channels out.
* :class:`FuSeFull` (``fuse_full``): 1xK and Kx1 depthwise each on all C channels, each
  -> BN, concatenated [1xK, Kx1]; 2C channels out.

:class:`OperatorBlock` wraps a stage in the block layout of :mod:`nos.arch`
(expand -> stage -> SE -> act -> project -> residual). Activations are modules (never
functional calls) so hooks and tracers see every one of them.
"""
from __future__ import annotations

import torch
from torch import nn

from nos.arch import ACTIVATIONS, OPERATORS, Block, check_kernel


def activation(name: str) -> nn.Module:
    """The activation module for ``name`` (relu, relu6 or hswish)."""
    table = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hswish": nn.Hardswish}
    if name not in table:
        raise ValueError(f"act: unknown activation {name!r} (allowed: {', '.join(ACTIVATIONS)})")
    return table[name](inplace=False)


class ConvBN(nn.Sequential):
    """Conv2d (no bias, 'same' padding per dimension) -> BatchNorm2d -> optional activation."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int], stride: int = 1, groups: int = 1,
                 act: str | None = None):
        kh, kw = kernel
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, (kh, kw), stride, (kh // 2, kw // 2), groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act:
            layers.append(activation(act))
        super().__init__(*layers)


class Depthwise(nn.Module):
    """``dw``: KxK depthwise conv -> BN on C channels; C channels out."""

    def __init__(self, channels: int, kernel: int, stride: int):
        super().__init__()
        self.conv = ConvBN(channels, channels, (kernel, kernel), stride, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class FullConv(nn.Module):
    """``full``: KxK dense conv -> BN, C -> C channels."""

    def __init__(self, channels: int, kernel: int, stride: int):
        super().__init__()
        self.conv = ConvBN(channels, channels, (kernel, kernel), stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class FuSeHalf(nn.Module):
    """``fuse_half``: 1xK depthwise on channels [0, C/2), Kx1 on [C/2, C); C channels out.

    Weights (BN excluded): K*C.
    """

    def __init__(self, channels: int, kernel: int, stride: int):
        super().__init__()
        if channels % 2:
            raise ValueError(f"channels: fuse_half splits channels in halves and needs an even count, got {channels}")
        half = channels // 2
        self.half = half
        self.row = ConvBN(half, half, (1, kernel), stride, groups=half)
        self.col = ConvBN(half, half, (kernel, 1), stride, groups=half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.row(x[:, : self.half]), self.col(x[:, self.half:])], dim=1)


class FuSeFull(nn.Module):
    """``fuse_full``: 1xK and Kx1 depthwise each on all C channels; 2C channels out.

    Weights (BN excluded): 2*K*C.
    """

    def __init__(self, channels: int, kernel: int, stride: int):
        super().__init__()
        self.row = ConvBN(channels, channels, (1, kernel), stride, groups=channels)
        self.col = ConvBN(channels, channels, (kernel, 1), stride, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.row(x), self.col(x)], dim=1)


OPERATOR_MODULES: dict[str, type[nn.Module]] = {
    "dw": Depthwise,
    "full": FullConv,
    "fuse_half": FuSeHalf,
    "fuse_full": FuSeFull,
}
assert tuple(OPERATOR_MODULES) == OPERATORS


def make_stage(op: str, channels: int, kernel: int, stride: int) -> nn.Module:
    """The spatial stage ``op`` on ``channels`` channels; clear errors for bad arguments."""
    if op not in OPERATOR_MODULES:
        raise ValueError(f"op: unknown operator {op!r} (allowed: {', '.join(OPERATORS)})")
    check_kernel("", kernel)
    for name, value in (("channels", channels), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return OPERATOR_MODULES[op](channels, kernel, stride)


class SqueezeExcite(nn.Module):
    """Global average pool -> Linear C -> squeeze (no bias) -> ReLU -> Linear -> C -> h-sigmoid gate."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.reduce = nn.Linear(channels, squeeze, bias=False)
        self.relu = nn.ReLU()
        self.expand = nn.Linear(squeeze, channels, bias=False)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.gate(self.expand(self.relu(self.reduce(x.mean((2, 3))))))
        return x * w[:, :, None, None]


class OperatorBlock(nn.Module):
    """One :class:`nos.arch.Block` on ``cin`` input channels."""

    def __init__(self, block: Block, cin: int):
        super().__init__()
        self.residual = block.has_residual(cin)
        self.expand = ConvBN(cin, block.exp, (1, 1), act=block.act) if block.expand or block.dead_expand else None
        self.run_expand = block.expand
        self.stage = make_stage(block.op, block.exp, block.kernel, block.stride)
        width = block.stage_channels
        self.se = SqueezeExcite(width, max(1, int(width * block.se))) if block.se else None
        self.mid_act = activation(block.act) if block.mid_act else None
        self.project = ConvBN(width, block.out, (1, 1), act=block.act if block.proj_act else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.run_expand else x
        y = self.stage(y)
        if self.se is not None:
            y = self.se(y)
        if self.mid_act is not None:
            y = self.mid_act(y)
        y = self.project(y)
        return x + y if self.residual else y
