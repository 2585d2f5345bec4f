"""Pixel-value and image-size conversions."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def to_float01(images: np.ndarray) -> np.ndarray:
    """float32 images in [0, 1]: uint8 is divided by 255, float input is cast and clipped."""
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255)
    return np.clip(images.astype(np.float32, copy=False), 0.0, 1.0)


def resize_images(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of float images (N, H, W) or (N, H, W, C) to ``size`` = (height, width).

    Antialiased when shrinking (``torch.nn.functional.interpolate``, half-pixel centres), so
    downsampled faces do not alias. Input values in [0, 1]; returns float32 clipped to [0, 1],
    or the input itself if it already has that size.
    """
    if tuple(images.shape[1:3]) == tuple(size):
        return images
    rgb = images.ndim == 4
    batch = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    batch = batch.permute(0, 3, 1, 2) if rgb else batch[:, None]
    out = F.interpolate(
        batch, size=tuple(size), mode="bilinear", align_corners=False, antialias=True
    )
    out = out.permute(0, 2, 3, 1) if rgb else out[:, 0]
    return np.ascontiguousarray(out.clamp_(0.0, 1.0).numpy())


def in_centred_box(images: np.ndarray, box: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Float images (N, H, W) resized to ``box`` = (height, width) and drawn in the middle
    of a blank canvas of ``size``; returns (N, *size) float32 in [0, 1]."""
    if not (0 < box[0] <= size[0] and 0 < box[1] <= size[1]):
        raise ValueError(f"a box of {box} does not fit a canvas of {size}")
    top, left = (size[0] - box[0]) // 2, (size[1] - box[1]) // 2
    out = np.zeros((len(images), *size), dtype=np.float32)
    out[:, top : top + box[0], left : left + box[1]] = resize_images(images, box)
    return out
