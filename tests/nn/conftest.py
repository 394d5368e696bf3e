"""Shared fixtures for the layer tests: dtypes, random geometry, a real mesh."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import gaugemesh
from gaugemesh.testing import random_mesh_data

DTYPES = [torch.float32, torch.float64]
MESH_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "test_meshes" / "odedstein"


def real_mesh_data(name: str = "spot_low_resolution.obj", dtype: torch.dtype = torch.float64):
    """A real mesh through ``load_mesh`` and ``mesh_to_data``; an icosphere when the shared
    datasets are absent (the test still runs, on a mesh made here)."""
    path = MESH_DIR / name
    if path.exists():
        mesh = gaugemesh.load_mesh(path)
    else:
        import trimesh

        sphere = trimesh.creation.icosphere(2)
        mesh = gaugemesh.validate_mesh(sphere.vertices, sphere.faces)
    return gaugemesh.mesh_to_data(mesh, dtype=dtype)


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request) -> torch.dtype:
    return request.param


@pytest.fixture
def graph(dtype):
    """Random-angle icosphere (42 vertices) in ``dtype``."""
    return random_mesh_data(1, dtype=dtype, seed=0)


@pytest.fixture(scope="session")
def spot64():
    return real_mesh_data(dtype=torch.float64)
