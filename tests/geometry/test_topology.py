"""Combinatorics of the validated mesh."""

import numpy as np

from gaugemesh.geometry.topology import boundary_vertices
from tests.conftest import grid, icosphere


def test_boundary_vertices_are_the_rim_of_a_grid_and_none_of_a_sphere():
    pos, faces = grid(5)
    rim = np.zeros((5, 5), dtype=bool)
    rim[[0, -1], :] = rim[:, [0, -1]] = True
    np.testing.assert_array_equal(boundary_vertices(faces, len(pos)), rim.ravel())
    pos, faces = icosphere(1)
    assert not boundary_vertices(faces, len(pos)).any()
