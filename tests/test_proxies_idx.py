"""IDX files (the MNIST format) and Fashion-MNIST from Debian's package."""
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from nos.proxies.data import FASHION_MNIST_ROOT, IDX_FILES, load, read_idx


def _idx_bytes(array: np.ndarray, code: int) -> bytes:
    return struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write_mnist_folder(folder: Path, n_train=30, n_val=10, size=6, classes=3, gz=True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {"train_x": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
              "train_y": np.arange(n_train, dtype=np.uint8) % classes,
              "val_x": rng.integers(0, 256, (n_val, size, size), dtype=np.uint8),
              "val_y": np.arange(n_val, dtype=np.uint8) % classes}
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in IDX_FILES.items():
        raw = _idx_bytes(arrays[key], 0x08)
        (folder / (stem + ".gz" if gz else stem)).write_bytes(gzip.compress(raw) if gz else raw)
    return arrays


@pytest.mark.parametrize("code, dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, ">i2"), (0x0C, ">i4"),
                                         (0x0D, ">f4"), (0x0E, ">f8")])
def test_read_idx_reads_every_type_plain_and_gzipped(tmp_path, code, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype) if code != 0x08 else np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(_idx_bytes(array, code))
    (tmp_path / "b.gz").write_bytes(gzip.compress(_idx_bytes(array, code)))
    for name in ("a", "b.gz"):
        read = read_idx(tmp_path / name)
        assert read.shape == (2, 3, 4) and np.array_equal(read, array) and read.dtype == np.dtype(dtype)


@pytest.mark.parametrize("raw, message", [
    (b"\x00\x00\x08", "is not an IDX file"),
    (b"\x01\x00\x08\x01" + struct.pack(">I", 2) + b"ab", "is not an IDX file"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 2) + b"ab", "is not an IDX file"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 3) + b"ab", "truncated"),
    (b"\x00\x00\x08\x02" + struct.pack(">I", 3), "truncated"),
])
def test_read_idx_refuses_bad_files_in_one_line(tmp_path, raw, message):
    (tmp_path / "bad").write_bytes(raw)
    with pytest.raises(ValueError, match=message) as err:
        read_idx(tmp_path / "bad")
    assert "\n" not in str(err.value) and str(tmp_path / "bad") in str(err.value)


def test_idx_folder_loads_as_a_data_set(tmp_path):
    arrays = _write_mnist_folder(tmp_path / "m", gz=False)
    data = load("idx", resolution=6, root=str(tmp_path / "m"))
    assert (data.size("train"), data.size("val"), data.num_classes, data.channels) == (30, 10, 3, 3)
    assert torch.equal(data.labels("val", slice(None)), torch.from_numpy(arrays["val_y"].astype(np.int64)))
    grey = torch.from_numpy(arrays["train_x"][:4].astype(np.float32))
    images = data.images("train", slice(0, 4))
    expected = (grey - data.mean[0]) / data.std[0]
    for channel in range(3):  # grey replicated to 3 channels, each normalised by the training statistics
        assert torch.allclose(images[:, channel], expected, atol=1e-5)
    pixels = arrays["train_x"].astype(np.float64)
    assert data.mean[0].item() == pytest.approx(pixels.mean(), rel=1e-6)
    assert data.std[0].item() == pytest.approx(pixels.std(ddof=1), rel=1e-6)


def test_idx_folder_errors_name_the_missing_file(tmp_path):
    _write_mnist_folder(tmp_path / "m")
    (tmp_path / "m" / (IDX_FILES["val_y"] + ".gz")).unlink()
    with pytest.raises(ValueError, match=f"root: idx folder .* lacks {IDX_FILES['val_y']}"):
        load("idx", root=str(tmp_path / "m"))
    with pytest.raises(ValueError, match="root: data='idx' needs root="):
        load("idx")


def test_missing_fashion_mnist_names_the_package_and_the_path(tmp_path):
    with pytest.raises(ValueError) as err:
        load("fashion_mnist", root=str(tmp_path / "nowhere"))
    message = str(err.value)
    assert "dataset-fashion-mnist" in message and str(tmp_path / "nowhere") in message and "\n" not in message


@pytest.mark.skipif(not Path(FASHION_MNIST_ROOT).is_dir(),
                    reason=f"Debian's package dataset-fashion-mnist is not installed ({FASHION_MNIST_ROOT}); make test installs it")
def test_fashion_mnist_from_the_debian_package():
    data = load("fashion_mnist", resolution=28)
    assert (data.size("train"), data.size("val"), data.num_classes, data.channels) == (60_000, 10_000, 10, 3)
    assert torch.bincount(data.labels("val", slice(None))).tolist() == [1000] * 10  # the test set is balanced
    # Fashion-MNIST's training pixels: mean 72.94, std 90.02 on 0..255 (Xiao et al. 2017 data; widely quoted
    # as 0.2860 and 0.3530 of 255)
    assert data.mean.tolist() == pytest.approx([72.94] * 3, abs=0.01)
    assert data.std.tolist() == pytest.approx([90.02] * 3, abs=0.01)
