"""Custom labels in the generic layout: every format is written, read back equal, and one
short run trains, predicts and scores on it (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gaugemesh.cli import main
from gaugemesh.datasets import GenericLayout, open_layout
from gaugemesh.mesh import MeshError
from tests.datasets.helpers import sphere, write_obj_parts, write_off, write_ply
from tests.reliability.training_helpers import write_config

PALETTE = {"red": (255, 0, 0), "green": (0, 200, 0), "blue": (0, 0, 255)}
NAMES = list(PALETTE)


def _truth(pos: np.ndarray, faces: np.ndarray, kind: str) -> np.ndarray:
    """Three classes by height: per vertex, or per face (its centroid)."""
    z = pos[:, 2] if kind == "vertex" else pos[faces].mean(axis=1)[:, 2]
    return np.digitize(z, np.quantile(pos[:, 2], [1 / 3, 2 / 3]))


def _legend(root: Path) -> None:
    # Painted colours are off by a few units on purpose (exporters round differently).
    (root / "legend.txt").write_text("#ff0000 red\n0 200 0 green\n#0000ff blue\n")


def _rgb(labels: np.ndarray) -> np.ndarray:
    return np.array([PALETTE[NAMES[c]] for c in labels]) + np.array([0, 3, 0]) * (labels == 0)[:, None]


def write_dataset(root: Path, fmt: str, num: int = 2) -> dict[str, tuple[str, np.ndarray]]:
    """``num`` labelled spheres in format ``fmt``; returns name -> (kind, labels as written)."""
    root.mkdir(parents=True, exist_ok=True)
    truth, settings = {}, None
    for i in range(num):
        pos, faces = sphere(i)
        name = f"m{i}"
        if fmt in ("vertex-txt", "face-npy"):
            kind = "vertex" if fmt == "vertex-txt" else "face"
            labels = _truth(pos, faces, kind)
            write_off(root / f"{name}.off", pos, faces)
            (root / "labels").mkdir(exist_ok=True)
            if kind == "vertex":
                (root / "labels" / f"{name}.txt").write_text("\n".join(map(str, labels)) + "\n")
            else:
                np.save(root / f"{name}.npy", labels)
        elif fmt in ("ply-vertex", "ply-face"):
            kind = fmt[4:]
            labels = _truth(pos, faces, kind)
            write_ply(root / f"{name}.ply", pos, faces, **{kind: {"part": labels}})
            settings = 'labels = "ply:part"\n'
        elif fmt in ("ply-vertex-colors", "ply-face-colors"):
            kind = fmt.split("-")[1]
            labels = _truth(pos, faces, kind)
            write_ply(root / f"{name}.ply", pos, faces, **{kind: dict(zip(("red", "green", "blue"), _rgb(labels).T))})
            settings = 'labels = "colors"\n'
            _legend(root)
        elif fmt == "obj-vertex-colors":
            kind, labels = "vertex", _truth(pos, faces, "vertex")
            write_obj_parts(root / f"{name}.obj", pos, faces, ["a"] * len(faces), "g", colors=_rgb(labels) / 255)
            settings = 'labels = "colors"\n'
            _legend(root)
        else:  # obj-groups, obj-materials: parts alternate, so that file order matters
            kind, labels = "face", _truth(pos, faces, "face")
            statement = "g" if fmt == "obj-groups" else "usemtl"
            write_obj_parts(root / f"{name}.obj", pos, faces, [NAMES[c] for c in labels], statement)
            (root / "classes.txt").write_text("\n".join(NAMES) + "\n")
            settings = f'labels = "{fmt}"\n'
        truth[name] = (kind, labels)
    if settings:
        (root / "dataset.toml").write_text(settings)
    return truth


FORMATS = ["vertex-txt", "face-npy", "ply-vertex", "ply-face", "ply-vertex-colors", "ply-face-colors",
           "obj-vertex-colors", "obj-groups", "obj-materials"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_labels_read_back_as_written(tmp_path, fmt):
    truth = write_dataset(tmp_path, fmt)
    layout = open_layout(tmp_path)
    assert isinstance(layout, GenericLayout)
    items = layout.items("train")
    assert [item.name for item in items] == sorted(truth)
    for item in items:
        kind, labels = truth[item.name]
        mesh, read = layout.read(item)
        if kind == "vertex":
            np.testing.assert_array_equal(read["y"], labels[mesh.vertex_map])
            assert "face_y" not in read
        else:
            np.testing.assert_array_equal(read["face_y"], labels[mesh.face_map])
            assert read["seg_face_index"].shape == (3, mesh.num_faces)
        assert set(np.unique(read["y"])) <= {0, 1, 2}
    if fmt in ("ply-vertex-colors", "ply-face-colors", "obj-vertex-colors", "obj-groups", "obj-materials"):
        assert layout.class_names() == NAMES


def test_obj_materials_keep_the_file_order_that_trimesh_loses(tmp_path):
    """Several materials: trimesh splits the mesh per material; vertices must stay the file's."""
    write_dataset(tmp_path, "obj-materials", num=1)
    from gaugemesh.io import read_mesh_arrays

    pos, faces = read_mesh_arrays(tmp_path / "m0.obj")
    expected_pos, expected_faces = sphere(0)
    np.testing.assert_allclose(pos, expected_pos, atol=1e-8)
    np.testing.assert_array_equal(faces, expected_faces)


