"""Image classification data for the proxies and the training engine: ``digits``, ``synthetic``,
``fashion_mnist``, IDX files (``idx``), local ``cifar10`` and the user's own image ``folder``.

A :class:`Dataset` has a training and a validation split, per-channel normalisation statistics
and the resolution it serves. :meth:`Dataset.split` gives the training engine a torch ``Dataset``
view of a split (:mod:`nos.train.data`); :meth:`Dataset.images` returns a normalised float32
batch directly (what the zero-cost scores and the supernet's BatchNorm re-estimation read).

* In memory (:class:`MemoryDataset`): images at their native resolution, served as
  normalised batches resized (bilinear) to the resolution; no augmentation.

  * ``digits``: scikit-learn's bundled handwritten digits (1,797 real 8x8 grey images,
    10 classes), grey replicated to 3 channels, fixed stratified split 1,437 train / 360
    validation. The offline default.
  * ``synthetic``: 10 classes, each a fixed random 3x8x8 prototype plus Gaussian noise;
    512 train / 128 validation images. Learnable and instant, for smoke tests.
  * ``fashion_mnist``: Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, arXiv 1708.07747: 60,000
    training and 10,000 test 28x28 grey images of 10 clothing classes), read from Debian's
    package ``dataset-fashion-mnist`` (:data:`FASHION_MNIST_ROOT`) or ``root``; grey replicated
    to 3 channels; validation = the 10,000 test images.
  * ``idx``: any MNIST-format folder (MNIST, KMNIST, Fashion-MNIST ...) under ``root``: the four
    IDX files of :data:`IDX_FILES`, each plain (memory-mapped: read from disk as batches need
    it) or gzipped (decompressed once); read by :func:`read_idx`.
  * ``cifar10``: the standard python-pickle folder (``data_batch_1`` .. ``data_batch_5``,
    ``test_batch``) under a user-given ``root``; never downloaded. Validation = test batch.

* Streamed from files (:class:`FileDataset`): ``folder``, PNG/JPEG images under a user-given
  ``root``, one sub-folder per class (sorted names give the labels). Either ``root/train/<class>/``
  and ``root/val/<class>/`` (split by folder, the ImageNet layout) or ``root/<class>/`` split by a
  seeded stratified :data:`DEFAULT_VAL_FRACTION`. Loading lists the files; each image is decoded
  (Pillow, as RGB) when a batch needs it, in the engine's loader workers, so memory stays flat
  however many images the folder holds. Training batches are augmented (random resized crop,
  horizontal flip), validation batches centre-cropped (:mod:`nos.train.transforms`); the
  statistics are measured on up to :data:`STATS_IMAGES` training images, or given.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import torch

from nos.train import DEFAULT_RESOLUTION
from nos.train.data import FileImages, TensorImages, decode
from nos.train.transforms import Augment, CentreView

DATASETS = ("digits", "synthetic", "fashion_mnist", "idx", "cifar10", "folder")
NEEDS_ROOT = ("idx", "cifar10", "folder")  # no default location: root= is required
FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"  # Debian's package dataset-fashion-mnist
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
IDX_FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
             "val_x": "t10k-images-idx3-ubyte", "val_y": "t10k-labels-idx1-ubyte"}
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
             0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}  # the IDX format's type codes
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")  # a folder's image files (case-insensitive)
DEFAULT_VAL_FRACTION = 0.2  # a folder without train/ and val/ sub-folders
STATS_IMAGES = 1000  # training images of a folder (a seeded choice) that measure its statistics
SPLITS = ("train", "val")
PROXY_HOLDOUT = {"fashion_mnist": 2000}
"""Training images the data-driven proxies (``train``, ``supernet``) hold out of training and score
candidates on, per data set (:func:`for_proxy`); the validation split then stays untouched for
measuring finalists. A data set not listed scores on its validation split."""


class Dataset:
    """Train and validation splits, per-channel statistics ``mean`` and ``std`` (of the training
    images, in pixel units), ``num_classes`` and the ``resolution`` (pixels, square) served.

    Subclasses: :class:`MemoryDataset` (images in memory), :class:`FileDataset` (image files)."""

    name: str
    num_classes: int
    mean: torch.Tensor
    std: torch.Tensor
    resolution: int

    @property
    def channels(self) -> int:
        return len(self.mean)

    def split(self, split: str, augment: bool = False) -> TensorImages | FileImages:
        """The engine's view of ``split`` ("train" or "val"): batches of normalised float32 images at
        ``resolution`` with their labels; ``augment`` asks for random training views (file data)."""
        raise NotImplementedError

    def at(self, resolution: int) -> Dataset:
        """The same data served at ``resolution`` x ``resolution`` pixels."""
        _check_resolution(resolution)
        return self if resolution == self.resolution else dataclasses.replace(self, resolution=resolution)

    def images(self, split: str, index: torch.Tensor | slice) -> torch.Tensor:
        """Normalised float32 images ``index`` of ``split`` at ``resolution`` (never augmented)."""
        return self.split(split).batch(index)[0]

    def labels(self, split: str, index: torch.Tensor | slice) -> torch.Tensor:
        return self.split(split).labels[index]

    def size(self, split: str) -> int:
        return len(self.split(split).labels)

    def sample(self, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A deterministic random training minibatch (images, labels) for ``seed``."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= self.size("train"):
            raise ValueError(f"batch_size: expected an integer in [1, {self.size('train')}], got {batch_size!r}")
        generator = torch.Generator().manual_seed(seed)
        index = torch.randperm(self.size("train"), generator=generator)[:batch_size]
        return self.images("train", index), self.labels("train", index)

    def resplit(self, val_fraction: float, seed: int = 0) -> Dataset:
        """Train and validation images pooled and split again, stratified by class: of each
        class's ``n`` images, ``min(round(val_fraction * n), n - 1)`` (chosen by ``seed``) go to
        validation, so every class keeps a training image. Normalisation statistics are
        measured again on the new training split."""
        if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction: expected a number in (0, 1), got {val_fraction!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed: expected an integer, got {seed!r}")
        labels = torch.cat([self.labels("train", slice(None)), self.labels("val", slice(None))])
        return self._pooled(*_stratified(labels, val_fraction, seed))

    def hold_out(self, images: int, seed: int = 0) -> Dataset:
        """The training split alone, cut in two: ``images`` seeded picks, each class in proportion to
        its size, become the validation split and the rest the training split; the original validation split is left
        out entirely (so a proxy scored on the result never sees it). Normalisation statistics
        stay those of the whole training split."""
        n = self.size("train")
        if isinstance(images, bool) or not isinstance(images, int) or not 0 < images < n:
            raise ValueError(f"holdout: expected an integer in [1, {n - 1}] (training images of {self.name}), "
                             f"got {images!r}")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        labels = self.labels("train", slice(None))[order]
        rank = torch.empty(n)  # an image's place among its class's, as a fraction of the class
        for label in torch.unique(labels):
            members = torch.nonzero(labels == label).flatten()
            rank[members] = (torch.arange(len(members)) + 0.5) / len(members)
        picked = order[torch.argsort(rank, stable=True)]  # classes interleaved in proportion
        val, train = picked[:images].sort().values, picked[images:].sort().values
        return self._from_train(train, val, f"{self.name}/holdout{images}")

    def _pooled(self, train: torch.Tensor, val: torch.Tensor) -> Dataset:
        """This data set with the pooled (train + val) items ``train`` and ``val`` as its splits."""
        raise NotImplementedError

    def _from_train(self, train: torch.Tensor, val: torch.Tensor, name: str) -> Dataset:
        """Data set ``name`` whose splits are the training items ``train`` and ``val`` (same statistics)."""
        raise NotImplementedError

    def _check_split(self, split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"split: unknown split {split!r} (allowed: {', '.join(SPLITS)})")


@dataclass(frozen=True, eq=False)
class MemoryDataset(Dataset):
    """Images (N, C, H, W) held in memory at native size, any dtype (uint8 or float32); labels (N,)
    int64."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int
    mean: torch.Tensor
    std: torch.Tensor
    resolution: int = DEFAULT_RESOLUTION

    def split(self, split: str, augment: bool = False) -> TensorImages:
        self._check_split(split)
        x, y = (self.train_x, self.train_y) if split == "train" else (self.val_x, self.val_y)
        return TensorImages(x, y, self.mean, self.std, self.resolution)

    def _pooled(self, train: torch.Tensor, val: torch.Tensor) -> MemoryDataset:
        x, y = torch.cat([self.train_x, self.val_x]), torch.cat([self.train_y, self.val_y])
        return _make(self.name, x[train], y[train], x[val], y[val], self.num_classes, self.resolution)

    def _from_train(self, train: torch.Tensor, val: torch.Tensor, name: str) -> MemoryDataset:
        return dataclasses.replace(self, name=name, train_x=self.train_x[train], train_y=self.train_y[train],
                                   val_x=self.train_x[val], val_y=self.train_y[val])

    @cached_property
    def fingerprint(self) -> str:
        """SHA-1 (hex) of the name, class count, images and labels of both splits: equal
        fingerprints mean the same data (the served resolution is not part of it)."""
        digest = hashlib.sha1(f"{self.name}/{self.num_classes}".encode())
        for tensor in (self.train_x, self.train_y, self.val_x, self.val_y):
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            for start in range(0, len(tensor), 4096):  # a chunk at a time: an expanded view is never copied whole
                digest.update(tensor[start:start + 4096].contiguous().numpy().tobytes())
        return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class FileDataset(Dataset):
    """Image files (paths) and labels (int64) per split, decoded when read; ``listing`` is a
    SHA-1 of every file's path, size and modification time under ``root``."""

    name: str
    root: str
    train_files: tuple[str, ...]
    train_y: torch.Tensor
    val_files: tuple[str, ...]
    val_y: torch.Tensor
    num_classes: int
    mean: torch.Tensor
    std: torch.Tensor
    listing: str
    resolution: int = DEFAULT_RESOLUTION

    def split(self, split: str, augment: bool = False) -> FileImages:
        self._check_split(split)
        files, y = (self.train_files, self.train_y) if split == "train" else (self.val_files, self.val_y)
        view = Augment(self.resolution) if augment else CentreView(self.resolution)
        return FileImages(files, y, self.mean, self.std, view)

    def _pooled(self, train: torch.Tensor, val: torch.Tensor) -> FileDataset:
        files, y = self.train_files + self.val_files, torch.cat([self.train_y, self.val_y])
        train_files = tuple(files[i] for i in train.tolist())
        mean, std = _file_stats(train_files)
        return dataclasses.replace(self, train_files=train_files, train_y=y[train],
                                   val_files=tuple(files[i] for i in val.tolist()), val_y=y[val], mean=mean, std=std)

    def _from_train(self, train: torch.Tensor, val: torch.Tensor, name: str) -> FileDataset:
        files = self.train_files
        return dataclasses.replace(self, name=name, train_files=tuple(files[i] for i in train.tolist()),
                                   train_y=self.train_y[train], val_files=tuple(files[i] for i in val.tolist()),
                                   val_y=self.train_y[val])

    @cached_property
    def fingerprint(self) -> str:
        """SHA-1 (hex) of the name, class count, the folder's listing and which file with which
        label is in which split: a changed, added or moved file changes it."""
        digest = hashlib.sha1(f"{self.name}/{self.num_classes}/{self.listing}".encode())
        for files, labels in ((self.train_files, self.train_y), (self.val_files, self.val_y)):
            digest.update(f"{len(files)}".encode())
            for path, label in zip(files, labels.tolist()):
                digest.update(f"{os.path.relpath(path, self.root)}\0{label}\0".encode())
        return digest.hexdigest()


