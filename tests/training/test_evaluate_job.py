"""``gaugemesh eval``: the headline it prints and the report it writes, checked against the
metrics computed directly from the checkpoint's model on the same meshes."""

import json

import matplotlib.image
import numpy as np
import pytest
import torch

from gaugemesh.cli import main
from gaugemesh.datasets import MeshDataset
from gaugemesh.features import FeatureOptions
from gaugemesh.testing import randomize_parameters
from gaugemesh.training.checkpoint import save_checkpoint
from gaugemesh.training.config import load_config
from gaugemesh.training.evaluate_job import report_path
from gaugemesh.training.metrics import SegmentationCounts
from gaugemesh.training.recipe import build_model, load_model
from tests.datasets.helpers import make_meshcnn
from tests.reliability.training_helpers import CONFIG, IN_TYPE

NAMES = ["lower", "upper"]


@pytest.fixture
def checkpoint(tmp_path):
    """A MeshCNN-layout dataset and a checkpoint of a model with random weights (so that
    both classes are predicted somewhere), in a run folder."""
    root = make_meshcnn(tmp_path / "data", num=3)
    config_path = tmp_path / "config.toml"
    config_path.write_text(CONFIG.format(root=root, out=tmp_path / "run").replace('"generic"', '"meshcnn"'))
    config = load_config(config_path)
    model = randomize_parameters(build_model(config["model"], IN_TYPE, len(NAMES)),
                                 generator=torch.Generator().manual_seed(0))
    path = tmp_path / "run" / "best.pt"
    save_checkpoint(path, model_state=model.state_dict(), config=config, class_names=NAMES, in_type=IN_TYPE)
    return path, root


def _direct_report(checkpoint, root, cache):
    """The report computed straight from the model on the dataset's samples."""
    model, state = load_model(checkpoint)
    features = state["config"]["features"]
    dataset = MeshDataset(root, "train", layout="meshcnn", cache_dir=cache, features=features["names"],
                          feature_options=FeatureOptions(hks_count=features["hks_count"],
                                                         grad_count=features["grad_count"], eigs=features["eigs"]))
    counts = SegmentationCounts(len(NAMES))
    model.eval()
    with torch.no_grad():
        for data in dataset:
            counts.add(data, model(data))
    return counts.report(NAMES), len(dataset)


def test_eval_prints_the_headline_and_writes_the_report_in_the_run_folder(checkpoint, tmp_path, capsys):
    path, root = checkpoint
    assert main(["eval", "--checkpoint", str(path), "--data", str(root), "--split", "train", "--no-progress"]) == 0
    out = capsys.readouterr().out
    written = tmp_path / "run" / "train_metrics.json"
    report = json.loads(written.read_text())
    expected, meshes = _direct_report(path, root, tmp_path / "cache")
    assert report["meshes"] == meshes == 3 and report["split"] == "train" and report["class_names"] == NAMES
    for kind in ("vertex", "edge", "face"):
        assert report[kind]["confusion"] == expected[kind]["confusion"]
        assert report[kind]["support"] == expected[kind]["support"]
        for key in ("per_class_accuracy", "per_class_iou"):
            assert list(report[kind][key]) == NAMES
            assert list(report[kind][key].values()) == pytest.approx(list(expected[kind][key].values()))
    for key in ("vertex_acc", "vertex_miou", "edge_acc_hard", "edge_acc_soft", "edge_miou", "face_acc", "face_miou"):
        assert report[key] == pytest.approx(expected[key])
        assert f"{key}: {report[key]:.4f}" in out  # the headline
    assert report["labels_on"] == "edge" and all(sum(column) > 0 for column in zip(*report["vertex"]["confusion"]))
    # Per mesh: the pooled numbers are the meshes' weighted by their labelled edges.
    per_mesh = report["per_mesh"]
    assert sorted(mesh["name"] for mesh in per_mesh) == sorted(MeshDataset(root, "train", layout="meshcnn",
                                                                           cache_dir=tmp_path / "cache").names)
    assert sum(mesh["labelled"] for mesh in per_mesh) == report["edge"]["labelled"]
    pooled = sum(mesh["edge_acc_hard"] * mesh["labelled"] for mesh in per_mesh) / report["edge"]["labelled"]
    assert pooled == pytest.approx(report["edge_acc_hard"])
    worst = min(per_mesh, key=lambda mesh: mesh["edge_acc_hard"])
    assert f"worst meshes (edge_acc_hard): {worst['name']} {worst['edge_acc_hard']:.4f}" in out
    picture = matplotlib.image.imread(tmp_path / "run" / "train_metrics_confusion.png")
    assert picture.shape[1] > 2 * picture.shape[0]  # one panel per kind: vertices, edges, faces
    assert str(written) in out


