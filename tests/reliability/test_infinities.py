"""Issue 15, defect 10: coordinates whose geometry overflows must be refused, not turned into inf.

float32 ``area`` overflows from coordinates of about 1e20 (areas of 1e40), ``pos`` itself from
1e39; float64 areas overflow from about 1e77 and underflow below 1e-77. Each is refused with
a one-line MeshError that says what overflowed and how to fix it; a mesh in range still works.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaugemesh import Mesh, MeshError, mesh_to_data, validate_mesh
from gaugemesh.mesh import MAX_COORDINATE, MIN_EXTENT
from tests.conftest import icosphere

POS, FACES = icosphere(1)
GEOMETRY = ("pos", "frame", "theta", "transport", "edge_weight", "area")


def _refused(call, *patterns: str) -> str:
    with pytest.raises(MeshError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    for pattern in patterns:
        assert pattern in message, message
    return message


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_positions_are_refused(bad):
    pos = POS.copy()
    pos[3, 1] = bad
    _refused(lambda: validate_mesh(pos, FACES), "NaN or infinite coordinates", "(e.g. 3)")


@pytest.mark.parametrize(("scale", "key"), [(1e20, "area"), (1e39, "pos")])
def test_float32_overflow_is_refused_before_the_cast(scale, key):
    mesh = validate_mesh(POS * scale, FACES)
    _refused(lambda: mesh_to_data(mesh, dtype=torch.float32), f"mesh_to_data: {key} reaches",
             "torch.float32", "rescale the mesh", "dtype=torch.float64")
    data = mesh_to_data(mesh, dtype=torch.float64)  # the same mesh fits a wider dtype
    assert all(torch.isfinite(data[k]).all() for k in GEOMETRY)


def test_half_precision_overflow_names_the_dtype():
    mesh = validate_mesh(POS * 1e3, FACES)  # areas of about 1e5 > 65504
    _refused(lambda: mesh_to_data(mesh, dtype=torch.float16), "area reaches", "torch.float16")


def test_largest_float32_safe_scale_still_converts():
    data = mesh_to_data(validate_mesh(POS * 1e18, FACES), dtype=torch.float32)
    assert all(torch.isfinite(data[k]).all() for k in GEOMETRY)


@pytest.mark.parametrize("scale", [1e100, 1e300])
def test_float64_overflow_is_refused_in_validation(scale):
    # Before: "degenerate faces" at 1e155 and NaN edge weights at 1e150; the real cause is overflow.
    _refused(lambda: validate_mesh(POS * scale, FACES), "coordinates reach", "overflow float64", "rescale the mesh")


def test_float64_underflow_is_refused_in_validation():
    _refused(lambda: validate_mesh(POS * 1e-150, FACES), "spans only", "underflow float64", "rescale the mesh")


@pytest.mark.parametrize("scale", [MAX_COORDINATE / 2, MIN_EXTENT * 2])
def test_extreme_scales_inside_the_limits_stay_finite(scale):
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no inf or NaN on the way either
        data = mesh_to_data(validate_mesh(POS * scale, FACES), dtype=torch.float64)
    assert all(torch.isfinite(data[k]).all() for k in GEOMETRY)
    torch.testing.assert_close(data.edge_weight.sum(), torch.tensor(float(len(POS)), dtype=torch.float64))


def test_unvalidated_mesh_with_infinite_positions_is_refused():
    good = validate_mesh(POS, FACES)
    pos = good.pos.copy()
    pos[0, 0] = np.inf
    bypass = Mesh(pos, good.faces, good.vertex_map, good.face_map)
    _refused(lambda: mesh_to_data(bypass), "mesh_to_data: pos is not finite", "validate_mesh")