def _check_resolution(resolution: int, field: str = "resolution") -> None:
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"{field}: expected a positive integer (pixels), got {resolution!r}")


def _make(name: str, train_x, train_y, val_x, val_y, num_classes: int,
          resolution: int = DEFAULT_RESOLUTION) -> MemoryDataset:
    mean, std = _channel_stats(train_x)
    return MemoryDataset(name, train_x, train_y, val_x, val_y, num_classes, mean, std, resolution)


def _moments(total: torch.Tensor, squares: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and unbiased std (float32) from float64 sums of values and squares."""
    mean = total / count
    variance = (squares - count * mean * mean) / max(1, count - 1)
    return mean.float(), variance.clamp_min(0).sqrt().float().clamp_min(1e-6)


def _channel_stats(x: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (unbiased) std of images ``x`` (N, C, H, W), summed in float64 a
    chunk of images at a time, so a large uint8 set is never held as float32 whole."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    squares = torch.zeros(x.shape[1], dtype=torch.float64)
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk].double()
        total += part.sum(dim=(0, 2, 3))
        squares += (part * part).sum(dim=(0, 2, 3))
    return _moments(total, squares, x.numel() // x.shape[1])


def _file_stats(files: Sequence[str], limit: int = STATS_IMAGES) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of the pixels of ``limit`` training images (a seeded choice; all
    of them when there are fewer), decoded at full size."""
    chosen = range(len(files))
    if len(files) > limit:
        chosen = sorted(torch.randperm(len(files), generator=torch.Generator().manual_seed(0))[:limit].tolist())
    total, squares, count = torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), 0
    for i in chosen:
        pixels = torch.from_numpy(np.asarray(decode(files[i]), dtype=np.float64)).reshape(-1, 3)
        total += pixels.sum(0)
        squares += (pixels * pixels).sum(0)
        count += len(pixels)
    return _moments(total, squares, count)


