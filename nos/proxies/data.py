"""Image classification data for the proxies: ``digits``, ``synthetic``, ``fashion_mnist``, IDX
files (``idx``), local ``cifar10`` and the user's own image ``folder``.

A :class:`Dataset` keeps its images at their native resolution (digits: 8x8, synthetic:
8x8, CIFAR-10: 32x32, folder: the images' own size or ``image_size``) and serves
normalised float32 batches resized (bilinear) to its ``resolution``; :meth:`Dataset.at`
changes the resolution without copying the images and :meth:`Dataset.resplit` draws a
seeded stratified train/validation split of the pooled images.

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
  IDX files of :data:`IDX_FILES`, each plain or gzipped; read by :func:`read_idx`.
* ``cifar10``: the standard python-pickle folder (``data_batch_1`` .. ``data_batch_5``,
  ``test_batch``) under a user-given ``root``; never downloaded. Validation = test batch.
* ``folder``: PNG/JPEG images under a user-given ``root``, one sub-folder per class, read
  with Pillow as RGB. Either ``root/train/<class>/`` and ``root/val/<class>/`` (split by
  folder) or ``root/<class>/`` split by a seeded stratified ``val_fraction`` (default 0.2).
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import pickle
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

DATASETS = ("digits", "synthetic", "fashion_mnist", "idx", "cifar10", "folder")
NEEDS_ROOT = ("idx", "cifar10", "folder")  # no default location: root= is required
FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"  # Debian's package dataset-fashion-mnist
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
IDX_FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
             "val_x": "t10k-images-idx3-ubyte", "val_y": "t10k-labels-idx1-ubyte"}
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
             0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}  # the IDX format's type codes
DEFAULT_RESOLUTION = 32
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
IMAGE_FORMATS = ("PNG", "JPEG")
DEFAULT_VAL_FRACTION = 0.2  # a folder without train/ and val/ sub-folders
PROXY_HOLDOUT = {"fashion_mnist": 2000}
"""Training images the data-driven proxies (``train``, ``supernet``) hold out of training and score
candidates on, per data set (:func:`for_proxy`); the validation split then stays untouched for
measuring finalists. A data set not listed scores on its validation split."""


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

    def resplit(self, val_fraction: float, seed: int = 0) -> Dataset:
        """Train and validation images pooled and split again, stratified by class: of each
        class's ``n`` images, ``min(round(val_fraction * n), n - 1)`` (chosen by ``seed``) go to
        validation, so every class keeps a training image. Normalisation statistics are
        recomputed on the new training split."""
        if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction: expected a number in (0, 1), got {val_fraction!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed: expected an integer, got {seed!r}")
        x, y = torch.cat([self.train_x, self.val_x]), torch.cat([self.train_y, self.val_y])
        train, val = _stratified(y, val_fraction, seed)
        return _make(self.name, x[train], y[train], x[val], y[val], self.num_classes, self.resolution)

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
        labels = self.train_y[order]
        rank = torch.empty(n)  # an image's place among its class's, as a fraction of the class
        for label in torch.unique(labels):
            members = torch.nonzero(labels == label).flatten()
            rank[members] = (torch.arange(len(members)) + 0.5) / len(members)
        picked = order[torch.argsort(rank, stable=True)]  # classes interleaved in proportion
        val, train = picked[:images].sort().values, picked[images:].sort().values
        return dataclasses.replace(self, name=f"{self.name}/holdout{images}", train_x=self.train_x[train],
                                   train_y=self.train_y[train], val_x=self.train_x[val], val_y=self.train_y[val])

    @cached_property
    def fingerprint(self) -> str:
        """SHA-1 (hex) of the name, class count, images and labels of both splits: equal
        fingerprints mean the same data (the served resolution is not part of it)."""
        digest = hashlib.sha1(f"{self.name}/{self.num_classes}".encode())
        for tensor in (self.train_x, self.train_y, self.val_x, self.val_y):
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(tensor.contiguous().numpy().tobytes())
        return digest.hexdigest()

    def _split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split == "train":
            return self.train_x, self.train_y
        if split == "val":
            return self.val_x, self.val_y
        raise ValueError(f"split: unknown split {split!r} (allowed: train, val)")


def _check_resolution(resolution: int, field: str = "resolution") -> None:
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"{field}: expected a positive integer (pixels), got {resolution!r}")


def _make(name: str, train_x, train_y, val_x, val_y, num_classes: int,
          resolution: int = DEFAULT_RESOLUTION) -> Dataset:
    mean, std = _channel_stats(train_x)
    return Dataset(name, train_x, train_y, val_x, val_y, num_classes, mean, std, resolution)


def _channel_stats(x: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (unbiased) std of images ``x`` (N, C, H, W), summed in float64 a
    chunk of images at a time, so a large uint8 set is never held as float32 whole."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    squares = torch.zeros(x.shape[1], dtype=torch.float64)
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk].double()
        total += part.sum(dim=(0, 2, 3))
        squares += (part * part).sum(dim=(0, 2, 3))
    count = x.numel() // x.shape[1]
    mean = total / count
    variance = (squares - count * mean * mean) / max(1, count - 1)
    return mean.float(), variance.clamp_min(0).sqrt().float().clamp_min(1e-6)


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


def read_idx(path: str | Path) -> np.ndarray:
    """The array in one IDX file (the MNIST format: two zero bytes, a type code, the number of
    dimensions, their sizes as big-endian 32-bit integers, then the values), plain or gzipped
    (read by its first two bytes, whatever its name)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise ValueError(f"root: cannot read IDX file {str(path)!r} ({err.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"root: {str(path)!r} is a damaged gzip file ({err})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in IDX_TYPES:
        raise ValueError(f"root: {str(path)!r} is not an IDX file (expected two zero bytes and a type code "
                         f"of {', '.join(f'0x{t:02X}' for t in IDX_TYPES)})")
    dtype, ndim = np.dtype(IDX_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(v) for v in np.frombuffer(raw[4:header], dtype=">u4")) if len(raw) >= header else ()
    if len(raw) != header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize or len(shape) != ndim:
        raise ValueError(f"root: {str(path)!r} is truncated or too long for its header (shape {shape}, {dtype})")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


@lru_cache(maxsize=2)
def _idx(root: str, name: str) -> Dataset:
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
    for split in ("train", "val"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or x.dtype != np.uint8:
            raise ValueError(f"root: {name} {split} files must hold uint8 images (N, H, W) and N labels, "
                             f"got {x.dtype} {x.shape} and labels {y.shape}")
    labels = np.concatenate([arrays["train_y"], arrays["val_y"]])
    if labels.min() < 0:
        raise ValueError(f"root: {name} labels must be non-negative, found {labels.min()}")

    def images(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array.copy())[:, None].expand(-1, 3, -1, -1)

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


def _class_folders(folder: Path, field: str) -> list[Path]:
    """The class sub-folders of ``folder`` (sorted by name); dot-files are ignored."""
    if not folder.is_dir():
        raise ValueError(f"{field}: image folder {str(folder)!r} does not exist")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    stray = [p.name for p in entries if not p.is_dir()]
    if stray:
        raise ValueError(f"{field}: {str(folder)!r} must hold only class sub-folders, found file {stray[0]!r}")
    return entries


def _read_image(path: Path, image_size: int | None) -> np.ndarray:
    """One PNG/JPEG file as an RGB uint8 array (3, H, W), resized to ``image_size`` if given."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.format not in IMAGE_FORMATS:
                raise ValueError(f"root: {str(path)!r} is a {image.format} image (allowed: PNG, JPEG)")
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"root: {str(path)!r} is not a readable PNG or JPEG image ({err})") from None
    if image_size is not None:
        rgb = rgb.resize((image_size, image_size), Image.BILINEAR)
    return np.asarray(rgb).transpose(2, 0, 1)


def _read_classes(folders: list[Path], classes: list[str], image_size: int | None) -> tuple[list[np.ndarray], list[int]]:
    """Images and labels of the class ``folders``; a label is the folder's index in ``classes``."""
    images, labels = [], []
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        if not files:
            raise ValueError(f"root: class folder {str(folder)!r} holds no images")
        for path in files:
            if path.is_dir():
                raise ValueError(f"root: class folder {str(folder)!r} must hold only images, found folder {path.name!r}")
            images.append(_read_image(path, image_size))
            labels.append(classes.index(folder.name))
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise ValueError(f"image_size: the images differ in size ({', '.join(f'{w}x{h}' for _, h, w in sorted(shapes)[:3])}"
                         f"{', ...' if len(shapes) > 3 else ''}); give image_size=<pixels> to resize them all")
    return images, labels


@lru_cache(maxsize=2)
def _folder(root: str, image_size: int | None, listing: tuple) -> Dataset:
    """``listing`` (every file's path, size and mtime) is only part of the cache key, so an
    edited folder is read again."""
    folder = Path(root)
    split = (folder / "train").is_dir() and (folder / "val").is_dir()
    train_folders = _class_folders(folder / "train" if split else folder, "root")
    val_folders = _class_folders(folder / "val", "root") if split else []
    classes = [p.name for p in train_folders]
    unknown = [p.name for p in val_folders if p.name not in classes]
    if unknown:
        raise ValueError(f"root: val/ has class folder {unknown[0]!r} that train/ lacks (train classes: {', '.join(classes)})")
    if len(classes) < 2:
        raise ValueError(f"root: an image folder needs at least 2 class sub-folders, found {len(classes)} "
                         f"({', '.join(classes) or 'none'}) in {root!r}")
    images, labels = _read_classes(train_folders + val_folders, classes, image_size)
    x, y = torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64)
    n_train = sum(1 for p in train_folders for f in p.iterdir() if not f.name.startswith("."))
    if not split:
        train, val = _stratified(y, DEFAULT_VAL_FRACTION, 0)
        return _make("folder", x[train], y[train], x[val], y[val], len(classes))
    return _make("folder", x[:n_train], y[:n_train], x[n_train:], y[n_train:], len(classes))


def _listing(root: Path) -> tuple:
    return tuple(sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()))


def load(data: str | Dataset = "digits", resolution: int | None = None, root: str | None = None,
         val_fraction: float | None = None, split_seed: int = 0, image_size: int | None = None) -> Dataset:
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
        image_size: ``folder`` only: resize every image to this many pixels square (bilinear)
            as it is read; None requires all images to share one size.
    """
    if isinstance(split_seed, bool) or not isinstance(split_seed, int):
        raise ValueError(f"split_seed: expected an integer, got {split_seed!r}")
    if image_size is not None and data != "folder":
        raise ValueError(f"image_size: only for data='folder', got data={data!r}")
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
        if image_size is not None:
            _check_resolution(image_size, "image_size")
        folder = Path(root).expanduser().resolve()
        dataset = _folder(str(folder), image_size, _listing(folder) if folder.is_dir() else ())
    if val_fraction is not None:
        dataset = dataset.resplit(val_fraction, split_seed)
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
