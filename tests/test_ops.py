"""Operators: shapes, weight counts, channel order, and errors."""
import pytest
import torch

from nos.arch import Block
from nos.ops import FuSeFull, FuSeHalf, OPERATOR_MODULES, OperatorBlock, make_stage


def n_weights(module, bn: bool) -> int:
    return sum(p.numel() for name, p in module.named_parameters() if bn or p.dim() > 1)


@pytest.mark.parametrize("op", list(OPERATOR_MODULES))
@pytest.mark.parametrize("kernel", [3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2])
def test_blocks_keep_or_halve_the_spatial_shape(op, kernel, stride):
    block = OperatorBlock(Block(op, kernel, stride, exp=24, out=16, act="relu6"), cin=8)
    for size in (14, 15):
        y = block(torch.randn(2, 8, size, size))
        expected = size if stride == 1 else (size + 1) // 2
        assert y.shape == (2, 16, expected, expected)


@pytest.mark.parametrize("kernel", [3, 5, 7])
@pytest.mark.parametrize("c,c_out", [(16, 24), (32, 8)])
def test_fuse_weight_counts(kernel, c, c_out):
    """Stage + pointwise weights (BN excluded): Half K*C + C*C', Full 2*K*C + 2*C*C';
    BN adds 2 per channel of each normalised tensor."""
    half = OperatorBlock(Block("fuse_half", kernel, 1, c, c_out, "relu", expand=False), cin=c)
    full = OperatorBlock(Block("fuse_full", kernel, 1, c, c_out, "relu", expand=False), cin=c)
    assert n_weights(half, bn=False) == kernel * c + c * c_out
    assert n_weights(full, bn=False) == 2 * kernel * c + 2 * c * c_out
    assert n_weights(half, bn=True) == kernel * c + c * c_out + 2 * c + 2 * c_out
    assert n_weights(full, bn=True) == 2 * kernel * c + 2 * c * c_out + 4 * c + 2 * c_out
    dw = OperatorBlock(Block("dw", kernel, 1, c, c_out, "relu", expand=False), cin=c)
    assert n_weights(dw, bn=False) == kernel * kernel * c + c * c_out


def test_fuse_half_sends_first_half_to_row_conv_and_concats_row_first():
    stage = FuSeHalf(4, 3, 1).eval()
    x = torch.zeros(1, 4, 5, 5)
    x[:, :2] = 1.0  # only the first half is non-zero
    with torch.no_grad():
        for conv in (stage.row[0], stage.col[0]):
            conv.weight.fill_(1.0)
        y = stage(x)
    bn_scale = 1 / (1 + 1e-5) ** 0.5
    # row (1x3) branch sees ones: interior value 3; col branch sees zeros
    torch.testing.assert_close(y[0, 0, 2, 2], torch.tensor(3 * bn_scale))
    assert torch.all(y[:, 2:] == 0)


def test_fuse_full_outputs_twice_the_channels_row_branch_first():
    stage = FuSeFull(3, 5, 2).eval()
    x = torch.randn(1, 3, 11, 11)
    with torch.no_grad():
        y = stage(x)
        assert y.shape == (1, 6, 6, 6)
        torch.testing.assert_close(y[:, :3], stage.row(x))
        torch.testing.assert_close(y[:, 3:], stage.col(x))


@pytest.mark.parametrize("kwargs,field", [
    (dict(op="depthwise"), "op"),
    (dict(kernel=4), "kernel"),
    (dict(kernel=0), "kernel"),
    (dict(kernel=-3), "kernel"),
    (dict(stride=0), "stride"),
    (dict(channels=0), "channels"),
])
def test_make_stage_rejects_bad_arguments(kwargs, field):
    args = dict(op="dw", channels=8, kernel=3, stride=1) | kwargs
    with pytest.raises(ValueError, match=field):
        make_stage(**args)


def test_fuse_half_rejects_odd_channels():
    with pytest.raises(ValueError, match="channels.*even"):
        make_stage("fuse_half", 7, 3, 1)
    with pytest.raises(ValueError, match="exp.*even"):
        Block("fuse_half", 3, 1, exp=7, out=8, act="relu")


def test_unknown_operator_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed: dw, full, fuse_half, fuse_full"):
        make_stage("sep", 8, 3, 1)
