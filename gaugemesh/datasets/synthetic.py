"""A synthetic segmentation dataset that needs orientation-sensitive filters.

Each mesh is a deformed sphere (2562 vertices) or torus (2016 vertices) carrying a few
raised patterns, labelled per vertex:

- 0 ``base``: the surface itself;
- 1 ``bump``: a round Gaussian bump;
- 2 ``s_ridge``: a thin ridge along an S-shaped curve ``v = A sin(pi u / L)``;
- 3 ``z_ridge``: the mirror image of an S ridge (``v = -A sin(pi u / L)``).

Bumps and ridges cover the same area. S and Z ridges are mirror images: every rotation- and
reflection-invariant quantity (HKS, curvatures, distances) is the same on both, so an
isotropic network can only guess between classes 2 and 3, while a gauge-equivariant one
(SO(2), not O(2)) can tell them apart from the surface's orientation. Meshes are randomly
rotated, scaled and translated; all pass :func:`~gaugemesh.validate_mesh` without repair.
Deterministic given the seed: mesh ``i`` depends only on ``(seed, i)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from gaugemesh.geometry.measures import vertex_normals

__all__ = ["CLASSES", "SYNTHETIC_VERSION", "synthetic_mesh", "make_synthetic"]

CLASSES = ("base", "bump", "s_ridge", "z_ridge")
SYNTHETIC_VERSION = 2

# Pattern geometry, for a base surface of unit size (edge length ~0.08).
_HEIGHT, _WIDTH, _HALF_LENGTH, _AMPLITUDE = 0.12, 0.12, 0.42, 0.16
_THRESHOLD = 0.3  # a vertex belongs to a pattern where its profile exceeds this fraction of the height
_SEPARATION = 0.65  # minimal chord distance between pattern centres
# Up to this many patterns per mesh: enough that the base is only about half the vertices,
# so that a high vertex accuracy means the patterns were segmented (S vs Z included).
_PATTERNS = 12


def _sphere() -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    s = trimesh.creation.icosphere(4)
    return np.asarray(s.vertices, dtype=np.float64), np.asarray(s.faces, dtype=np.int64)


def _torus(n_major: int = 72, n_minor: int = 28, major: float = 1.0, minor: float = 0.42):
    a, b = np.meshgrid(np.arange(n_major) * 2 * np.pi / n_major, np.arange(n_minor) * 2 * np.pi / n_minor, indexing="ij")
    ring = major + minor * np.cos(b)
    pos = np.stack([ring * np.cos(a), ring * np.sin(a), minor * np.sin(b)], axis=-1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(n_major), np.arange(n_minor), indexing="ij")
    v00, v10 = i * n_minor + j, ((i + 1) % n_major) * n_minor + j
    v01, v11 = i * n_minor + (j + 1) % n_minor, ((i + 1) % n_major) * n_minor + (j + 1) % n_minor
    # Counter-clockwise seen from outside: d(pos)/da x d(pos)/db points outward.
    faces = np.concatenate([np.stack([v00, v10, v11], -1).reshape(-1, 3), np.stack([v00, v11, v01], -1).reshape(-1, 3)])
    return pos, faces


def _curve(cls: int) -> np.ndarray:
    """Points ``[K, 2]`` of the pattern's skeleton in its chart; a single point for bumps."""
    if cls == 1:
        return np.zeros((1, 2))
    u = np.linspace(-_HALF_LENGTH, _HALF_LENGTH, 160)
    sign = 1.0 if cls == 2 else -1.0
    return np.stack([u, sign * _AMPLITUDE * np.sin(np.pi * u / _HALF_LENGTH)], axis=1)


def _bump_width() -> float:
    """Gaussian width of a bump whose labelled disc has the area of a ridge's labelled strip."""
    reach = np.sqrt(2 * np.log(1 / _THRESHOLD))
    skeleton = _curve(2)
    length = np.linalg.norm(np.diff(skeleton, axis=0), axis=1).sum()
    half = _WIDTH * reach
    area = 2 * half * length + np.pi * half**2
    return np.sqrt(area / np.pi) / reach


