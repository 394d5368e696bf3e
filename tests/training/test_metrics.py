"""Segmentation metrics on hand-made cases, and on a PyG batch."""

import pytest
import torch
from torch_geometric.data import Batch, Data

from gaugemesh.metrics import (
    edge_acc_hard,
    edge_acc_soft,
    face_acc,
    segmentation_metrics,
    vertex_acc,
    vertex_to_edge,
    vertex_to_face,
)


def test_edges_and_faces_average_vertex_probabilities():
    logits = torch.tensor([[5.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    edges = torch.tensor([[0, 1], [1, 2]])
    # Edge (0, 1): a confident 0 outweighs a weak 1; edge (1, 2) is 1.
    torch.testing.assert_close(vertex_to_edge(logits, edges), torch.tensor([0, 1]))
    torch.testing.assert_close(vertex_to_face(torch.tensor([1, 1, 0]), torch.tensor([[0], [1], [2]])), torch.tensor([1]))


def test_accuracies_and_ignore_index():
    assert vertex_acc(torch.tensor([0, 1, 1]), torch.tensor([0, 0, -1])) == 0.5
    assert edge_acc_hard(torch.tensor([2, 2]), torch.tensor([2, 1])) == 0.5
    soft = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    assert edge_acc_soft(torch.tensor([1, 1]), soft) == 0.5  # boundary edge accepts either side
    assert face_acc(torch.tensor([3]), torch.tensor([3])) == 1.0
    with pytest.raises(ValueError, match="no labelled"):
        vertex_acc(torch.tensor([0]), torch.tensor([-1]))


def _sample(shift):
    return Data(
        y=torch.tensor([0, 1, 1]),
        seg_edge_index=torch.tensor([[0, 1], [1, 2]]).T.contiguous(),
        edge_y=torch.tensor([0, 1]),
        edge_soft=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        seg_face_index=torch.tensor([[0, 1, 2]]).T.contiguous(),
        face_y=torch.tensor([1]),
        num_nodes=3,
    ), torch.tensor([0, 1, 1]) if shift == 0 else torch.tensor([1, 1, 1])


def test_batched_metrics_use_offset_indices():
    (a, pa), (b, pb) = _sample(0), _sample(1)
    batch = Batch.from_data_list([a, b])
    got = segmentation_metrics(batch, torch.cat([pa, pb]))
    assert got["vertex_acc"] == pytest.approx(5 / 6)
    assert got["edge_acc_hard"] == pytest.approx(3 / 4)  # the second sample's edge (0,1) -> 1 is wrong
    assert got["face_acc"] == 1.0