def test_the_report_goes_where_asked():
    assert str(report_path("runs/a/best.pt", "test")) == "runs/a/test_metrics.json"
    assert str(report_path("runs/a/best.pt", "val", rotate_seed=3)) == "runs/a/val_rotated3_metrics.json"
    assert str(report_path("runs/a/best.pt", "test", path="elsewhere/m.json")) == "elsewhere/m.json"


@pytest.mark.parametrize("input_vertices", [0, 60])
def test_vertex_labels_are_scored_on_every_vertex_of_the_files(tmp_path, capsys, input_vertices):
    """The RNA protocol: accuracy over the files' vertices, a vertex repair drops included
    (it takes its nearest mesh vertex's prediction), each vertex once; with input_vertices,
    through the resampled mesh's stand-ins."""
    from gaugemesh.datasets import VertexLabelLayout
    from gaugemesh.training.loop import predict_scores
    from tests.datasets.helpers import sphere, write_off

    root = tmp_path / "data"
    (root / "off").mkdir(parents=True)
    (root / "labels").mkdir()
    for k in range(2):
        pos, faces = sphere(k, subdivisions=2)  # 162 vertices: resampled to about 60 with input_vertices
        pos = np.concatenate([pos, 1.001 * pos[:1]])  # a vertex of no face: repair drops it
        write_off(root / "off" / f"m{k}.off", pos, faces)
        (root / "labels" / f"m{k}.txt").write_text("\n".join(str(int(p[2] > 0)) for p in pos) + "\n")
    config_path = tmp_path / "config.toml"
    config_path.write_text(CONFIG.format(root=root, out=tmp_path / "run").replace('"generic"', '"vertex_labels"')
                           .replace("eigs = 8", f"eigs = 8\ninput_vertices = {input_vertices}"))
    config = load_config(config_path)
    names = [str(c) for c in range(260)]
    model = randomize_parameters(build_model(config["model"], IN_TYPE, len(names)),
                                 generator=torch.Generator().manual_seed(0))
    path = tmp_path / "run" / "best.pt"
    save_checkpoint(path, model_state=model.state_dict(), config=config, class_names=names, in_type=IN_TYPE)
    assert main(["eval", "--checkpoint", str(path), "--data", str(root), "--split", "train", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "file_vertex_acc" in out
    numbers = [line for line in out.splitlines() if line.endswith(tuple("0123456789")) and ": " in line
               and not line.startswith("worst meshes")]
    assert len({line.index(":") for line in numbers}) == 1  # the headline's numbers in one column
    report = json.loads((tmp_path / "run" / "train_metrics.json").read_text())
    assert report["labels_on"] == "file_vertex"

    model, _ = load_model(path)
    layout = VertexLabelLayout(root)
    dataset = MeshDataset(root, "train", layout="vertex_labels", cache_dir=tmp_path / "cache",
                          features=config["features"]["names"], input_vertices=input_vertices,
                          feature_options=FeatureOptions(hks_count=2, grad_count=1, eigs=8))
    hits = total = 0
    for data, item in zip(dataset, layout.items("train")):
        pred = predict_scores(model, data, torch.device("cpu")).argmax(dim=1).numpy()
        if input_vertices:
            assert data.num_nodes < 100 and len(data.input_index) == 162
            index, file_y = layout.file_vertex_targets(item, data.input_vertex_map.numpy())
            index = data.input_index.numpy()[index]
        else:
            index, file_y = layout.file_vertex_targets(item, data.vertex_map.numpy())
            assert data.num_nodes == 162
        assert len(file_y) == 163  # one vertex more than the mesh: the dropped one
        hits, total = hits + int((pred[index] == file_y).sum()), total + len(file_y)
    assert report["file_vertex"]["labelled"] == total
    assert report["file_vertex_acc"] == pytest.approx(hits / total)
