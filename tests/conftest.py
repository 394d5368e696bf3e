"""Shared fixtures: where the real data lives, and small meshes made on the spot."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
TEST_MESHES = SHARED / "test_meshes"


#: Devices for tests that must hold everywhere: CUDA runs wherever torch sees a GPU (marker
#: ``cuda``, so ``pytest -m cuda`` runs those alone) and is skipped, with the reason, elsewhere.
CUDA = pytest.param("cuda", marks=[
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; torch.cuda.is_available() is False"),
])
DEVICES = ["cpu", CUDA]


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same random state, whatever ran before it (as e3nn's
    conftest does): a test that draws without its own generator is still reproducible, alone
    or in the suite."""
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Every device this machine has: ``"cpu"``, and ``"cuda"`` where torch sees a GPU."""
    return request.param


def require(path: Path) -> Path:
    """Skip the calling test, with the reason, when shared data is absent."""
    if not path.exists():
        pytest.skip(f"shared dataset not found at {path} (expected beside the repository)")
    return path


@pytest.fixture(scope="session")
def test_meshes_dir() -> Path:
    return require(TEST_MESHES)


@pytest.fixture(scope="session")
def mesh_properties(test_meshes_dir) -> dict[str, dict[str, str]]:
    with open(test_meshes_dir / "mesh_properties.tsv") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


def grid(n: int = 6, jitter: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A flat ``n x n`` vertex grid in the z = 0 plane, triangulated counter-clockwise."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float), indexing="xy")
    pos = np.stack([x.ravel(), y.ravel(), np.zeros(n * n)], axis=1)
    pos[:, :2] += jitter * rng.uniform(-1, 1, (n * n, 2))
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel(), idx[1:, :-1].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return pos, faces


def icosphere(subdivisions: int = 2) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions)
    return np.asarray(sphere.vertices, dtype=float), np.asarray(sphere.faces, dtype=np.int64)


@pytest.fixture(scope="module")
def meshes64():
    """Hierarchies of a few small meshes in float64 (:func:`tests.hierarchy.test_data.hierarchy_meshes`)."""
    from tests.hierarchy.test_data import hierarchy_meshes

    return hierarchy_meshes(torch.float64)


@pytest.fixture(scope="module")
def meshes32():
    """The same in float32."""
    from tests.hierarchy.test_data import hierarchy_meshes

    return hierarchy_meshes(torch.float32)