def _stratified(y: torch.Tensor, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices) into the labels ``y``, each in ascending order:
    of each class's ``n`` images, ``min(round(val_fraction * n), n - 1)`` seeded picks go to
    validation."""
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for label in torch.unique(y).tolist():
        members = torch.nonzero(y == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        k = min(round(val_fraction * len(members)), len(members) - 1)
        val.append(members[:k])
        train.append(members[k:])
    train_index, val_index = torch.cat(train).sort().values, torch.cat(val).sort().values
    if not len(val_index):
        raise ValueError(f"val_fraction: {val_fraction} of {len(y)} images leaves the validation split empty")
    return train_index, val_index


@lru_cache(maxsize=1)
def _digits() -> MemoryDataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.repeat(digits.images[:, None].astype(np.float32), 3, axis=1)  # (1797, 3, 8, 8), values 0..16
    tr_x, va_x, tr_y, va_y = train_test_split(images, digits.target, test_size=0.2, random_state=0,
                                              stratify=digits.target)
    return _make("digits", torch.from_numpy(tr_x), torch.from_numpy(tr_y).long(),
                 torch.from_numpy(va_x), torch.from_numpy(va_y).long(), 10)


@lru_cache(maxsize=1)
def _synthetic() -> MemoryDataset:
    generator = torch.Generator().manual_seed(0)
    prototypes = torch.randn(10, 3, 8, 8, generator=generator)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % 10
        return prototypes[y] + 0.5 * torch.randn(n, 3, 8, 8, generator=generator), y

    (tr_x, tr_y), (va_x, va_y) = draw(512), draw(128)
    return _make("synthetic", tr_x, tr_y, va_x, va_y, 10)


def read_idx(path: str | Path) -> np.ndarray:
    """The array in one IDX file (the MNIST format: two zero bytes, a type code, the number of
    dimensions, their sizes as big-endian 32-bit integers, then the values), plain or gzipped
    (read by its first two bytes, whatever its name). A plain file is memory-mapped
    (copy-on-write): its values are read from disk when used."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4 + 4 * 255)  # the longest header
            size = os.fstat(f.fileno()).st_size
            raw = None
            if head[:2] == b"\x1f\x8b":
                f.seek(0)
                raw = f.read()
    except OSError as err:
        raise ValueError(f"root: cannot read IDX file {str(path)!r} ({err.strerror})") from None
    if raw is not None:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"root: {str(path)!r} is a damaged gzip file ({err})") from None
        head, size = raw[:4 + 4 * 255], len(raw)
    if len(head) < 4 or head[:2] != b"\x00\x00" or head[2] not in IDX_TYPES:
        raise ValueError(f"root: {str(path)!r} is not an IDX file (expected two zero bytes and a type code "
                         f"of {', '.join(f'0x{t:02X}' for t in IDX_TYPES)})")
    dtype, ndim = np.dtype(IDX_TYPES[head[2]]), head[3]
    header = 4 + 4 * ndim
    shape = tuple(int(v) for v in np.frombuffer(head[4:header], dtype=">u4")) if len(head) >= header else ()
    count = int(np.prod(shape, dtype=np.int64))
    if size != header + count * dtype.itemsize or len(shape) != ndim:
        raise ValueError(f"root: {str(path)!r} is truncated or too long for its header (shape {shape}, {dtype})")
    if raw is not None:
        return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    if count == 0:
        return np.empty(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="c", offset=header, shape=shape)


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


