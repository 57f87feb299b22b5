"""Reference numbers of the 25 networks, copied from shared/reference/networks.md §8
(computed there on the authors' own models): exact params, conv+linear MACs, and the
number of Conv2d/Linear layers called in forward (modules created, if different)."""

REFERENCE = {
    ("mobilenet_v1", "baseline"): (4_231_976, 568_740_352, 28, 28),
    ("mobilenet_v1", "fuse_full"): (7_366_600, 1_102_437_376, 41, 41),
    ("mobilenet_v1", "fuse_half"): (4_202_216, 557_149_696, 41, 41),
    ("mobilenet_v1", "fuse_full_50"): (4_356_296, 744_657_408, 33, 33),
    ("mobilenet_v1", "fuse_half_50"): (4_228_328, 560_912_896, 33, 33),
    ("mobilenet_v2", "baseline"): (3_504_872, 300_774_272, 53, 53),
    ("mobilenet_v2", "fuse_full"): (4_462_024, 411_983_104, 70, 71),
    ("mobilenet_v2", "fuse_half"): (3_463_144, 286_963_328, 70, 71),
    ("mobilenet_v2", "fuse_full_50"): (3_611_432, 344_653_184, 62, 62),
    ("mobilenet_v2", "fuse_half_50"): (3_492_200, 292_194_176, 62, 62),
    ("mnasnet_b1", "baseline"): (4_383_312, 314_415_872, 53, 53),
    ("mnasnet_b1", "fuse_full"): (5_666_568, 425_794_048, 70, 70),
    ("mnasnet_b1", "fuse_half"): (4_257_840, 293_266_688, 70, 70),
    ("mnasnet_b1", "fuse_full_50"): (4_476_552, 348_463_424, 62, 62),
    ("mnasnet_b1", "fuse_half_50"): (4_351_920, 301_207_040, 62, 62),
    ("mobilenet_v3_small", "baseline"): (2_938_368, 60_119_520, 55, 55),
    ("mobilenet_v3_small", "fuse_full"): (4_446_056, 75_010_816, 66, 66),
    ("mobilenet_v3_small", "fuse_half"): (2_891_712, 54_361_824, 66, 66),
    ("mobilenet_v3_small", "fuse_full_50"): (3_188_096, 65_853_408, 60, 60),
    ("mobilenet_v3_small", "fuse_half_50"): (2_922_960, 56_789_088, 60, 60),
    ("mobilenet_v3_large", "baseline"): (5_476_416, 219_799_200, 65, 65),
    ("mobilenet_v3_large", "fuse_full"): (10_577_064, 297_217_920, 80, 80),
    ("mobilenet_v3_large", "fuse_half"): (5_405_664, 206_298_720, 80, 80),
    ("mobilenet_v3_large", "fuse_full_50"): (5_573_704, 241_562_272, 72, 72),
    ("mobilenet_v3_large", "fuse_half_50"): (5_466_720, 211_830_624, 72, 72),
}

# Blocks (0-based indices into Arch.blocks) that the 50 % hybrids build as FuSe blocks;
# MnasNet's block 0 is its SepConv (networks.md §7 counts MBConv blocks only).
HYBRID_BLOCKS = {
    "mobilenet_v1": set(range(0, 5)),
    "mobilenet_v2": set(range(1, 10)),
    "mnasnet_b1": set(range(1, 10)),
    "mobilenet_v3_small": {2, 4, 5, 6, 7},
    "mobilenet_v3_large": set(range(1, 8)),
}
