"""How training data reaches the network: torch ``Dataset`` views of a split and the order of
their batches, through one ``DataLoader``.

* :class:`TensorImages`: images held in memory (N, C, H, W), any dtype; a whole batch is read
  at once (normalised, bilinearly resized to the resolution), so a worker-free loader adds
  nothing to the step.
* :class:`FileImages`: PNG/JPEG files decoded with Pillow when an item is read (in the loader's
  worker processes), through a view of :mod:`nos.train.transforms`; memory does not grow with
  the number of files.
* :class:`BatchOrder`: the training batches: the split reshuffled each epoch by a generator
  seeded with the training's seed, the ragged tail dropped; under DDP every process takes its
  share of each global batch, so the global batches do not depend on the number of processes.
  Each image of a file data set gets its own augmentation seed from (seed, step, position in
  the global batch): the same crops whatever the workers, processes or restarts.

Pixel statistics (``mean``, ``std``) are per channel, in the images' own units (0-255 for
8-bit images); a batch is ``(x - mean) / std``.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, Sampler

IMAGE_FORMATS = ("PNG", "JPEG")


class TensorImages(Dataset):
    """Images in memory served a batch at a time: ``data[index]`` (a tensor, list or slice of
    positions) is (normalised float32 images at ``resolution`` x ``resolution``, labels)."""

    in_memory = True

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                 resolution: int):
        self.images, self.labels, self.mean, self.std, self.resolution = images, labels, mean, std, resolution

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: torch.Tensor | slice | Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[index].float()
        x = (x - self.mean[:, None, None]) / self.std[:, None, None]
        if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        return x, self.labels[index]

    batch = __getitem__


def decode(path: str, size: int | None = None) -> Image.Image:
    """One PNG/JPEG file as an RGB Pillow image; a JPEG is decoded at the smallest scale (1/2,
    1/4, 1/8) whose shorter side stays >= ``size``. A ValueError names the file."""
    try:
        with Image.open(path) as image:
            if image.format not in IMAGE_FORMATS:
                raise ValueError(f"root: {path!r} is a {image.format} image (allowed: PNG, JPEG)")
            if size is not None and image.format == "JPEG":
                image.draft("RGB", (size, size))
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"root: {path!r} is not a readable PNG or JPEG image ({err})") from None


class FileImages(Dataset):
    """Image files, decoded when read: ``data[i]`` or ``data[(i, seed)]`` is (normalised float32
    image (3, resolution, resolution), label) through ``view`` (a transform of
    :mod:`nos.train.transforms`), random draws from ``random.Random(seed)``."""

    in_memory = False

    def __init__(self, files: Sequence[str], labels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                 view: Callable[[Image.Image, random.Random | None], Image.Image]):
        self.files, self.labels, self.mean, self.std, self.view = files, labels, mean, std, view

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed = item if isinstance(item, tuple) else (item, None)
        image = self.view(decode(self.files[index], self.view.decode_size),
                          None if seed is None else random.Random(seed))
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float()
        return (x - self.mean[:, None, None]) / self.std[:, None, None], self.labels[index]

    def batch(self, index: torch.Tensor | slice | Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The images at ``index`` stacked (no random draws), with their labels."""
        positions = range(len(self))[index] if isinstance(index, slice) else torch.as_tensor(index).tolist()
        items = [self[i] for i in positions]
        if not items:
            return torch.empty(0, 3, self.view.resolution, self.view.resolution), self.labels[:0]
        return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])


def draw_seed(seed: int, step: int, position: int) -> int:
    """The augmentation seed of the image at ``position`` of global batch ``step``."""
    return (seed * 2**32 + step) * 2**16 + position


class BatchOrder(Sampler):
    """The training batches of steps ``start`` .. ``steps - 1`` for this process (``rank`` of
    ``processes``): index tensors, or (index, augmentation seed) lists when ``draws``."""

    def __init__(self, size: int, batch_size: int, steps: int, seed: int, start: int = 0, rank: int = 0,
                 processes: int = 1, draws: bool = False):
        if batch_size % processes:
            raise ValueError(f"budget.batch_size: {batch_size} images do not split evenly over {processes} processes")
        self.size, self.batch_size, self.steps, self.seed, self.start = size, batch_size, steps, seed, start
        share = batch_size // processes
        self.mine = slice(rank * share, (rank + 1) * share)
        self.draws = draws

    def __len__(self) -> int:
        return self.steps - self.start

    def __iter__(self) -> Iterator[torch.Tensor | list[tuple[int, int]]]:
        generator = torch.Generator().manual_seed(self.seed)
        order = torch.empty(0, dtype=torch.long)
        for step in range(self.steps):
            if len(order) < self.batch_size:  # reshuffle each epoch; drop the ragged tail
                order = torch.randperm(self.size, generator=generator)
            index, order = order[: self.batch_size], order[self.batch_size:]
            if step < self.start:
                continue
            local = index[self.mine]
            if not self.draws:
                yield local
            else:
                yield [(i, draw_seed(self.seed, step, self.mine.start + j)) for j, i in enumerate(local.tolist())]


class EvalOrder(Sampler):
    """Validation batches of ``batch_size`` over this process's contiguous share of ``size``
    images: slices (in-memory data) or index lists (files)."""

    def __init__(self, size: int, batch_size: int, rank: int = 0, processes: int = 1, as_slices: bool = True):
        self.begin, self.end = rank * size // processes, (rank + 1) * size // processes
        self.batch_size, self.as_slices = batch_size, as_slices

    def __len__(self) -> int:
        return -(-(self.end - self.begin) // self.batch_size)

    def __iter__(self) -> Iterator[slice | list[int]]:
        for start in range(self.begin, self.end, self.batch_size):
            stop = min(start + self.batch_size, self.end)
            yield slice(start, stop) if self.as_slices else list(range(start, stop))


def loader(data: Dataset, order: Sampler, workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """The ``DataLoader`` of ``data`` in ``order``: whole batches of in-memory data, items of files
    collated; ``workers`` processes. Its generator is its own, so the global torch RNG (dropout)
    advances exactly as without a loader."""
    options = dict(num_workers=workers, pin_memory=pin_memory, generator=torch.Generator().manual_seed(0))
    if getattr(data, "in_memory", False):
        return DataLoader(data, sampler=order, batch_size=None, **options)
    return DataLoader(data, batch_sampler=order, **options)