@lru_cache(maxsize=2)
def _idx(root: str, name: str) -> MemoryDataset:
    """An MNIST-format folder: grey images (N, H, W) and labels (N,) for train and validation
    (the ``t10k`` files); grey replicated to 3 channels as a view (no copy)."""
    folder = Path(root)
    hint = f" (install Debian's package {FASHION_MNIST_PACKAGE}, or give root=)" if name == "fashion_mnist" else ""
    if not folder.is_dir():
        raise ValueError(f"root: {name} folder {root!r} does not exist{hint}")
    paths = {key: _idx_file(folder, stem) for key, stem in IDX_FILES.items()}
    missing = [IDX_FILES[key] for key, path in paths.items() if path is None]
    if missing:
        raise ValueError(f"root: {name} folder {root!r} lacks {', '.join(missing)} (plain or .gz){hint}")
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in SPLITS:
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or x.dtype != np.uint8:
            raise ValueError(f"root: {name} {split} files must hold uint8 images (N, H, W) and N labels, "
                             f"got {x.dtype} {x.shape} and labels {y.shape}")
    labels = np.concatenate([arrays["train_y"], arrays["val_y"]])
    if labels.min() < 0:
        raise ValueError(f"root: {name} labels must be non-negative, found {labels.min()}")

    def images(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array if array.flags.writeable else array.copy())[:, None].expand(-1, 3, -1, -1)

    return _make(name, images(arrays["train_x"]), torch.from_numpy(arrays["train_y"].astype(np.int64)),
                 images(arrays["val_x"]), torch.from_numpy(arrays["val_y"].astype(np.int64)), int(labels.max()) + 1)


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
def _cifar10(root: str) -> MemoryDataset:
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