@pytest.mark.parametrize("fmt, change, words", [
    ("ply-vertex-colors", lambda r: (r / "legend.txt").write_text("#ff0000 red\n#0000ff blue\n"), "no colour of legend"),
    ("ply-vertex-colors", lambda r: (r / "legend.txt").unlink(), "legend.txt"),
    ("obj-groups", lambda r: (r / "classes.txt").write_text("red\nblue\n"), "not in classes.txt"),
    ("obj-groups", lambda r: (r / "classes.txt").unlink(), "needs classes.txt"),
    ("ply-vertex", lambda r: (r / "dataset.toml").write_text('labels = "ply:nope"\n'), "property 'nope'"),
    ("ply-vertex", lambda r: (r / "dataset.toml").write_text('labels = "obj-groups"\n'), "reads OBJ files"),
])
def test_unusable_labels_are_named_with_the_fix(tmp_path, fmt, change, words):
    write_dataset(tmp_path, fmt, num=1)
    change(tmp_path)
    layout = open_layout(tmp_path)
    with pytest.raises(MeshError, match=words) as info:
        layout.read(layout.items("train")[0])
    assert "\n" not in str(info.value)


def test_a_bad_dataset_toml_is_refused_with_the_valid_sources(tmp_path):
    write_dataset(tmp_path, "ply-vertex", num=1)
    (tmp_path / "dataset.toml").write_text('labels = "paint"\n')
    with pytest.raises(ValueError, match="ply:NAME"):
        open_layout(tmp_path)
    (tmp_path / "dataset.toml").write_text('label = "colors"\n')
    with pytest.raises(ValueError, match="labels, label_kind"):
        open_layout(tmp_path)


# What follows reading is the same for every format but for per-vertex or per-face labels
# (about 2 s a run): one of each here; every format is read back above.
@pytest.mark.parametrize("fmt", ["ply-vertex-colors", "obj-materials"])
def test_train_predict_and_score(tmp_path, fmt, capsys):
    """preprocess, train one epoch, predict, eval: the CLI end to end on labels in mesh files.

    Every format of ``FORMATS`` passes this too (run them by putting ``FORMATS`` in the
    parametrize); two keep the suite fast.
    """
    root = tmp_path / "data"
    truth = write_dataset(root, fmt)
    config = write_config(tmp_path, root)
    assert main(["preprocess", str(root), "--out", str(tmp_path / "cache"), "--config", str(config), "--workers", "0",
                 "--split", "train", "--no-progress"]) == 0
    assert "2 meshes ready" in capsys.readouterr().out
    assert main(["train", "--config", str(config), "data.cache=" + str(tmp_path / "cache"), "--no-progress"]) == 0
    checkpoint = tmp_path / "run" / "best.pt"
    meshes = sorted(p for p in root.glob("m[0-9].*") if p.suffix in (".obj", ".off", ".ply"))
    assert main(["predict", *map(str, meshes), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "pred")]) == 0
    correct = total = 0
    for mesh in meshes:
        kind, labels = truth[mesh.stem]
        predicted = np.loadtxt(tmp_path / "pred" / f"{mesh.stem}.{'labels' if kind == 'vertex' else 'face_labels'}.txt",
                               dtype=int)
        assert predicted.shape == labels.shape and set(predicted) <= {0, 1, 2}
        correct, total = correct + int((predicted == labels).sum()), total + len(labels)
    out = tmp_path / "test.json"
    assert main(["eval", "--checkpoint", str(checkpoint), "--data", str(root), "--split", "train",
                 "--json", str(out)]) == 0
    metrics = json.loads(out.read_text())
    # eval scores the labels in the files exactly as predict's outputs against them
    key = "vertex_acc" if kind == "vertex" else "face_acc"
    assert metrics[key] == pytest.approx(correct / total, abs=1e-12)