def _centres(rng, pos, normals, count) -> list[int]:
    chosen: list[int] = []
    for candidate in rng.permutation(len(pos)):
        if all(np.linalg.norm(pos[candidate] - pos[c]) > _SEPARATION for c in chosen):
            chosen.append(int(candidate))
            if len(chosen) == count:
                break
    return chosen


def _profile(rng, pos, normals, centre, cls) -> np.ndarray:
    """Height fraction ``[V]`` in [0, 1] of one pattern placed at vertex ``centre``."""
    n = normals[centre]
    t1 = np.cross(n, rng.standard_normal(3))
    t1 /= np.linalg.norm(t1)
    t2 = np.cross(n, t1)  # right-handed chart (t1, t2, n): mirror images stay mirror images
    rel = pos - pos[centre]
    local = np.stack([rel @ t1, rel @ t2], axis=1)
    near = (np.abs(rel @ n) < 0.3) & (normals @ n > 0.3) & (np.linalg.norm(local, axis=1) < 1.0)
    width = _WIDTH if cls != 1 else _bump_width()
    dist = np.full(len(pos), np.inf)
    dist[near] = np.linalg.norm(local[near, None, :] - _curve(cls)[None], axis=2).min(axis=1)
    return np.exp(-0.5 * (dist / width) ** 2)


def _random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q * np.sign(np.linalg.det(q))


def synthetic_mesh(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One synthetic mesh: ``(pos [V, 3], faces [F, 3], labels [V])``."""
    pos, faces = _sphere() if rng.random() < 0.5 else _torus()
    pos = pos * rng.uniform(0.85, 1.15, size=3)  # an ellipsoid or squashed torus
    normals = vertex_normals(pos, faces)
    heights = np.zeros(len(pos))
    labels = np.zeros(len(pos), dtype=np.int64)
    for centre in _centres(rng, pos, normals, _PATTERNS):
        cls = int(rng.integers(1, len(CLASSES)))
        profile = _profile(rng, pos, normals, centre, cls)
        labels[(profile > _THRESHOLD) & (profile > heights)] = cls
        heights = np.maximum(heights, profile)
    pos = pos + _HEIGHT * heights[:, None] * normals
    pos = rng.uniform(0.5, 2.0) * pos @ _random_rotation(rng).T + rng.uniform(-1, 1, 3)
    return pos, faces, labels


def _write_off(path: Path, pos: np.ndarray, faces: np.ndarray) -> None:
    """Six decimals, as the dataset has always been written (the files, and so the demo's
    numbers, stay the same bit for bit)."""
    import trimesh

    path.write_text(trimesh.exchange.off.export_off(trimesh.Trimesh(pos, faces, process=False), digits=6))


def make_synthetic(root: os.PathLike, num: int = 200, seed: int = 0, test_fraction: float = 0.2) -> list[str]:
    """Write the synthetic dataset in the generic layout; returns the mesh names.

    ``root/synth_<i>.off`` and ``root/synth_<i>.txt`` (labels per vertex), ``train.txt`` and
    ``test.txt`` (the last ``test_fraction`` of the meshes), ``classes.txt`` and
    ``synthetic.json`` (the parameters).
    """
    if num < 1:
        raise ValueError(f"num must be at least 1, got {num}.")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = [f"synth_{i:04d}" for i in range(num)]
    for name, child in zip(names, np.random.SeedSequence(seed).spawn(num)):
        pos, faces, labels = synthetic_mesh(np.random.default_rng(child))
        _write_off(root / f"{name}.off", pos, faces)
        (root / f"{name}.txt").write_text("\n".join(map(str, labels)) + "\n")
    num_test = int(round(test_fraction * num))
    (root / "train.txt").write_text("".join(f"{n}\n" for n in names[: num - num_test]))
    (root / "test.txt").write_text("".join(f"{n}\n" for n in names[num - num_test:]))
    (root / "classes.txt").write_text("".join(f"{c}\n" for c in CLASSES))
    info = {"generator": "gaugemesh.datasets.synthetic", "version": SYNTHETIC_VERSION, "seed": seed, "num": num,
            "classes": list(CLASSES)}
    (root / "synthetic.json").write_text(json.dumps(info, indent=2) + "\n")
    return names
