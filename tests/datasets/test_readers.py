"""RNA (per-vertex) and generic layouts: labels follow the vertices through repair."""

import numpy as np
import pytest

from gaugemesh.datasets import GenericLayout, VertexLabelLayout, open_layout
from gaugemesh.io import read_mesh_arrays
from gaugemesh.mesh import MeshError
from tests.datasets.helpers import SHARED, make_generic, sphere, write_off

RNA = SHARED / "rna_seg"


def _touching_spheres(root):
    """Two spheres sharing one vertex (non-manifold: repair splits it), labels = vertex index % 7 - 1."""
    a_pos, a_faces = sphere(0)
    b_pos, b_faces = sphere(1)
    b_pos = b_pos - b_pos[0] + a_pos[0]  # b's vertex 0 coincides with a's vertex 0, then is merged into it
    b_faces = np.where(b_faces == 0, 0, b_faces + len(a_pos) - 1)
    pos = np.concatenate([a_pos, b_pos[1:]])
    faces = np.concatenate([a_faces, b_faces])
    (root / "off").mkdir(parents=True)
    (root / "labels").mkdir()
    write_off(root / "off" / "x1.off", pos, faces)
    labels = np.arange(len(pos)) % 7 - 1
    (root / "labels" / "x1.txt").write_text("\n".join(map(str, labels)) + "\n")
    return labels


@pytest.mark.parametrize("unlabeled,shift", [("class", 1), ("ignore", 0)])
def test_vertex_labels_follow_vertex_map_through_repair(tmp_path, unlabeled, shift):
    labels = _touching_spheres(tmp_path)
    layout = VertexLabelLayout(tmp_path, unlabeled)
    items = layout.items("train")  # no split files: everything is train
    assert [it.name for it in items] == ["x1"] and layout.items("test") == []
    mesh, out = layout.read(items[0])
    assert mesh.num_vertices == len(labels) + 1  # the shared vertex was split in two
    np.testing.assert_array_equal(out["y"], labels[mesh.vertex_map] + shift)
    assert layout.num_classes == 259 + shift


def test_file_vertex_targets_score_every_file_vertex_once(tmp_path):
    """The benchmark's count: a vertex repair splits in two is scored once (by its first copy);
    a vertex repair drops takes the prediction of the nearest mesh vertex."""
    labels = _touching_spheres(tmp_path)
    pos, faces = read_mesh_arrays(tmp_path / "off" / "x1.off")
    stray = pos[5] + 1e-3 * (pos[5] - pos.mean(axis=0))  # just outside the sphere, next to vertex 5
    write_off(tmp_path / "off" / "x1.off", np.concatenate([pos, stray[None]]), faces)
    (tmp_path / "labels" / "x1.txt").write_text("\n".join(map(str, [*labels, 3])) + "\n")
    layout = VertexLabelLayout(tmp_path)
    item = layout.items("train")[0]
    mesh, out = layout.read(item)
    index, file_y = layout.file_vertex_targets(item, mesh.vertex_map)
    assert index.shape == file_y.shape == (len(pos) + 1,)
    np.testing.assert_array_equal(file_y, np.array([*labels, 3]) + 1)  # the file's labels, in the layout's classes
    np.testing.assert_array_equal(mesh.vertex_map[index[:-1]], np.arange(len(pos)))  # each kept vertex: its own copy
    assert mesh.vertex_map[index[-1]] == 5  # the dropped one: its nearest neighbour
    assert np.count_nonzero(mesh.vertex_map == 0) == 2 and index[0] == np.flatnonzero(mesh.vertex_map == 0)[0]


def test_split_files_and_missing_meshes(tmp_path):
    _touching_spheres(tmp_path)
    (tmp_path / "train.txt").write_text("x1.off\nghost.off\n")
    layout = open_layout(tmp_path)
    assert isinstance(layout, VertexLabelLayout)
    assert [it.name for it in layout.items("train")] == ["x1", "ghost"] and layout.items("test") == []
    with pytest.raises(FileNotFoundError):
        layout.read(layout.items("train")[1])


def test_real_rna_labels():
    if not RNA.is_dir():
        pytest.skip(f"shared dataset not found at {RNA} (expected beside the repository)")
    layout = open_layout(RNA)
    items = layout.items("train")
    assert len(items) == 48 and layout.items("test") == []
    for item in items[:2]:
        raw_pos, _ = read_mesh_arrays(item.mesh)
        labels = np.loadtxt(item.labels[0], dtype=int)
        assert len(labels) == len(raw_pos)
        mesh, out = layout.read(item)
        np.testing.assert_array_equal(out["y"], labels[mesh.vertex_map] + 1)
        assert 0 <= out["y"].min() and out["y"].max() < 260 and len(np.unique(out["y"])) > 3


def test_generic_vertex_labels_npy_and_txt(tmp_path):
    root = make_generic(tmp_path, num=2)
    labels = np.loadtxt(root / "m1.txt", dtype=int)
    np.save(root / "m1.npy", labels[::-1].copy())  # .npy wins over .txt
    layout = open_layout(root)
    assert isinstance(layout, GenericLayout)
    items = {it.name: it for it in layout.items("train")}
    np.testing.assert_array_equal(layout.read(items["m0"])[1]["y"], np.loadtxt(root / "m0.txt", dtype=int))
    np.testing.assert_array_equal(layout.read(items["m1"])[1]["y"], labels[::-1])


def test_generic_face_labels_vote_and_ambiguity(tmp_path):
    pos, faces = sphere(0)
    write_off(tmp_path / "f.off", pos, faces)
    face_labels = (pos[faces].mean(axis=1)[:, 0] > pos[:, 0].mean()).astype(int)
    (tmp_path / "f.txt").write_text("\n".join(map(str, face_labels)) + "\n")
    layout = GenericLayout(tmp_path)
    mesh, out = layout.read(layout.items("train")[0])
    np.testing.assert_array_equal(out["face_y"], face_labels[mesh.face_map])
    # Every vertex label is the label of one of its faces.
    for v in range(mesh.num_vertices):
        assert out["y"][v] in set(out["face_y"][(mesh.faces == v).any(axis=1)])
    (tmp_path / "f.txt").write_text("0\n" * 5)
    with pytest.raises(MeshError, match="match neither"):
        layout.read(layout.items("train")[0])