def _class_folders(folder: Path) -> list[Path]:
    """The class sub-folders of ``folder`` (sorted by name); dot-files are ignored."""
    if not folder.is_dir():
        raise ValueError(f"root: image folder {str(folder)!r} does not exist")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    stray = [p.name for p in entries if not p.is_dir()]
    if stray:
        raise ValueError(f"root: {str(folder)!r} must hold only class sub-folders, found file {stray[0]!r}")
    return entries


def _image_files(folder: Path, digest) -> list[str]:
    """The image files of one class folder, sorted; each one's name, size and modification time
    go into ``digest``."""
    files = []
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        if path.is_dir():
            raise ValueError(f"root: class folder {str(folder)!r} must hold only images, found folder {path.name!r}")
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"root: {str(path)!r} is not a PNG or JPEG file (allowed suffixes: "
                             f"{', '.join(IMAGE_SUFFIXES)}, any case)")
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        files.append(str(path))
    if not files:
        raise ValueError(f"root: class folder {str(folder)!r} holds no images")
    return files


_FOLDERS: dict[tuple, FileDataset] = {}  # the last folders loaded, by (root, listing, statistics)


def _folder(root: Path, stats: tuple[torch.Tensor, torch.Tensor] | None) -> FileDataset:
    """The image folder ``root``: its files listed now (a changed folder is listed anew); the
    statistics measured once per listing unless given."""
    split = (root / "train").is_dir() and (root / "val").is_dir()
    train_folders = _class_folders(root / "train" if split else root)
    val_folders = _class_folders(root / "val") if split else []
    classes = [p.name for p in train_folders]
    unknown = [p.name for p in val_folders if p.name not in classes]
    if unknown:
        raise ValueError(f"root: val/ has class folder {unknown[0]!r} that train/ lacks (train classes: {', '.join(classes)})")
    if len(classes) < 2:
        raise ValueError(f"root: an image folder needs at least 2 class sub-folders, found {len(classes)} "
                         f"({', '.join(classes) or 'none'}) in {str(root)!r}")
    digest = hashlib.sha1()
    files, labels, n_train = [], [], 0
    for folder in train_folders + val_folders:
        found = _image_files(folder, digest)
        files += found
        labels += [classes.index(folder.name)] * len(found)
        n_train += len(found) if folder in train_folders else 0
    key = (str(root), digest.hexdigest(), None if stats is None else tuple(torch.cat(stats).tolist()))
    if key not in _FOLDERS:
        y = torch.tensor(labels, dtype=torch.int64)
        train, val = (torch.arange(n_train), torch.arange(n_train, len(files))) if split else \
            _stratified(y, DEFAULT_VAL_FRACTION, 0)
        train_files = tuple(files[i] for i in train.tolist())
        dataset = FileDataset("folder", str(root), train_files, y[train], tuple(files[i] for i in val.tolist()), y[val],
                              len(classes), *(stats or _file_stats(train_files)), key[1])
        _FOLDERS.clear()  # one folder at a time: a long listing is not kept twice
        _FOLDERS[key] = dataset
    return _FOLDERS[key]


