"""The architecture spec: validation errors, JSON/text parsing, scaling."""
import json

import pytest

from nos import zoo
from nos.arch import Arch, ArchError, Block, Head, Stem, SCHEMA

V2 = zoo.get("mobilenet_v2")


def v2_dict():
    return json.loads(V2.to_json())


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d["blocks"][3].update(op="sep"), r"blocks\[3\]\.op: unknown value 'sep' \(allowed: dw, full, fuse_half, fuse_full\)"),
    (lambda d: d["blocks"][2].update(kernel=4), r"blocks\[2\]\.kernel: must be odd"),
    (lambda d: d["blocks"][2].update(kernel="3"), r"blocks\[2\]\.kernel: expected an integer"),
    (lambda d: d["blocks"][5].update(out=-8), r"blocks\[5\]\.out: must be >= 1"),
    (lambda d: d["blocks"][5].update(act="gelu"), r"blocks\[5\]\.act: unknown value 'gelu' \(allowed: relu, relu6, hswish\)"),
    (lambda d: d["blocks"][1].pop("stride"), r"blocks\[1\]\.stride: missing"),
    (lambda d: d["blocks"][1].update(strid=2), r"blocks\[1\]\.strid: unknown field"),
    (lambda d: d["blocks"][4].update(op="fuse_half", exp=191), r"blocks\[4\]\.exp: fuse_half .* even"),
    (lambda d: d["blocks"][0].update(exp=30), r"blocks\[0\]\.exp: without an expansion conv exp must equal the input channels 32"),
    (lambda d: d["blocks"][4].update(se=1.5), r"blocks\[4\]\.se"),
    (lambda d: d["stem"].update(out=0), r"stem\.out: must be >= 1"),
    (lambda d: d["head"].update(dropout=-0.1), r"head\.dropout"),
    (lambda d: d.update(schema="nos.arch/0"), r"schema: unsupported schema"),
    (lambda d: d.update(blocks=[]), r"blocks: need 1 to 1000 blocks, got 0"),
    (lambda d: d.update(blocks="dw"), r"blocks: expected a list"),
    (lambda d: d["blocks"].__setitem__(2, 7), r"blocks\[2\]: expected an object"),
    (lambda d: d.update(input_size=0), r"input_size: must be >= 1"),
])
def test_malformed_json_names_block_and_field(mutate, message):
    data = v2_dict()
    mutate(data)
    with pytest.raises(ArchError, match=message):
        Arch.from_json(json.dumps(data))


def test_arch_error_is_a_value_error_and_invalid_json_is_reported():
    assert issubclass(ArchError, ValueError)
    with pytest.raises(ValueError, match="not valid JSON"):
        Arch.from_json("{'schema': 1")
    with pytest.raises(ValueError, match="expected a JSON object"):
        Arch.from_json("[1, 2]")


def test_a_hundred_thousand_blocks_are_refused_before_any_is_built():
    data = v2_dict()
    data["blocks"] = data["blocks"][:1] * 100_000
    with pytest.raises(ArchError, match="need 1 to 1000 blocks, got 100000"):
        Arch.from_json(json.dumps(data))


@pytest.mark.parametrize("line,message", [
    ("fuse_half k4 s1 e32 c16 relu6", r"line 4 blocks\[0\]\.kernel: must be odd"),
    ("sepconv k3 s1 e32 c16 relu6", r"line 4: unknown line kind 'sepconv'"),
    ("dw k3 s1 e32 c16 relu6 fast", r"unknown token 'fast'"),
    ("dw k3 e32 c16 relu6", r"line 4 blocks\[0\]\.stride: missing"),
])
def test_malformed_text_names_line_block_and_field(line, message):
    text = f"{SCHEMA} t\ninput 224\nstem k3 s2 c32 relu6\n{line}\nhead c1280 relu6 drop0.2\n"
    with pytest.raises(ArchError, match=message):
        Arch.from_text(text)


def test_text_form_is_one_line_per_block_and_parses_comments():
    text = V2.to_text()
    assert len(text.splitlines()) == 3 + len(V2.blocks) + 1
    assert text.splitlines()[4] == "dw k3 s2 e96 c24 relu6"
    commented = text.replace("\nhead", "  # the head follows\nhead")
    assert Arch.from_text(commented) == V2


def test_block_direct_construction_validates():
    with pytest.raises(ValueError, match="block.kernel: must be odd"):
        Block("dw", 2, 1, 8, 8, "relu")
    with pytest.raises(ValueError, match="block.dead_expand: only allowed when expand is false"):
        Block("dw", 3, 1, 8, 8, "relu", dead_expand=True)
    with pytest.raises(ValueError, match="stem.act"):
        Stem(act="swish")
    with pytest.raises(ValueError, match="head.conv"):
        Head(conv=-1)


def test_scaled_keeps_structure_and_rounds_to_multiples_of_8():
    small = zoo.get("mobilenet_v2", "fuse_half").scaled(0.5)
    assert len(small.blocks) == len(V2.blocks)
    assert small.stem.out == 16 and small.blocks[0].exp == 16 and small.blocks[-1].out == 160
    assert all(b.exp % 8 == 0 and b.out % 8 == 0 for b in small.blocks)
    assert small.params() < V2.params() / 2
    with pytest.raises(ValueError, match="width"):
        V2.scaled(0)
