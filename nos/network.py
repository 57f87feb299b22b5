"""The network builder: :class:`nos.arch.Arch` -> ``torch.nn.Module`` (:func:`build`, exported as ``nos.build``)."""
from __future__ import annotations

import torch
from torch import nn

from nos.arch import Arch
from nos.ops import ConvBN, OperatorBlock, activation


class Network(nn.Module):
    """stem -> blocks -> head, as described by an :class:`Arch`.

    Module names follow :meth:`Arch.layers` names: ``stem``, ``blocks.<i>``, ``head``,
    ``pre_logits``, ``classifier``.
    """

    def __init__(self, arch: Arch, num_classes: int):
        super().__init__()
        st, hd = arch.stem, arch.head
        self.stem = ConvBN(arch.in_channels, st.out, (st.kernel, st.kernel), st.stride, act=st.act)
        self.blocks = nn.Sequential(*(OperatorBlock(b, arch.in_channels_of(i)) for i, b in enumerate(arch.blocks)))
        cin = arch.blocks[-1].out
        self.head = ConvBN(cin, hd.conv, (1, 1), act=hd.act) if hd.conv else nn.Identity()
        width = hd.conv or cin
        self.pool = nn.AdaptiveAvgPool2d(1)
        if hd.pre_logits:
            self.pre_logits = nn.Sequential(nn.Conv2d(width, hd.pre_logits, 1, bias=True), activation(hd.act))
            width = hd.pre_logits
        else:
            self.pre_logits = nn.Identity()
        self.dropout = nn.Dropout(hd.dropout)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        x = self.pre_logits(self.pool(x))
        return self.classifier(self.dropout(torch.flatten(x, 1)))


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal (fan-out) convs, BN weight 1 / bias 0, Linear N(0, 0.01), zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build(arch: Arch, num_classes: int | None = None) -> Network:
    """Build ``arch`` as a freshly initialised module (``num_classes`` defaults to the arch's)."""
    if not isinstance(arch, Arch):
        raise TypeError(f"arch: expected a nos.Arch, got {type(arch).__name__}")
    classes = arch.num_classes if num_classes is None else num_classes
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"num_classes: expected a positive integer, got {classes!r}")
    net = Network(arch, classes)
    init_weights(net)
    return net
