"""MeshCNN layout: the edge order, labels per vertex, edge and face, on made and real meshes."""

import numpy as np
import pytest

from gaugemesh.datasets import MeshCNNLayout, meshcnn_edges, open_layout, process_item
from gaugemesh.datasets.layouts.meshcnn import face_majority
from gaugemesh.io import read_mesh_arrays
from gaugemesh.mesh import MeshError
from gaugemesh.training.metrics import segmentation_metrics
from tests.datasets.helpers import FAST, SHARED, make_meshcnn

HUMAN = SHARED / "human_seg"


def test_edges_are_numbered_in_order_of_first_appearance():
    edges, face_edges = meshcnn_edges(np.array([[0, 1, 2], [2, 1, 3]]))
    np.testing.assert_array_equal(edges, [[0, 1], [1, 2], [0, 2], [1, 3], [2, 3]])
    np.testing.assert_array_equal(face_edges, [[0, 1, 2], [1, 3, 4]])


def test_face_majority():
    labels = np.array([0, 0, 1, 2, 2])
    np.testing.assert_array_equal(face_majority(np.array([[0, 1, 2], [2, 3, 4], [0, 2, 3]]), labels), [0, 2, 0])


def test_made_dataset_reads_with_labels_where_they_live(tmp_path):
    layout = open_layout(make_meshcnn(tmp_path / "d"))
    assert isinstance(layout, MeshCNNLayout) and layout.num_classes == 2
    item = layout.items("train")[0]
    mesh, labels = layout.read(item)
    _, raw_faces = read_mesh_arrays(item.mesh)
    num_edges = len(meshcnn_edges(raw_faces)[0])
    assert labels["edge_y"].shape == (num_edges,) and set(np.unique(labels["edge_y"])) == {0, 1}  # ids 1,2 -> 0,1
    assert labels["edge_soft"].shape == (num_edges, 2)
    assert labels["y"].shape == (mesh.num_vertices,) and labels["face_y"].shape == (mesh.num_faces,)


def test_wrong_label_count_is_reported_by_name(tmp_path):
    root = make_meshcnn(tmp_path / "d", num=1)
    eseg = root / "seg" / "m0.eseg"
    eseg.write_text("\n".join(eseg.read_text().split()[:-1]) + "\n")
    layout = open_layout(root)
    with pytest.raises(MeshError, match="m0.*labels but the mesh has"):
        layout.read(layout.items("train")[0])


@pytest.fixture(scope="module")
def human():
    if not HUMAN.is_dir():
        pytest.skip(f"shared dataset not found at {HUMAN} (expected beside the repository)")
    layout = open_layout(HUMAN)
    items = layout.items("train")
    return layout, [items[i] for i in (0, 200, 250, 330)]  # MIT, adobe, faust, scape (needs repair)


def test_real_label_counts_and_edge_order(human):
    layout, items = human
    assert len(layout.items("train")) == 381 and layout.num_classes == 8
    for item in items:
        mesh, labels = layout.read(item)
        _, raw_faces = read_mesh_arrays(item.mesh)
        edges, face_edges = meshcnn_edges(raw_faces)
        assert len(labels["edge_y"]) == len(edges) == sum(1 for _ in open(item.labels[0]))
        same = labels["edge_y"][face_edges]
        # Right order: one label on all three edges of most faces (random order: ~4%).
        assert (same.min(axis=1) == same.max(axis=1)).mean() > 0.85


def test_real_edges_and_faces_are_those_of_the_repaired_mesh(human):
    layout, items = human
    mesh, labels = layout.read(items[3])
    assert mesh.num_vertices > len(read_mesh_arrays(items[3].mesh)[0])  # repair split a vertex
    mesh_edges = {tuple(e) for e in np.sort(np.stack([mesh.faces, np.roll(mesh.faces, -1, 1)], 2).reshape(-1, 2), 1)}
    assert {tuple(e) for e in np.sort(labels["seg_edge_index"].T, 1)} == mesh_edges
    assert {tuple(sorted(f)) for f in labels["seg_face_index"].T} == {tuple(sorted(f)) for f in mesh.faces}


def test_real_vertex_labels_come_from_incident_edges(human):
    layout, items = human
    mesh, labels = layout.read(items[0])
    y, edge_y, edges = labels["y"], labels["edge_y"], labels["seg_edge_index"].T
    incident = [set() for _ in range(mesh.num_vertices)]
    for (a, b), label in zip(edges, edge_y):
        incident[a].add(label)
        incident[b].add(label)
    assert all(y[v] in incident[v] for v in range(mesh.num_vertices))


def test_real_metrics_from_true_vertex_labels(human):
    layout, items = human
    data = process_item(layout, items[1], _options())
    metrics = segmentation_metrics(data, data.y)
    assert metrics["vertex_acc"] == 1.0
    assert metrics["edge_acc_soft"] > 0.95 and metrics["edge_acc_hard"] > 0.85 and metrics["face_acc"] > 0.85
    wrong = segmentation_metrics(data, (data.y + 1) % 8)
    assert wrong["vertex_acc"] == 0.0 and wrong["edge_acc_hard"] < 0.1


def _options():
    from gaugemesh.datasets import ProcessOptions

    return ProcessOptions(("hks",), FAST)


def test_without_classes_txt_the_ids_come_from_the_edge_labels(tmp_path):
    """MeshCNN's own COSEG downloads ship no classes.txt; preprocessing used to skip every
    mesh ('missing file None') and write nothing."""
    root = make_meshcnn(tmp_path / "d", num=3)
    (root / "classes.txt").unlink()
    layout = MeshCNNLayout(root)
    assert layout.class_ids().tolist() == [1, 2] and layout.num_classes == 2
    mesh, labels = layout.read(layout.items("train")[0])
    assert set(labels["edge_y"].tolist()) <= {0, 1} and len(labels["y"]) == mesh.num_vertices