def _statistics(mean: Sequence[float] | None, std: Sequence[float] | None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Given statistics as float32 tensors (None when not given); a ValueError names the field."""
    for name, values in (("mean", mean), ("std", std)):
        if values is not None and (len(values) != 3 or any(isinstance(v, bool) or not isinstance(v, (int, float))
                                                             for v in values)):
            raise ValueError(f"{name}: expected 3 numbers (R, G, B, in pixel units 0-255), got {list(values)!r}")
    if (mean is None) != (std is None):
        raise ValueError("mean, std: give both or neither (neither: measured on the training images)")
    if std is None:
        return None
    if min(std) <= 0:
        raise ValueError(f"std: expected positive numbers, got {list(std)!r}")
    return torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)


def load(data: str | Dataset = "digits", resolution: int | None = None, root: str | None = None,
         val_fraction: float | None = None, split_seed: int = 0, mean: Sequence[float] | None = None,
         std: Sequence[float] | None = None) -> Dataset:
    """The data set ``data`` (a name in :data:`DATASETS` or a :class:`Dataset`) at ``resolution``.

    Args:
        data: ``digits``, ``synthetic``, ``fashion_mnist``, ``idx``, ``cifar10``, ``folder`` or a
            :class:`Dataset`.
        resolution: side length (pixels) of the batches served; None keeps a
            :class:`Dataset`'s own and gives a named one :data:`DEFAULT_RESOLUTION`.
        root: the data set's folder: required for ``idx``, ``cifar10`` and ``folder``, optional
            for ``fashion_mnist`` (default :data:`FASHION_MNIST_ROOT`), refused for the others.
        val_fraction: pool train and validation images and split them again, stratified,
            with this fraction (per class) for validation (:meth:`Dataset.resplit`); None
            keeps the data set's own split (``folder`` without ``train/`` and ``val/``:
            :data:`DEFAULT_VAL_FRACTION`, seed 0).
        split_seed: the seed of that split.
        mean, std: ``folder`` only: the per-channel normalisation statistics (R, G, B, in pixel
            units 0-255); None: measured on the training images.
    """
    if isinstance(split_seed, bool) or not isinstance(split_seed, int):
        raise ValueError(f"split_seed: expected an integer, got {split_seed!r}")
    if (mean is not None or std is not None) and data != "folder":
        raise ValueError(f"mean, std: only for data='folder' (the others measure theirs), got data={data!r}")
    stats = _statistics(mean, std)
    if not isinstance(data, Dataset) and data not in DATASETS:
        raise ValueError(f"data: unknown data set {data!r} (allowed: {', '.join(DATASETS)} or a Dataset)")
    if data in NEEDS_ROOT and root is None:
        raise ValueError(f"root: data={data!r} needs root= {_ROOT_NEEDED[data]} (nos never downloads)")
    if data in ("digits", "synthetic") and root is not None:
        raise ValueError(f"root: only for data={', '.join(map(repr, (*NEEDS_ROOT, 'fashion_mnist')))}, got data={data!r}")
    if isinstance(data, Dataset):
        dataset = data
    elif data in ("digits", "synthetic"):
        dataset = _digits() if data == "digits" else _synthetic()
    elif data in ("fashion_mnist", "idx"):
        folder = Path(FASHION_MNIST_ROOT if root is None else root).expanduser().resolve()
        dataset = _idx(str(folder), data)
    elif data == "cifar10":
        dataset = _cifar10(str(root))
    else:
        dataset = _folder(Path(root).expanduser().resolve(), stats)
    if val_fraction is not None:
        dataset = dataset.resplit(val_fraction, split_seed)
        if stats is not None:
            dataset = dataclasses.replace(dataset, mean=stats[0], std=stats[1])
    if resolution is None:
        return dataset if isinstance(data, Dataset) else dataset.at(DEFAULT_RESOLUTION)
    return dataset.at(resolution)


def for_proxy(data: str | Dataset = "digits", resolution: int | None = None, root: str | None = None) -> Dataset:
    """The data set a data-driven proxy trains and scores on: :func:`load`, then, for a data set in
    :data:`PROXY_HOLDOUT`, its training split cut by :meth:`Dataset.hold_out` (seed 0)."""
    dataset = load(data, resolution, root)
    holdout = PROXY_HOLDOUT.get(data if isinstance(data, str) else "")
    return dataset if holdout is None else dataset.hold_out(holdout)


_ROOT_NEEDED = {"idx": "a folder of the four MNIST-format IDX files",
                "cifar10": "the local 'cifar-10-batches-py' folder",
                "folder": "a folder with one sub-folder of PNG/JPEG images per class"}
