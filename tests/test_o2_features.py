"""Input features under structure_group="O2": each transforms as its declared O(2) type under
rotations *and* reflections of the frames, on a Moebius strip and on an orientable mesh; with
no reflections they are the SO(2) features."""

import numpy as np
import pytest
import torch

from gaugemesh import mesh_to_data, validate_mesh
from gaugemesh.features import FeatureOptions, feature_type, feature_type_string
from gaugemesh.geometry.o2_frame_field import reflect_frames
from gaugemesh.o2 import O2FieldType, o2_inverse
from gaugemesh.o2_gauge import random_o2_gauge
from tests.conftest import icosphere
from tests.o2_meshes import moebius_strip

ALL = ("xyz", "hks", "curvature", "hks_grad")
OPTIONS = FeatureOptions(hks_count=4, grad_count=2, eigs=24)


def _sphere():
    pos, faces = icosphere(2)
    return pos * (1.0 + 0.3 * np.sin(2 * pos[:, [1]])) * [1.2, 1.0, 0.7], faces


MESHES = {"moebius": lambda: moebius_strip(24, 5)[:2], "sphere": _sphere}


def _data(pos, faces, frames="default"):
    mesh = validate_mesh(pos, faces, structure_group="O2")
    return mesh_to_data(mesh, frames=frames, dtype=torch.float64, features=ALL, feature_options=OPTIONS,
                        structure_group="O2")


def test_the_declared_o2_type_has_the_so2_layout():
    o2 = feature_type_string(ALL, OPTIONS, "O2")
    assert o2 == "7x0 + 1x0- + 1x0 + 2x1"  # xyz and hks, mean curvature, Gaussian curvature, gradients
    assert O2FieldType(o2).so2 == feature_type(ALL, OPTIONS)
    assert feature_type_string(["hks_grad", "curvature"], OPTIONS, "O2") == "1x0- + 1x0 + 2x1"
    with pytest.raises(ValueError, match="structure_group"):
        feature_type_string(ALL, OPTIONS, "SO3")


@pytest.mark.parametrize("name", sorted(MESHES))
def test_features_transform_as_their_o2_type(name):
    """Frames turned and reflected at random (about half the vertices): the features computed
    in the new frames are rho(h^-1) of the old ones, component for component."""
    pos, faces = MESHES[name]()
    before = _data(pos, faces)
    x_type = O2FieldType(before.x_type)
    phi, flip = random_o2_gauge(before.num_nodes, torch.Generator().manual_seed(1))
    frames = reflect_frames(before.frame.numpy(), phi.numpy(), flip.numpy())
    after = _data(pos, faces, frames)
    assert after.x_type == before.x_type
    torch.testing.assert_close(after.x, x_type.transform(before.x, *o2_inverse(phi, flip)), atol=1e-10, rtol=0)
    # the check is not about invariant numbers: the mean curvature flips, the gradients turn
    mean = x_type.reflection_mask()[:, None].nonzero()[0, 0]  # the first 0- component
    assert mean == 7
    h = before.x[:, mean]
    assert (h.abs() > 1e-3).float().mean() > 0.5
    torch.testing.assert_close(after.x[:, mean], torch.where(flip, -h, h), atol=1e-10, rtol=0)
    assert (after.x[:, -4:] - before.x[:, -4:]).abs().max() > 1e-2


def test_moebius_features_do_not_depend_on_the_windings():
    """The face windings of a non-orientable mesh are arbitrary. Turning some over changes the
    local orientations the frames follow (a reflection where a normal turns over): the
    features change exactly by that gauge change."""
    pos, faces = moebius_strip(24, 5)[:2]
    turned = faces.copy()
    some = np.random.default_rng(0).random(len(faces)) < 0.5
    turned[some] = turned[some][:, [0, 2, 1]]
    a, b = _data(pos, faces), _data(pos, turned)
    ea, eb = a.frame, b.frame
    flip = (ea[:, 2] * eb[:, 2]).sum(1) < 0
    phi = torch.atan2((eb[:, 0] * ea[:, 1]).sum(1), (eb[:, 0] * ea[:, 0]).sum(1))
    assert flip.any() and not flip.all()
    expected = O2FieldType(a.x_type).transform(a.x, *o2_inverse(phi, flip))
    torch.testing.assert_close(b.x, expected, atol=1e-10, rtol=0)


def test_on_an_orientable_mesh_without_reflections_o2_features_are_the_so2_ones():
    pos, faces = _sphere()
    so2 = mesh_to_data(validate_mesh(pos, faces), dtype=torch.float64, features=ALL, feature_options=OPTIONS)
    o2 = _data(pos, faces)
    assert not o2.reflection.any()
    torch.testing.assert_close(o2.x, so2.x, atol=1e-12, rtol=0)
    assert O2FieldType(o2.x_type).so2 == feature_type(ALL, OPTIONS) and so2.x_type == str(feature_type(ALL, OPTIONS))
    assert (o2.x[:, 7] > 0).all()  # outward normals: a bulging sphere bends away from them
