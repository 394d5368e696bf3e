"""The RNA error breakdowns: rings to a label boundary and the largest component, on graphs
whose answers can be counted by hand."""

import numpy as np

from experiments.rna_seg.errors import FAR, MeshErrors, in_largest_component, report, rings_to_label_boundary


def _undirected(pairs):
    pairs = np.asarray(pairs).T
    return np.concatenate([pairs, pairs[::-1]], axis=1)


# A path 0-1-2-3-4-5 labelled 0 0 0 0 1 1, and a triangle 6-7-8 of one label.
EDGES = _undirected([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 6)])
LABELS = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])


def test_rings_count_edges_to_the_nearest_boundary_vertex():
    rings = rings_to_label_boundary(EDGES, LABELS)
    assert rings.tolist() == [3, 2, 1, 0, 0, 1, FAR, FAR, FAR]


def test_rings_stop_at_the_limit():
    rings = rings_to_label_boundary(EDGES, LABELS, max_rings=2)
    assert rings.tolist() == [FAR, 2, 1, 0, 0, 1, FAR, FAR, FAR]


def test_largest_component_is_the_path():
    assert in_largest_component(EDGES, 9).tolist() == [True] * 6 + [False] * 3


def test_report_counts_errors_where_they_are():
    predicted = LABELS.copy()
    predicted[[3, 7]] = 5  # one error on the boundary, one in the small component
    text = report([MeshErrors.of("toy", EDGES, LABELS, predicted)])
    assert "accuracy 77.78%" in text  # 7 of 9
    assert "0:   22.22% of vertices, accuracy  50.00%,  50.00% of the errors" in text
    assert "the others:           33.33% of vertices, accuracy  66.67%,  50.00% of the errors" in text
