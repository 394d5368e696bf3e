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


def test_unique_rows_are_numbered_in_order_of_first_appearance():
    from gaugemesh.geometry.topology import unique_rows_in_order

    rows = np.array([[5, 1], [0, 2], [5, 1], [3, 3], [0, 2], [0, 1]])
    unique, index = unique_rows_in_order(rows)
    np.testing.assert_array_equal(unique, [[5, 1], [0, 2], [3, 3], [0, 1]])
    np.testing.assert_array_equal(index, [0, 1, 0, 2, 1, 3])
    np.testing.assert_array_equal(unique[index], rows)
