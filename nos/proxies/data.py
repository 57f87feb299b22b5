"""Image classification data for the proxies: ``digits``, ``synthetic`` and local ``cifar10``.

A :class:`Dataset` keeps its images at their native resolution (digits: 8x8, synthetic:
8x8, CIFAR-10: 32x32) and serves normalised float32 batches resized (bilinear) to its
``resolution``; :meth:`Dataset.at` changes the resolution without copying the images.

* ``digits``: scikit-learn's bundled handwritten digits (1,797 real 8x8 grey images,
  10 classes), grey replicated to 3 channels, fixed stratified split 1,437 train / 360
  validation. The offline default.
* ``synthetic``: 10 classes, each a fixed random 3x8x8 prototype plus Gaussian noise;
  512 train / 128 validation images. Learnable and instant, for smoke tests.
* ``cifar10``: the standard python-pickle folder (``data_batch_1`` .. ``data_batch_5``,
  ``test_batch``) under a user-given ``root``; never downloaded. Validation = test batch.
"""
from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

DATASETS = ("digits", "synthetic", "cifar10")
DEFAULT_RESOLUTION = 32
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train and validation images (N, C, H, W) at native size, labels (N,) int64.

    Attributes:
        name: data set name.
        train_x, val_x: images, any dtype (uint8 or float32), native resolution.
        train_y, val_y: integer labels in [0, num_classes).
        num_classes: number of classes.
        mean, std: per-channel statistics of ``train_x`` used to normalise batches.
        resolution: side length (pixels) of the square batches served.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int
    mean: torch.Tensor
    std: torch.Tensor
    resolution: int = DEFAULT_RESOLUTION

    @property
    def channels(self) -> int:
        return self.train_x.shape[1]

    def at(self, resolution: int) -> Dataset:
        """The same data served at ``resolution`` x ``resolution`` pixels."""
        _check_resolution(resolution)
        return self if resolution == self.resolution else dataclasses.replace(self, resolution=resolution)

    def images(self, split: str, index: torch.Tensor | slice) -> torch.Tensor:
        """Normalised float32 images ``index`` of ``split`` ("train" or "val") at ``resolution``."""
        x = self._split(split)[0][index].float()
        x = (x - self.mean[:, None, None]) / self.std[:, None, None]
        if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        return x

    def labels(self, split: str, index: torch.Tensor | slice) -> torch.Tensor:
        return self._split(split)[1][index]

    def size(self, split: str) -> int:
        return len(self._split(split)[1])

    def sample(self, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A deterministic random training minibatch (images, labels) for ``seed``."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= self.size("train"):
            raise ValueError(f"batch_size: expected an integer in [1, {self.size('train')}], got {batch_size!r}")
        generator = torch.Generator().manual_seed(seed)
        index = torch.randperm(self.size("train"), generator=generator)[:batch_size]
        return self.images("train", index), self.labels("train", index)

    def _split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split == "train":
            return self.train_x, self.train_y
        if split == "val":
            return self.val_x, self.val_y
        raise ValueError(f"split: unknown split {split!r} (allowed: train, val)")


def _check_resolution(resolution: int) -> None:
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution: expected a positive integer (pixels), got {resolution!r}")


def _make(name: str, train_x, train_y, val_x, val_y, num_classes: int) -> Dataset:
    stats = train_x.float()
    mean = stats.mean(dim=(0, 2, 3))
    std = stats.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return Dataset(name, train_x, train_y, val_x, val_y, num_classes, mean, std)


@lru_cache(maxsize=1)
def _digits() -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.repeat(digits.images[:, None].astype(np.float32), 3, axis=1)  # (1797, 3, 8, 8), values 0..16
    tr_x, va_x, tr_y, va_y = train_test_split(images, digits.target, test_size=0.2, random_state=0,
                                              stratify=digits.target)
    return _make("digits", torch.from_numpy(tr_x), torch.from_numpy(tr_y).long(),
                 torch.from_numpy(va_x), torch.from_numpy(va_y).long(), 10)


@lru_cache(maxsize=1)
def _synthetic() -> Dataset:
    generator = torch.Generator().manual_seed(0)
    prototypes = torch.randn(10, 3, 8, 8, generator=generator)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % 10
        return prototypes[y] + 0.5 * torch.randn(n, 3, 8, 8, generator=generator), y

    (tr_x, tr_y), (va_x, va_y) = draw(512), draw(128)
    return _make("synthetic", tr_x, tr_y, va_x, va_y, 10)


def _unpickle(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 3, 32, 32) uint8, labels (N,)) from one CIFAR-10 python batch file."""
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as err:
        raise ValueError(f"cifar10: {path} is not a CIFAR-10 python pickle batch ({err})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"cifar10: {path} must hold a dict with b'data' and b'labels'")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(f"cifar10: {path}: expected uint8 data of shape (N, 3072) and N labels, "
                         f"got {data.dtype} {data.shape} and {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"cifar10: {path}: labels must be in 0..9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


@lru_cache(maxsize=2)
def _cifar10(root: str) -> Dataset:
    folder = Path(root).expanduser()
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    if not folder.is_dir():
        raise ValueError(f"root: CIFAR-10 folder {root!r} does not exist (give the local "
                         f"'cifar-10-batches-py' folder of the python version; nos never downloads)")
    missing = [name for name in CIFAR10_FILES if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"root: CIFAR-10 folder {str(folder)!r} lacks {', '.join(missing)} "
                         f"(expected the python-pickle layout: {', '.join(CIFAR10_FILES)})")
    parts = [_unpickle(folder / name) for name in CIFAR10_FILES]
    tr_x = np.concatenate([x for x, _ in parts[:-1]])
    tr_y = np.concatenate([y for _, y in parts[:-1]])
    va_x, va_y = parts[-1]
    return _make("cifar10", torch.from_numpy(tr_x), torch.from_numpy(tr_y),
                 torch.from_numpy(va_x), torch.from_numpy(va_y), 10)


def load(data: str | Dataset = "digits", resolution: int | None = None, root: str | None = None) -> Dataset:
    """The data set ``data`` (a name in :data:`DATASETS` or a :class:`Dataset`) at ``resolution``.

    ``resolution`` None keeps a :class:`Dataset`'s own and gives a named one
    :data:`DEFAULT_RESOLUTION`. ``root`` is the local CIFAR-10 folder, required for
    ``cifar10`` and unused otherwise.
    """
    if isinstance(data, Dataset):
        return data if resolution is None else data.at(resolution)
    resolution = DEFAULT_RESOLUTION if resolution is None else resolution
    _check_resolution(resolution)
    if data == "digits":
        dataset = _digits()
    elif data == "synthetic":
        dataset = _synthetic()
    elif data == "cifar10":
        if root is None:
            raise ValueError("root: cifar10 needs root= the local 'cifar-10-batches-py' folder (nos never downloads)")
        dataset = _cifar10(str(root))
    else:
        raise ValueError(f"data: unknown data set {data!r} (allowed: {', '.join(DATASETS)} or a Dataset)")
    return dataset.at(resolution)
