"""The image transforms of file data sets, on Pillow images (torchvision does not load beside the
CPU torch here, so these are the project's own, after torchvision's definitions).

* Training, :class:`Augment`: a random resized crop (a box of 8-100 % of the image's area with an
  aspect ratio in [3/4, 4/3], at most :data:`ATTEMPTS` draws, else the largest centred box in that
  ratio range) resized to the resolution, then a horizontal flip with probability 1/2.
* Validation, :class:`CentreView`: the centred square of :data:`CROP_FRACTION` of the shorter
  side (resize the shorter side to ``resolution / 0.875``, then crop the centre), resized to
  the resolution.

Crop and resize are one Pillow call (``Image.resize(size, BILINEAR, box=...)``: bilinear,
antialiased when shrinking). Randomness comes from the ``random.Random`` the caller passes, so a
draw depends only on its seed (not on which worker process runs it).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image

SCALE = (0.08, 1.0)  # area fraction of a random crop
RATIO = (3 / 4, 4 / 3)  # aspect ratio (width / height) of a random crop
ATTEMPTS = 10
CROP_FRACTION = 0.875  # validation: centre square of this fraction of the shorter side (224 of 256)
Box = tuple[float, float, float, float]  # (left, top, right, bottom) in pixels


def random_resized_box(width: int, height: int, rng: random.Random, scale: tuple[float, float] = SCALE,
                       ratio: tuple[float, float] = RATIO) -> Box:
    """A random crop box of a ``width`` x ``height`` image: area fraction uniform in ``scale``,
    log aspect ratio uniform in ``log(ratio)``, position uniform; after :data:`ATTEMPTS` boxes
    that do not fit, the largest centred box with an aspect ratio in ``ratio``."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(ATTEMPTS):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            return left, top, left + w, top + h
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif aspect > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def centre_box(width: int, height: int, fraction: float = CROP_FRACTION) -> Box:
    """The centred square of ``fraction`` of the shorter side."""
    side = fraction * min(width, height)
    return (width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2


@dataclass(frozen=True)
class Augment:
    """Training view: random resized crop to ``resolution`` x ``resolution``, random horizontal flip."""

    resolution: int

    @property
    def decode_size(self) -> int:
        """The smallest side a JPEG may be decoded at (``Image.draft``) without losing pixels of
        the smallest crop: sqrt(8 % x 3/4) = 0.245 of the shorter side."""
        return math.ceil(self.resolution / math.sqrt(SCALE[0] * RATIO[0]))

    def __call__(self, image: Image.Image, rng: random.Random) -> Image.Image:
        box = random_resized_box(*image.size, rng)
        image = image.resize((self.resolution, self.resolution), Image.Resampling.BILINEAR, box=box)
        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else image


@dataclass(frozen=True)
class CentreView:
    """Validation view: the centre crop of :data:`CROP_FRACTION` resized to ``resolution``."""

    resolution: int

    @property
    def decode_size(self) -> int:
        return math.ceil(self.resolution / CROP_FRACTION)

    def __call__(self, image: Image.Image, rng: random.Random | None = None) -> Image.Image:
        return image.resize((self.resolution, self.resolution), Image.Resampling.BILINEAR,
                            box=centre_box(*image.size))
