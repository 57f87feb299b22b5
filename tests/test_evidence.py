"""The published ImageNet evidence table: every row builds and has the published parameter count."""
from __future__ import annotations

import pytest

from nos.proxies import evidence
from nos.proxies.evidence import make_divisible, scale
from nos import zoo

ROWS = evidence.rows()


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_every_row_builds_with_the_published_parameter_count(row):
    arch = row.arch()
    assert arch.input_size == row.resolution
    error = abs(arch.params() / 1e6 - row.params_m)
    if row.params_note:  # a stated reason must still be needed: the count really differs
        assert error > row.params_tolerance(), f"{row.id}: params_note is stale"
    else:
        assert error <= row.params_tolerance(), f"{row.id}: nos {arch.params() / 1e6:.3f} M vs published {row.params_m}"


def test_table_size_and_sources():
    assert len(ROWS) >= 50
    assert len({r.id for r in ROWS}) == len(ROWS)
    assert all(r.source and 0 < r.top1 < 100 for r in ROWS)
    families = {r.family for r in evidence.fit_rows()}
    assert {"mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "mnasnet_a1",
            "mnasnet_b1"} <= families


def test_only_the_fuseconv_results_are_held_out():
    held = evidence.holdout_rows()
    assert len(held) == 25
    assert all("FuSeConv" in r.source for r in held)
    assert not any("FuSeConv" in r.source for r in evidence.fit_rows())
    assert {r.arch_spec for r in held} == {f"zoo:{n}/{v}" for n in zoo.names() for v in zoo.VARIANTS}


def test_conv_mobilenet_replaces_every_depthwise_conv():
    row = next(r for r in ROWS if r.id == "paper_conv_mobilenet")
    assert {b.op for b in row.arch().blocks} == {"full"}
    # 29.3 M parameters (MobileNets paper, Table 4) to within 1 %
    assert row.arch().params() == pytest.approx(29.3e6, rel=0.01)


def test_make_divisible_rounds_to_eights_and_never_loses_more_than_ten_percent():
    assert make_divisible(11.2) == 16  # 8 would lose 29 %
    assert make_divisible(18) == 24  # 16 is below 0.9 * 18 = 16.2
    assert make_divisible(83) == 80 and make_divisible(84) == 88  # torchvision's documented examples
    assert make_divisible(3) == 8


def test_scale_follows_the_slim_mobilenet_v2_width_rule():
    arch = scale(zoo.get("mobilenet_v2"), 0.35, "keep_last")
    # 32, 16, 24, 32, 64, 96, 160, 320 times 0.35, rounded by make_divisible
    assert arch.stem.out == 16
    assert [b.out for b in arch.blocks] == [8, 8, 8, 16, 16, 16, 24, 24, 24, 24, 32, 32, 32, 56, 56, 56, 112]
    assert arch.blocks[0].exp == 16 and not arch.blocks[0].expand  # t = 1: no expansion, exp = scaled input
    assert arch.blocks[1].exp == 48  # 8 scaled input channels x t = 6
    assert arch.head.conv == 1280  # kept: the last layer before the classifier
    assert scale(zoo.get("mobilenet_v2"), 1.4, "scaled").head.conv == 1792


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match="head"):
        scale(zoo.get("mobilenet_v2"), 0.5, "wide")
    with pytest.raises(ValueError, match="width"):
        scale(zoo.get("mobilenet_v2"), 0, "scaled")
    row = ROWS[0]
    with pytest.raises(ValueError, match="arch"):
        evidence.Row(**{**row.__dict__, "arch_spec": "hub:resnet50"}).arch()
