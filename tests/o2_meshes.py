"""Non-orientable meshes made on the spot, so that the O(2) tests need no shared data."""

from __future__ import annotations

import numpy as np


def _quads(corners: np.ndarray) -> np.ndarray:
    """Two triangles ``(a, b, c), (a, c, d)`` per quad ``[..., 4]`` of vertex ids."""
    a, b, c, d = (corners[..., k].ravel() for k in range(4))
    return np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])


def moebius_strip(n_u: int = 24, n_v: int = 5, width: float = 0.4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Moebius strip: ``n_u`` columns around, ``n_v`` (odd) rows across.

    Returns:
        ``(pos [V, 3], faces [F, 3], core [n_u])``: the core loop runs along the middle row.
    """
    assert n_v % 2 == 1
    u = np.arange(n_u) * 2 * np.pi / n_u
    v = np.linspace(-width, width, n_v)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    ring = 1 + vv * np.cos(uu / 2)
    pos = np.stack([ring * np.cos(uu), ring * np.sin(uu), vv * np.sin(uu / 2)], -1).reshape(-1, 3)
    index = np.arange(n_u * n_v).reshape(n_u, n_v)
    nxt = np.concatenate([index[1:], index[:1, ::-1]])  # the last column joins the first, turned over
    corners = np.stack([index[:, :-1], nxt[:, :-1], nxt[:, 1:], index[:, 1:]], -1)
    return pos, _quads(corners), index[:, n_v // 2]


def klein_bottle(n_u: int = 24, n_v: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A closed non-orientable surface (the figure-8 immersion of the Klein bottle; it crosses
    itself in space, which the intrinsic geometry never sees). ``(u + 2 pi, v) ~ (u, -v)``."""
    u = np.arange(n_u) * 2 * np.pi / n_u
    v = (np.arange(n_v) + 0.5) * 2 * np.pi / n_v  # never 0 or pi, where the immersion meets itself
    uu, vv = np.meshgrid(u, v, indexing="ij")
    tube = np.cos(uu / 2) * np.sin(vv) - np.sin(uu / 2) * np.sin(2 * vv)
    pos = np.stack([(2 + tube) * np.cos(uu), (2 + tube) * np.sin(uu),
                    np.sin(uu / 2) * np.sin(vv) + np.cos(uu / 2) * np.sin(2 * vv)], -1).reshape(-1, 3)
    index = np.arange(n_u * n_v).reshape(n_u, n_v)
    nxt = np.concatenate([index[1:], index[:1, ::-1]])  # v_k -> -v_k is row n_v - 1 - k
    up, nxt_up = np.roll(index, -1, axis=1), np.roll(nxt, -1, axis=1)
    return pos, _quads(np.stack([index, nxt, nxt_up, up], -1))
