"""Property-based: a randomly corrupted mesh gives a usable frame field or a MeshError."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaugemesh import MeshError, mesh_to_data, validate_mesh
from tests.conftest import grid, icosphere

BASES = {"sphere": icosphere(1), "grid": grid(5, jitter=0.2)}


def _nan(pos, faces, rng):
    pos = pos.copy()
    pos[rng.integers(len(pos)), rng.integers(3)] = rng.choice([np.nan, np.inf, -np.inf])
    return pos, faces


def _bad_index(pos, faces, rng):
    faces = faces.copy()
    faces[rng.integers(len(faces)), rng.integers(3)] = rng.choice([-1, len(pos), len(pos) + 7])
    return pos, faces


def _duplicate(pos, faces, rng):
    face = faces[rng.integers(len(faces))]
    return pos, np.vstack([faces, np.roll(face, rng.integers(3))])


def _degenerate(pos, faces, rng):
    faces = faces.copy()
    f = rng.integers(len(faces))
    faces[f, 1] = faces[f, 0]
    return pos, faces


def _collapse(pos, faces, rng):
    pos = pos.copy()
    a, b = faces[rng.integers(len(faces)), :2]
    pos[a] = pos[b]  # zero-area faces without repeated indices
    return pos, faces


def _flip(pos, faces, rng):
    faces = faces.copy()
    pick = rng.random(len(faces)) < 0.3
    faces[pick] = faces[pick, ::-1]
    return pos, faces


def _hole(pos, faces, rng):
    keep = rng.random(len(faces)) > 0.15
    return pos, faces[keep] if keep.any() else faces[:1]


def _extra_sheet(pos, faces, rng):
    face = faces[rng.integers(len(faces))]
    apex = len(pos)
    return np.vstack([pos, pos[face].mean(0) + rng.normal(size=3)]), np.vstack([faces, [face[0], face[1], apex]])


CORRUPTIONS = [_nan, _bad_index, _duplicate, _degenerate, _collapse, _flip, _hole, _extra_sheet]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(sorted(BASES)),
    steps=st.lists(st.sampled_from(range(len(CORRUPTIONS))), min_size=1, max_size=3),
    seed=st.integers(0, 2**31 - 1),
    repair=st.booleans(),
)
def test_corrupted_meshes_give_a_finite_frame_field_or_a_mesh_error(base, steps, seed, repair):
    rng = np.random.default_rng(seed)
    pos, faces = BASES[base]
    for step in steps:
        pos, faces = CORRUPTIONS[step](pos, faces, rng)
    try:
        mesh = validate_mesh(pos, faces, repair=repair)
    except MeshError:
        return
    data = mesh_to_data(mesh)
    for key in ("pos", "frame", "theta", "transport", "edge_weight", "area"):
        assert np.isfinite(data[key].numpy()).all(), key
    assert (mesh.vertex_map >= 0).all() and (mesh.vertex_map < len(pos)).all()
    np.testing.assert_array_equal(mesh.pos, np.asarray(pos, dtype=float)[mesh.vertex_map])
