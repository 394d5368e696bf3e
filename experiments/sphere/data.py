"""Spherical digits: scikit-learn's 8x8 handwritten digits projected onto the sphere.

An image lies in the plane of a stereographic projection from the south pole,
``(u, v) = (x, y) / (1 + z)``: the north pole is the image centre and the image square
``[-extent, extent]^2`` covers a cap around it (``extent = 1`` reaches the equator at the
middle of the sides). The signal at a point of the sphere is the bilinear interpolation of
the pixels (zero outside the image), so it is defined everywhere and a rotated digit is
sampled exactly: ``f_R(x) = f(R^T x)`` at any point, on a mesh or on a grid.
"""

from __future__ import annotations

import numpy as np

__all__ = ["equirectangular_grid", "image_on_sphere", "load_digits", "stratified_split"]

MISSING_SKLEARN = ("the spherical digits need scikit-learn (its 8x8 digits dataset): "
                   ".venv/bin/python -m pip install scikit-learn")


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits, scaled to ``[0, 1]``.

    Shapes:
        returns images ``[1797, 8, 8]`` float64 and labels ``[1797]`` int64.

    Raises:
        ModuleNotFoundError: scikit-learn is not installed (the message says how to install it).
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as error:
        raise ModuleNotFoundError(MISSING_SKLEARN) from error
    digits = sklearn_digits()
    return np.asarray(digits.images, dtype=np.float64) / 16.0, np.asarray(digits.target, dtype=np.int64)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train / test split with the same class proportions (seeded).

    Shapes:
        labels: ``[N]``; returns train ``[N_train]`` and test ``[N_test]``, sorted.
    """
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.nonzero(labels == label)[0])
        cut = int(round(test_fraction * len(members)))
        test.append(members[:cut])
        train.append(members[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def image_on_sphere(images: np.ndarray, points: np.ndarray, extent: float = 1.0,
                    rotations: np.ndarray | None = None) -> np.ndarray:
    """Images projected onto the sphere, sampled at ``points`` (each image rotated by its
    rotation ``R``: sampled at ``R^T x``).

    Row 0 of an image is its top (``v = +extent``), column 0 its left (``u = -extent``).

    Args:
        images: Greyscale images.
        points: Points of the sphere (normalised here).
        extent: Half the side of the image square in the stereographic plane.
        rotations: One rotation per image, or ``None``.

    Shapes:
        images: ``[B, H, W]``; points: ``[N, 3]``; rotations: ``[B, 3, 3]``; returns ``[B, N]``.
    """
    images = np.asarray(images, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64)
    points = points / np.linalg.norm(points, axis=1, keepdims=True)
    batch, height, width = images.shape
    if rotations is None:
        local = np.broadcast_to(points, (batch, *points.shape))
    else:
        local = np.einsum("nd,bde->bne", points, np.asarray(rotations, dtype=np.float64))  # rows x^T R
    denominator = 1.0 + local[..., 2]
    near_south = denominator < 1e-9  # the south pole goes to infinity: outside any image
    denominator = np.where(near_south, 1.0, denominator)
    u, v = local[..., 0] / denominator, local[..., 1] / denominator
    column = (u + extent) / (2 * extent) * width - 0.5 + 1  # +1: one pixel of zero padding
    row = (extent - v) / (2 * extent) * height - 0.5 + 1
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    inside = (column >= 0) & (column <= width + 1) & (row >= 0) & (row <= height + 1) & ~near_south
    column, row = np.clip(column, 0, width + 1), np.clip(row, 0, height + 1)
    c0, r0 = np.minimum(np.floor(column).astype(int), width), np.minimum(np.floor(row).astype(int), height)
    dc, dr = column - c0, row - r0
    index = np.arange(batch)[:, None]
    value = ((1 - dr) * (1 - dc) * padded[index, r0, c0] + (1 - dr) * dc * padded[index, r0, c0 + 1]
             + dr * (1 - dc) * padded[index, r0 + 1, c0] + dr * dc * padded[index, r0 + 1, c0 + 1])
    return np.where(inside, value, 0.0)


def equirectangular_grid(rows: int, columns: int) -> np.ndarray:
    """Cell centres of a latitude-longitude grid: row 0 at the north pole, columns in
    increasing longitude, as a planar CNN sees the sphere.

    Shapes:
        returns ``[rows * columns, 3]`` (row-major).
    """
    polar = np.pi * (np.arange(rows) + 0.5) / rows
    azimuth = 2 * np.pi * (np.arange(columns) + 0.5) / columns
    p, a = np.meshgrid(polar, azimuth, indexing="ij")
    return np.stack([np.sin(p) * np.cos(a), np.sin(p) * np.sin(a), np.cos(p)], -1).reshape(-1, 3)
