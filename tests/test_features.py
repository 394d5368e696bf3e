"""Input features on a Data: declared types, gauge behaviour, dtype, errors."""

import numpy as np
import pytest
import torch

from gaugemesh import gauge_transform, mesh_to_data, validate_mesh
from gaugemesh.features import FEATURES, FeatureOptions, compute_features, feature_type
from gaugemesh.graph import InputFeatures, add_features
from gaugemesh.geometry import components, frame_field, rotate_frames
from gaugemesh.geometry.laplacian import laplace_spectrum
from gaugemesh.so2 import FieldType
from tests.conftest import icosphere

ALL = ("xyz", "hks", "curvature", "hks_grad")
OPTIONS = FeatureOptions(hks_count=6, grad_count=3, eigs=32)


@pytest.fixture(scope="module")
def data():
    pos, faces = icosphere(3)
    pos = pos * (1.0 + 0.3 * np.sin(2 * pos[:, [1]])) * [1.2, 1.0, 0.7]
    return mesh_to_data(validate_mesh(pos, faces), dtype=torch.float64)


def test_x_has_the_declared_type(data):
    out = add_features(data, ALL, OPTIONS)
    ftype = FieldType(out.x_type)
    assert ftype == feature_type(ALL, OPTIONS) == FieldType("11x0 + 3x1")
    ftype.check(out.x)
    assert torch.isfinite(out.x).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_x_follows_the_dtype_of_pos(data, dtype):
    assert add_features(_cast(data, dtype), ["hks"], OPTIONS).x.dtype == dtype


def _cast(data, dtype):
    out = data.clone()
    for key, value in out.items():
        if torch.is_tensor(value) and value.is_floating_point():
            out[key] = value.to(dtype)
    return out


def test_features_transform_by_rho_minus_phi_under_a_gauge_change(data):
    phi = torch.rand(data.num_nodes, dtype=torch.float64) * 2 * torch.pi - torch.pi
    before = add_features(data, ALL, OPTIONS)
    after = add_features(gauge_transform(data, phi), ALL, OPTIONS)
    ftype = FieldType(before.x_type)
    torch.testing.assert_close(after.x, ftype.transform(before.x, -phi), atol=1e-10, rtol=0)
    # The order-1 part really changes: the check above is not about invariant numbers.
    assert (after.x - before.x).abs().max() > 1e-3


def test_xyz_is_centred_and_scale_free(data):
    x = add_features(data, ["xyz"], OPTIONS).x
    scaled = data.clone()
    scaled.pos = 3.0 * data.pos + 1.0
    torch.testing.assert_close(add_features(scaled, ["xyz"], OPTIONS).x, x, atol=1e-10, rtol=0)
    torch.testing.assert_close(data.area @ x, torch.zeros(3, dtype=x.dtype), atol=1e-10, rtol=0)


def test_scalar_order_comes_first_and_names_are_checked(data):
    out = add_features(data, ["hks_grad", "curvature"], OPTIONS)
    assert FieldType(out.x_type) == FieldType("2x0 + 3x1")
    with pytest.raises(ValueError, match="unknown input feature"):
        add_features(data, ["hks", "shot"], OPTIONS)
    with pytest.raises(ValueError, match="twice"):
        add_features(data, ["hks", "hks"], OPTIONS)


def test_transform_wrapper(data):
    transform = InputFeatures("hks, curvature", OPTIONS)
    assert transform.names == ("hks", "curvature")
    assert transform(data).x.shape == (data.num_nodes, 8)


@pytest.fixture(scope="module")
def arrays():
    """A bumpy, stretched sphere (no symmetry to hide behind) and its frames, in numpy."""
    pos, faces = icosphere(2)
    pos = pos * (1.0 + 0.3 * np.sin(2 * pos[:, [1]])) * [1.2, 1.0, 0.7]
    mesh = validate_mesh(pos, faces)
    return mesh.pos, mesh.faces, frame_field(mesh.pos, mesh.faces).frame


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_every_registered_feature_computes_what_it_declares(name, arrays):
    """Each feature of the registry against what compute_features returns: as many columns
    as its declared type, each carrying a signal, and under a gauge change (every frame
    turned by phi) the behaviour of its declared order: exp(-i n phi) on each (cos, sin)
    pair, so order 0 stays put and order 1 turns, measured rather than taken from the type."""
    pos, faces, frame = arrays
    feature = FEATURES[name]
    declared = FieldType([(feature.multiplicity(OPTIONS), feature.order)])
    x, type_string = compute_features(pos, faces, frame, [name], OPTIONS)
    assert FieldType(type_string) == declared
    assert x.shape == (len(pos), declared.dim) and np.isfinite(x).all()
    assert x.std(axis=0).min() > 1e-7  # no dead column (the longest HKS time is nearly flat, not constant)
    phi = np.random.default_rng(0).uniform(-np.pi, np.pi, len(pos))
    moved, _ = compute_features(pos, faces, rotate_frames(frame, phi), [name], OPTIONS)
    if feature.order == 0:
        np.testing.assert_allclose(moved, x, rtol=0, atol=1e-10)
    else:
        pairs, moved_pairs = (a.reshape(len(pos), -1, 2) for a in (x, moved))
        z, z_moved = pairs[..., 0] + 1j * pairs[..., 1], moved_pairs[..., 0] + 1j * moved_pairs[..., 1]
        np.testing.assert_allclose(z_moved, np.exp(-1j * feature.order * phi)[:, None] * z, rtol=0, atol=1e-10)
        assert np.abs(moved - x).max() > 0.1 * np.abs(x).max()  # it really turned


def test_intrinsic_features_of_a_body_ignore_a_stray_piece_and_share_one_spectrum_per_piece(monkeypatch):
    pos, faces = icosphere(2)
    pos = pos * (1.0 + 0.3 * np.sin(2 * pos[:, [1]]))
    tet = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
    both_pos = np.concatenate([pos, 0.01 * tet + 30.0])
    both_faces = np.concatenate([faces, np.array([[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]]) + len(pos)])
    frame = frame_field(both_pos, both_faces).frame
    names = ("hks", "curvature", "hks_grad")
    alone, _ = compute_features(pos, faces, frame[: len(pos)], names, OPTIONS)
    solves = []
    spectrum = laplace_spectrum
    monkeypatch.setattr(components, "laplace_spectrum", lambda *args: solves.append(len(args[0])) or spectrum(*args))
    joined, _ = compute_features(both_pos, both_faces, frame, names, OPTIONS)
    np.testing.assert_allclose(joined[: len(pos)], alone, rtol=0, atol=1e-10)
    assert np.all(np.isfinite(joined))
    assert solves == [len(pos), 4]  # one eigensolve per component, shared by "hks" and "hks_grad"
