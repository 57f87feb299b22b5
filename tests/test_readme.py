"""The README's Python examples run as shown."""
import re
from pathlib import Path

import search_spaces

README = (Path(__file__).parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_the_ten_line_example_runs(capsys):
    assert len(BLOCKS[0].strip().splitlines()) <= 12
    exec(compile(BLOCKS[0], "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "nos.arch/1 mobilenet_v2/fuse_half"
    cycles, params, macs = map(int, out[-1].split())
    assert (params, macs) == (3_463_144, 286_963_328) and cycles > 0


def test_the_new_search_space_example_registers_a_space():
    (space_block,) = [b for b in BLOCKS if "@register" in b]
    exec(compile(space_block, "README.md", "exec"), {})
    space = search_spaces.get_space("my_space")
    assert space.size == 2 ** 11 and {c.options for c in space.choices} == {("dw", "fuse_half")}
    search_spaces._REGISTRY.pop("my_space")
