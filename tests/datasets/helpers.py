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


def write_ply(path: Path, pos: np.ndarray, faces: np.ndarray, vertex: dict | None = None,
              face: dict | None = None) -> None:
    """An ASCII PLY with extra integer ``vertex`` and ``face`` properties (``{name: [N] ints}``);
    properties named ``red``, ``green``, ``blue`` are written as ``uchar`` colours."""
    vertex, face = vertex or {}, face or {}

    def declare(props):
        return [f"property {'uchar' if n in ('red', 'green', 'blue') else 'int'} {n}" for n in props]

    header = ["ply", "format ascii 1.0", f"element vertex {len(pos)}", "property double x", "property double y",
              "property double z", *declare(vertex), f"element face {len(faces)}",
              "property list uchar int vertex_indices", *declare(face), "end_header"]
    rows = [" ".join([f"{x:.9f} {y:.9f} {z:.9f}", *(str(int(v[i])) for v in vertex.values())])
            for i, (x, y, z) in enumerate(pos)]
    rows += [" ".join(["3", *map(str, f), *(str(int(v[i])) for v in face.values())]) for i, f in enumerate(faces)]
    path.write_text("\n".join(header + rows) + "\n")


def write_obj_parts(path: Path, pos: np.ndarray, faces: np.ndarray, parts: list[str], statement: str = "usemtl",
                    colors: np.ndarray | None = None) -> None:
    """An OBJ whose faces are grouped by ``statement`` (``g`` or ``usemtl``) with the name
    ``parts[face]``, written in face order (names repeat when parts alternate), with optional
    vertex colours (floats in 0..1)."""
    lines = [f"v {x:.9f} {y:.9f} {z:.9f}" + ("" if colors is None else " " + " ".join(f"{c:.6f}" for c in colors[i]))
             for i, (x, y, z) in enumerate(pos)]
    current = None
    for face, part in zip(faces, parts):
        if part != current:
            lines.append(f"{statement} {part}")
            current = part
        lines.append("f " + " ".join(str(v + 1) for v in face))
    path.write_text("\n".join(lines) + "\n")
