"""Issue 15, defect 11: library entry points refuse arguments they would silently mangle.

``mesh_to_data(dtype=torch.int64)`` truncated angles to integers; complex positions lost their
imaginary part; ``FieldType("")`` and ``FieldType.band(8, -1)`` were empty types; NaN angles
passed through ``gauge_transform`` into every layer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from gaugemesh import ComputeFrameField, FieldType, MeshError, RandomGauge, gauge_transform, mesh_to_data, validate_mesh
from tests.conftest import icosphere

POS, FACES = icosphere(1)


@pytest.fixture(scope="module")
def data() -> Data:
    return mesh_to_data(validate_mesh(POS, FACES), dtype=torch.float64)


# -- mesh_to_data(dtype=...) ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.complex64, "float32", np.float32])
def test_mesh_to_data_requires_a_real_floating_dtype(dtype):
    mesh = validate_mesh(POS, FACES)
    with pytest.raises(TypeError, match=r"^mesh_to_data: dtype must be a real floating torch dtype") as info:
        mesh_to_data(mesh, dtype=dtype)
    assert "\n" not in str(info.value)


def test_mesh_to_data_keeps_floating_dtypes(data):
    assert data.theta.dtype == torch.float64
    assert mesh_to_data(validate_mesh(POS, FACES), dtype=torch.bfloat16).theta.dtype == torch.bfloat16


# -- complex positions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("imaginary", [0.0, 0.5])
def test_validate_mesh_refuses_complex_positions(imaginary):
    with pytest.raises(MeshError, match=r"^positions are complex \(complex128\); pass real arrays"):
        validate_mesh(POS + 1j * imaginary, FACES)


def test_validate_mesh_refuses_complex_faces():
    with pytest.raises(MeshError, match=r"^face indices are complex"):
        validate_mesh(POS, FACES.astype(np.complex128))


def test_geometry_transform_refuses_complex_positions():
    raw = Data(pos=torch.tensor(POS, dtype=torch.complex64), face=torch.tensor(FACES.T))
    with pytest.raises(MeshError, match=r"^positions are complex"):
        ComputeFrameField()(raw)


# -- FieldType ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["", "   "])
def test_empty_field_type_string_is_refused(spec):
    with pytest.raises(ValueError, match=r"^Empty field type string .*'0x0'"):
        FieldType(spec)


@pytest.mark.parametrize(("channels", "max_order"), [(8, -1), (-1, 2), (8, -5)])
def test_band_refuses_negative_arguments(channels, max_order):
    with pytest.raises(ValueError, match=rf"^FieldType.band needs .*got band\({channels}, {max_order}\)"):
        FieldType.band(channels, max_order)


def test_deliberately_empty_types_still_work():
    # GatedNonlinearity adds scalars(0) gates to an all-scalar type; str() of the empty type is "0x0".
    empty = FieldType.scalars(0)
    assert empty.dim == 0 and empty == FieldType("0x0") == FieldType([]) == FieldType(str(empty))
    assert FieldType("4x0") + empty == FieldType("4x0")
    assert FieldType.band(2, 0) == FieldType("2x0")


# -- gauge_transform -------------------------------------------------------------------------------------


def _phi(n: int) -> torch.Tensor:
    return (torch.rand(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1) * math.pi


@pytest.mark.parametrize("key", ["theta", "transport"])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_gauge_transform_refuses_non_finite_angles(data, key, bad):
    broken = data.clone()
    broken[key] = broken[key].clone()
    broken[key][5] = bad
    with pytest.raises(ValueError, match=rf"^gauge_transform: NaN or infinite angles in {key} \(1 of ") as info:
        gauge_transform(broken, _phi(data.num_nodes))
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=rf"in {key}"):  # the augmentation goes through the same check
        RandomGauge(generator=torch.Generator().manual_seed(0))(broken)


def test_gauge_transform_refuses_bad_phi(data):
    phi = _phi(data.num_nodes)
    phi[0] = math.nan
    with pytest.raises(ValueError, match=r"^gauge_transform: NaN or infinite angles in phi \(1 of "):
        gauge_transform(data, phi)
    with pytest.raises(ValueError, match=rf"^gauge_transform: phi must have shape \[V\] = \[{data.num_nodes}\]"):
        gauge_transform(data, _phi(data.num_nodes - 1))
    with pytest.raises(TypeError, match=r"^gauge_transform: phi must be real"):
        gauge_transform(data, _phi(data.num_nodes) * (1 + 0j))


def test_gauge_transform_still_transforms(data):
    phi = _phi(data.num_nodes)
    moved = gauge_transform(data, phi)
    j, i = data.edge_index
    diff = torch.remainder(moved.theta - (data.theta - phi[i]) + math.pi, 2 * math.pi) - math.pi
    assert diff.abs().max() < 1e-12


def test_gemconv_refuses_out_of_range_edge_indices_and_takes_an_empty_graph():
    """An index past the last vertex silently made a larger graph; a negative one failed in
    bincount; a graph of no vertices failed in a reshape."""
    import torch

    from gaugemesh.nn import GemConv

    conv = GemConv("2x0 + 1x1", "2x0 + 1x1")
    x = torch.randn(3, 4)
    zeros = torch.zeros(2)
    for bad in ([[0, 5], [1, 2]], [[0, -1], [1, 2]]):
        with pytest.raises(ValueError, match=r"indices must lie in \[0, 3\)"):
            conv(x, torch.tensor(bad), zeros, zeros)
    empty = torch.zeros(2, 0, dtype=torch.long)
    out = conv(torch.randn(0, 4), empty, torch.zeros(0), torch.zeros(0))
    assert out.shape == (0, 4)
