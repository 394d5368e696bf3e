"""Small datasets written on the spot, in each layout, for reader, cache and CLI tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaugemesh.datasets.layouts.meshcnn import meshcnn_edges
from gaugemesh.features import FeatureOptions
from tests.conftest import icosphere

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

#: Cheap feature settings for tests (few eigenpairs on small meshes).
FAST = FeatureOptions(hks_count=4, grad_count=2, eigs=16)


def write_obj(path: Path, pos: np.ndarray, faces: np.ndarray) -> None:
    lines = [f"v {x:.9f} {y:.9f} {z:.9f}" for x, y, z in pos] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


def write_off(path: Path, pos: np.ndarray, faces: np.ndarray) -> None:
    lines = ["OFF", f"{len(pos)} {len(faces)} 0"] + [f"{x:.9f} {y:.9f} {z:.9f}" for x, y, z in pos]
    path.write_text("\n".join(lines + [f"3 {a} {b} {c}" for a, b, c in faces]) + "\n")


def sphere(seed: int, subdivisions: int = 1) -> tuple[np.ndarray, np.ndarray]:
    pos, faces = icosphere(subdivisions)
    rng = np.random.default_rng(seed)
    return pos * rng.uniform(0.7, 1.3, 3) + rng.uniform(-1, 1, 3), faces


def make_generic(root: Path, num: int = 4, subdivisions: int = 1) -> Path:
    """Spheres with per-vertex labels ``z > 0`` in the generic layout, all in ``train``."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(num):
        pos, faces = sphere(i, subdivisions)
        write_off(root / f"m{i}.off", pos, faces)
        labels = (pos[:, 2] > pos[:, 2].mean()).astype(int)
        (root / f"m{i}.txt").write_text("\n".join(map(str, labels)) + "\n")
    (root / "train.txt").write_text("".join(f"m{i}\n" for i in range(num)))
    return root


def make_meshcnn(root: Path, num: int = 2) -> Path:
    """Spheres with per-edge labels (1 + [midpoint above the middle]) in MeshCNN's layout."""
    for sub in ("train", "seg", "sseg"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("1\n2\n")
    for i in range(num):
        pos, faces = sphere(i)
        write_obj(root / "train" / f"m{i}.obj", pos, faces)
        edges, _ = meshcnn_edges(faces)
        hard = 1 + (pos[edges].mean(axis=1)[:, 2] > pos[:, 2].mean()).astype(int)
        (root / "seg" / f"m{i}.eseg").write_text("\n".join(map(str, hard)) + "\n")
        soft = np.eye(2)[hard - 1]
        (root / "sseg" / f"m{i}.seseg").write_text("\n".join(" ".join(f"{v:.6f}" for v in row) for row in soft) + "\n")
    return root
