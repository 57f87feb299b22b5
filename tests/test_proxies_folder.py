"""The user's image-folder data set and seeded re-splits (nos.proxies.data)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nos.proxies import DATASETS, load

# three classes with distinct solid colours; sorted folder names give the labels
COLOURS = {"ant": (255, 0, 0), "bee": (0, 255, 0), "cat": (0, 0, 255)}


def _write(folder, counts, size=(6, 4), fmt="PNG", colours=COLOURS):
    """``counts[name]`` solid-colour images of ``size`` (width, height) per class under ``folder``."""
    for name, count in counts.items():
        (folder / name).mkdir(parents=True)
        for i in range(count):
            suffix = "png" if fmt == "PNG" else "jpg"
            Image.new("RGB", size, colours[name]).save(folder / name / f"{i}.{suffix}", fmt)
    return folder


def test_train_and_val_sub_folders(tmp_path):
    _write(tmp_path / "train", {"ant": 2, "bee": 3, "cat": 1})
    _write(tmp_path / "val", {"ant": 1, "cat": 2}, fmt="JPEG")
    data = load("folder", root=str(tmp_path), resolution=8)
    assert (data.size("train"), data.size("val"), data.num_classes, data.channels) == (6, 3, 3, 3)
    assert data.labels("train", slice(None)).tolist() == [0, 0, 1, 1, 1, 2]
    assert data.labels("val", slice(None)).tolist() == [0, 2, 2]
    assert [Path(f).name for f in data.train_files] == ["0.png", "1.png", "0.png", "1.png", "2.png", "0.png"]
    # the training split is 2 red, 3 green, 1 blue images: per-channel mean and std by hand
    red = np.repeat([255.0] * 2 + [0.0] * 4, 4 * 6)  # every pixel of the 6 images (std over pixels)
    torch.testing.assert_close(data.mean, torch.tensor([red.mean(), 3 * 255 / 6, 255 / 6], dtype=torch.float32))
    assert data.std[0].item() == pytest.approx(red.std(ddof=1), rel=1e-5)
    first_val = data.images("val", slice(0, 1))[0]  # a red JPEG, centre-cropped and served at 8x8
    assert first_val.shape == (3, 8, 8)
    expected_red = (255 - red.mean()) / red.std(ddof=1)
    assert first_val[0].mean().item() == pytest.approx(expected_red, abs=0.05)  # JPEG is lossy


def test_one_folder_is_split_by_a_seeded_fraction(tmp_path):
    _write(tmp_path, {"ant": 10, "bee": 10, "cat": 5})
    data = load("folder", root=str(tmp_path))
    counts = torch.bincount(data.labels("val", slice(None)), minlength=3).tolist()
    assert counts == [2, 2, 1]  # round(0.2 * n) per class
    again = load("folder", root=str(tmp_path), val_fraction=0.5, split_seed=3)
    assert torch.bincount(again.labels("val", slice(None))).tolist() == [5, 5, 2]  # round(2.5) = 2 (half to even)
    other = load("folder", root=str(tmp_path), val_fraction=0.5, split_seed=4)
    assert again.fingerprint != other.fingerprint  # same counts, other images: the split differs


def test_resplit_of_digits_pools_and_stratifies():
    digits = load("digits")
    counts = torch.bincount(torch.cat([digits.train_y, digits.val_y]))
    harder = load("digits", val_fraction=0.8, split_seed=0)
    val_counts = torch.bincount(harder.val_y)
    assert val_counts.tolist() == [round(0.8 * n) for n in counts.tolist()]
    assert harder.size("train") + harder.size("val") == 1797
    pooled = {bytes(x.numpy().tobytes()) for x in torch.cat([digits.train_x, digits.val_x])}
    resplit = {bytes(x.numpy().tobytes()) for x in torch.cat([harder.train_x, harder.val_x])}
    assert resplit == pooled
    assert load("digits", val_fraction=0.8, split_seed=0).fingerprint == harder.fingerprint
    assert load("digits").fingerprint == digits.fingerprint != harder.fingerprint


def test_images_of_any_size_are_served_at_the_resolution(tmp_path):
    _write(tmp_path, {"ant": 2, "bee": 2}, size=(6, 4))
    Image.new("RGB", (5, 9), COLOURS["bee"]).save(tmp_path / "bee" / "odd.png")
    data = load("folder", root=str(tmp_path), resolution=7)
    assert data.images("train", slice(None)).shape == (data.size("train"), 3, 7, 7)
    assert data.images("val", slice(None)).shape == (data.size("val"), 3, 7, 7)


def _error(root, **options) -> str:
    with pytest.raises(ValueError) as info:
        load("folder", root=str(root), **options)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bad_folders_are_named(tmp_path):
    assert _error(tmp_path / "missing").startswith("root: image folder")
    one = _write(tmp_path / "one", {"ant": 3})
    assert "at least 2 class sub-folders, found 1 (ant)" in _error(one)
    empty = _write(tmp_path / "empty", {"ant": 2, "bee": 0})
    assert "class folder" in _error(empty) and "holds no images" in _error(empty)
    text = _write(tmp_path / "text", {"ant": 5, "bee": 5})
    (text / "bee" / "notes.png").write_text("not an image")  # read when the statistics are measured
    assert "notes.png' is not a readable PNG or JPEG image" in _error(text)
    gif = _write(tmp_path / "gif", {"ant": 2, "bee": 2})
    Image.new("RGB", (6, 4)).save(gif / "ant" / "x.gif", "GIF")
    assert "x.gif' is not a PNG or JPEG file (allowed suffixes: .jpeg, .jpg, .png, any case)" in _error(gif)
    disguised = _write(tmp_path / "disguised", {"ant": 5, "bee": 5})
    Image.new("RGB", (6, 4)).save(disguised / "ant" / "x.png", "GIF")
    assert "x.png' is a GIF image (allowed: PNG, JPEG)" in _error(disguised)
    stray = _write(tmp_path / "stray", {"ant": 2, "bee": 2})
    (stray / "README").write_text("hi")
    assert "must hold only class sub-folders, found file 'README'" in _error(stray)
    (tmp_path / "split" / "val" / "dog").mkdir(parents=True)
    _write(tmp_path / "split" / "train", {"ant": 1, "bee": 1})
    assert "val/ has class folder 'dog' that train/ lacks" in _error(tmp_path / "split")


def test_hidden_files_are_ignored(tmp_path):
    folder = _write(tmp_path, {"ant": 5, "bee": 5})
    (folder / ".DS_Store").write_text("finder")
    (folder / "ant" / ".thumbs").write_text("cache")
    data = load("folder", root=str(folder))
    assert (data.size("train"), data.size("val")) == (8, 2)


def test_an_edited_folder_is_read_again(tmp_path):
    folder = _write(tmp_path, {"ant": 5, "bee": 5})
    before = load("folder", root=str(folder))
    Image.new("RGB", (6, 4), COLOURS["ant"]).save(folder / "ant" / "new.png")
    assert load("folder", root=str(folder)).fingerprint != before.fingerprint


@pytest.mark.parametrize("options, message", [
    (dict(data="folder"), "root: data='folder' needs root="),
    (dict(data="digits", mean=(1, 2, 3), std=(1, 1, 1)), "mean, std: only for data='folder'"),
    (dict(data="digits", root="/tmp"), "root: only for data='idx', 'cifar10', 'folder', 'fashion_mnist'"),
    (dict(data="digits", val_fraction=1.0), r"val_fraction: expected a number in \(0, 1\)"),
    (dict(data="digits", val_fraction=0.0), r"val_fraction: expected a number in \(0, 1\)"),
    (dict(data="digits", val_fraction=0.5, split_seed="a"), "split_seed: expected an integer"),
    (dict(data="images"), "unknown data set 'images'.*digits, synthetic, fashion_mnist, idx, cifar10, folder"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        load(**options)


def test_statistics_can_be_given(tmp_path):
    _write(tmp_path, {"ant": 5, "bee": 5})
    data = load("folder", root=str(tmp_path), mean=(100, 50, 0), std=(10, 10, 5), resolution=4)
    torch.testing.assert_close(data.mean, torch.tensor([100.0, 50.0, 0.0]))
    red = data.images("train", slice(0, 1))[0]  # a solid (255, 0, 0) image
    torch.testing.assert_close(red[:, 0, 0], torch.tensor([15.5, -5.0, 0.0]))
    resplit = load("folder", root=str(tmp_path), mean=(100, 50, 0), std=(10, 10, 5), val_fraction=0.5)
    torch.testing.assert_close(resplit.std, torch.tensor([10.0, 10.0, 5.0]))
    assert _error(tmp_path, mean=(1, 2), std=(1, 1)).startswith("mean: expected 3 numbers")
    assert _error(tmp_path, mean=(1, 2, 3), std=(1, 0, 1)).startswith("std: expected positive numbers")
    assert _error(tmp_path, mean=(1, 2, 3)).startswith("mean, std: give both or neither")


def test_folder_is_a_named_data_set():
    assert "folder" in DATASETS
