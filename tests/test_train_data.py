"""The engine's data path (nos.train.data, nos.train.transforms): crops against hand-computed
boxes and pixels, the seeded batch order and its shares under DDP, loader workers that change
nothing, streaming folders whose memory does not grow with the image count, one-line errors."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import processes
from nos.proxies import Budget, load
from nos.proxies.data import read_idx
from nos.proxies.train import fit
from nos.train.data import BatchOrder, EvalOrder, draw_seed, loader
from nos.train.transforms import Augment, CentreView, centre_box, random_resized_box
from test_proxies import one_thread  # noqa: F401  (autouse fixture)
from test_proxies_idx import _idx_bytes


class Scripted(random.Random):
    """A random source that returns given draws: uniform() and random() values, randint() values."""

    def __init__(self, uniforms=(), ints=(), randoms=()):
        super().__init__(0)
        self.uniforms, self.ints, self.randoms = list(uniforms), list(ints), list(randoms)

    def uniform(self, a, b):
        value = self.uniforms.pop(0)
        assert a <= value <= b
        return value

    def randint(self, a, b):
        value = self.ints.pop(0)
        assert a <= value <= b
        return value

    def random(self):
        return self.randoms.pop(0)


def test_random_resized_box_by_hand():
    # 100 x 50 image: area fraction 0.5 -> 2,500 px; log aspect 0 -> a 50 x 50 box; left 10 of 0..50, top 0 of 0..0
    assert random_resized_box(100, 50, Scripted(uniforms=[0.5, 0.0], ints=[10, 0])) == (10, 0, 60, 50)
    # 100 x 10: ten draws of a 32 x 32 box never fit; the fallback is the centred box of aspect 4/3: 13 x 10
    assert random_resized_box(100, 10, Scripted(uniforms=[1.0, 0.0] * 10)) == (43, 0, 56, 10)
    # 10 x 100 (aspect below 3/4): the fallback is 10 wide, round(10 / (3/4)) = 13 high, centred
    assert random_resized_box(10, 100, Scripted(uniforms=[1.0, 0.0] * 10)) == (0, 43, 10, 56)


def test_random_resized_boxes_stay_in_their_ranges():
    rng = random.Random(0)
    for _ in range(200):
        left, top, right, bottom = random_resized_box(64, 48, rng)
        w, h = right - left, bottom - top
        assert 0 <= left < right <= 64 and 0 <= top < bottom <= 48
        assert 0.08 * 64 * 48 * 0.8 <= w * h <= 64 * 48 and 3 / 4 * 0.8 <= w / h <= 4 / 3 * 1.25


def test_centre_box_by_hand():
    assert centre_box(16, 12) == (2.75, 0.75, 13.25, 11.25)  # side 0.875 x 12 = 10.5, centred
    assert centre_box(16, 16) == (1.0, 1.0, 15.0, 15.0)


def gradient(width: int, height: int) -> np.ndarray:
    """An RGB image whose every pixel differs: (x, y) -> (x * 13 + y * 7, x, y) mod 256."""
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    return np.stack([(x * 13 + y * 7) % 256, x % 256, y % 256], axis=-1).astype(np.uint8)


def test_views_crop_the_pixels_by_hand():
    pixels = gradient(16, 16)
    image = Image.fromarray(pixels)
    # centre view at 14 px: the 14 x 14 centre square (box 1..15) at its own size: the pixels themselves
    assert np.array_equal(np.array(CentreView(14)(image)), pixels[1:15, 1:15])
    wide = gradient(20, 10)
    # training view at 5 px: area fraction 25/200 and aspect 1 give a 5 x 5 box at (3, 2); then flipped
    rng = Scripted(uniforms=[25 / 200, 0.0], ints=[3, 2], randoms=[0.3])
    assert np.array_equal(np.array(Augment(5)(Image.fromarray(wide), rng)), wide[2:7, 3:8][:, ::-1])
    rng = Scripted(uniforms=[25 / 200, 0.0], ints=[3, 2], randoms=[0.7])  # not flipped
    assert np.array_equal(np.array(Augment(5)(Image.fromarray(wide), rng)), wide[2:7, 3:8])


def test_shares_of_two_processes_make_the_batches_of_one():
    one = list(BatchOrder(10, 4, 7, seed=3))
    halves = [list(BatchOrder(10, 4, 7, seed=3, rank=r, processes=2)) for r in range(2)]
    assert all(torch.equal(torch.cat([a, b]), batch) for a, b, batch in zip(*halves, one))
    # an epoch is a permutation: two full batches of 10 images, the ragged tail of 2 dropped
    assert len(set(torch.cat(one[:2]).tolist())) == 8
    assert all(torch.equal(a, b) for a, b in zip(BatchOrder(10, 4, 7, seed=3, start=4), one[4:]))
    draws = list(BatchOrder(10, 4, 7, seed=3, draws=True))
    shares = [list(BatchOrder(10, 4, 7, seed=3, rank=r, processes=2, draws=True)) for r in range(2)]
    assert all(a + b == batch for a, b, batch in zip(*shares, draws))
    assert draws[5][2] == (one[5][2].item(), draw_seed(3, 5, 2))
    with pytest.raises(ValueError, match="budget.batch_size: 4 images do not split evenly over 3 processes"):
        BatchOrder(10, 4, 7, seed=3, processes=3)


def test_validation_shares_cover_the_split_once():
    one = [list(range(1000))[s] for s in EvalOrder(1000, 256)]
    shares = [b for r in range(3) for b in EvalOrder(1000, 256, rank=r, processes=3, as_slices=False)]
    assert sum(one, []) == sum(shares, []) == list(range(1000))


def noise_folder(root: Path, per_class: int, size: int = 24, fmt: str = "PNG") -> Path:
    rng = np.random.default_rng(per_class)
    for name in ("ant", "bee"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
                root / name / f"{i}.{fmt.lower()}", fmt)
    return root


def test_loader_workers_change_nothing(tmp_path):
    """Augmentation seeds follow the images, not the worker processes: 0 and 2 workers, same batches."""
    data = load("folder", root=str(noise_folder(tmp_path, 8)), resolution=12).split("train", augment=True)

    def batches(workers):
        return list(loader(data, BatchOrder(len(data), 4, 5, seed=1, draws=True), workers))

    for (x0, y0), (x2, y2) in zip(batches(0), batches(2)):
        assert torch.equal(x0, x2) and torch.equal(y0, y2)
    first, again = batches(0)[0][0], list(loader(data, BatchOrder(len(data), 4, 5, seed=2, draws=True)))[0][0]
    assert first.shape == (4, 3, 12, 12) and not torch.equal(first, again)


def test_an_unreadable_image_stops_training_with_one_line(tmp_path):
    root = noise_folder(tmp_path, 4)
    (root / "bee" / "9.png").write_bytes(b"not a png")
    data = load("folder", root=str(root), mean=(128, 128, 128), std=(64, 64, 64))  # given: nothing read yet
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    with pytest.raises(ValueError) as err:
        fit(model, data.at(8), Budget(epochs=1, batch_size=2, resolution=8), 0,
            runtime=__import__("nos.train", fromlist=["Runtime"]).Runtime(device="cpu", workers=1))
    assert "\n" not in str(err.value) and str(err.value).startswith("root: ")
    assert "9.png' is not a readable PNG or JPEG image" in str(err.value)


def peak_growth_kib(root: Path, folder: Path) -> int:
    """Growth of this process's peak resident memory (KiB) while a forked process loads the folder
    and reads one epoch of training batches (decoded in that process: no workers)."""
    def measure(rank):
        Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from now
        before = _status("VmHWM")
        data = load("folder", root=str(root), resolution=32).split("train", augment=True)
        for _ in loader(data, BatchOrder(len(data), 16, len(data) // 16, seed=0, draws=True)):
            pass
        (folder / "growth").write_text(str(_status("VmHWM") - before))

    (result,) = processes.run(measure, folder, size=1)
    assert result.code == 0, result.stderr
    return int((folder / "growth").read_text())


def _status(field: str) -> int:
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1])


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc/self/clear_refs")
def test_memory_does_not_grow_with_the_number_of_images(tmp_path):
    """40 or 400 JPEGs of 96 x 96 (27 KiB each decoded: the 360 more would take 9.5 MiB held in
    memory): the peak grows by the same amount either way."""
    small, large = (noise_folder(tmp_path / name, n, size=96, fmt="JPEG")
                    for name, n in (("small", 20), ("large", 200)))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    growth_small, growth_large = peak_growth_kib(small, tmp_path / "a"), peak_growth_kib(large, tmp_path / "b")
    assert growth_large - growth_small < 2048, (growth_small, growth_large)


def test_plain_idx_files_are_memory_mapped(tmp_path):
    array = np.arange(2 * 5 * 5, dtype=np.uint8).reshape(2, 5, 5)
    (tmp_path / "plain").write_bytes(_idx_bytes(array, 0x08))
    read = read_idx(tmp_path / "plain")
    assert isinstance(read, np.memmap) and np.array_equal(read, array)
    read[0, 0, 0] = 99  # copy-on-write: the file stays as it was
    assert np.array_equal(read_idx(tmp_path / "plain"), array)
