"""The train / eval / predict job, through the command line, on datasets the tests make."""

import json
import shutil

import numpy as np
import pytest
import torch

from gaugemesh.cli import main
from gaugemesh.datasets import MeshDataset
from gaugemesh.training.evaluate_job import evaluate_checkpoint
from gaugemesh.training.recipe import load_model
from tests.datasets.helpers import make_generic, make_meshcnn

CONFIG = """
[data]
format = "{layout}"
root = "{root}"
val_fraction = 0.25
workers = 0
[features]
names = ["hks", "curvature", "hks_grad"]
hks_count = 4
grad_count = 2
eigs = 16
[model]
width = 4
max_order = 1
num_blocks = 1
[train]
epochs = {epochs}
batch_size = 2
lr = 0.02
seed = 0
device = "cpu"
[output]
dir = "{out}"
"""


def _config(tmp_path, root, layout="generic", epochs=4, name="config.toml"):
    path = tmp_path / name
    path.write_text(CONFIG.format(root=root, layout=layout, epochs=epochs, out=tmp_path / "run"))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("job")
    root = make_generic(tmp_path / "data", num=8, subdivisions=2)
    assert main(["train", "--config", str(_config(tmp_path, root)), "--no-progress"]) == 0
    return tmp_path, root


def test_training_lowers_the_loss_and_writes_checkpoints_and_metrics(trained):
    tmp_path, _ = trained
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and rows[-1]["train_loss"] < rows[0]["train_loss"]
    for name in ("best.pt", "last.pt", "curves.png", "config.json"):
        assert (tmp_path / "run" / name).stat().st_size > 0
    model, state = load_model(tmp_path / "run" / "best.pt")
    assert state["in_type"] == "6x0 + 2x1" and len(state["val_names"]) == 2


def test_resume_gives_the_same_numbers(trained, tmp_path):
    _, root = trained
    config = _config(tmp_path, root)
    from gaugemesh.training.config import load_config
    from gaugemesh.training.train_job import train

    cfg = load_config(config, [f"output.dir={tmp_path / 'resumed'}"])
    train(cfg, progress=False, until=2)
    train(cfg, resume=True, progress=False)
    straight = [json.loads(x) for x in (trained[0] / "run" / "metrics.jsonl").read_text().splitlines()]
    resumed = [json.loads(x) for x in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert [r["train_loss"] for r in resumed] == [r["train_loss"] for r in straight]
    assert [r["val_loss"] for r in resumed] == [r["val_loss"] for r in straight]


def test_eval_on_a_meshcnn_layout_agrees_with_a_hand_count(tmp_path, capsys):
    root = make_meshcnn(tmp_path / "meshcnn", num=4)
    shutil.copytree(root / "train", root / "test")
    assert main(["train", "--config", str(_config(tmp_path, root, "meshcnn", epochs=1)), "--no-progress"]) == 0
    out = tmp_path / "metrics.json"
    assert main(["eval", "--checkpoint", str(tmp_path / "run" / "best.pt"), "--data", str(root), "--split", "test",
                 "--json", str(out), "--no-progress"]) == 0
    metrics = json.loads(out.read_text())
    assert "edge_acc_soft" in capsys.readouterr().out
    # By hand: average the vertex class probabilities on each MeshCNN edge, take the argmax.
    model, state = load_model(tmp_path / "run" / "best.pt")
    dataset = MeshDataset(root, "test", layout="meshcnn", cache_dir=tmp_path / "cache",
                          features=state["config"]["features"]["names"], feature_options=_fast(state))
    correct = total = 0
    confusion = np.zeros((2, 2), dtype=int)
    for data in dataset:
        with torch.no_grad():
            prob = model(data).softmax(1)
        edge_pred = (prob[data.seg_edge_index[0]] + prob[data.seg_edge_index[1]]).argmax(1)
        correct += int((edge_pred == data.edge_y).sum())
        total += len(data.edge_y)
        np.add.at(confusion, (data.edge_y.numpy(), edge_pred.numpy()), 1)
    assert metrics["edge_acc_hard"] == pytest.approx(correct / total)
    assert metrics["edge_acc_soft"] == pytest.approx(correct / total)  # one-hot soft labels
    assert metrics["edge"]["confusion"] == confusion.tolist() and metrics["meshes"] == 4


def _fast(state):
    from gaugemesh.features import FeatureOptions

    f = state["config"]["features"]
    return FeatureOptions(hks_count=f["hks_count"], grad_count=f["grad_count"], eigs=f["eigs"])


def test_predict_writes_labels_ply_and_png(trained, tmp_path):
    run, root = trained
    mesh = root / "m0.off"
    assert main(["predict", str(mesh), "--checkpoint", str(run / "run" / "best.pt"), "--out", str(tmp_path)]) == 0
    labels = np.loadtxt(tmp_path / "m0.labels.txt", dtype=int)
    assert len(labels) == 162 and set(labels) <= {0, 1}
    assert (tmp_path / "m0.ply").read_text().startswith("ply") and (tmp_path / "m0.png").stat().st_size > 5000


def test_eval_reports_a_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    from gaugemesh.training.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="corrupt"):
        evaluate_checkpoint(bad, tmp_path, "test")


def test_eval_on_the_held_out_split_is_invariant_to_rotating_the_meshes(trained):
    run, root = trained
    checkpoint = run / "run" / "best.pt"
    plain = evaluate_checkpoint(checkpoint, root, "val", progress=False)
    rotated = evaluate_checkpoint(checkpoint, root, "val", progress=False, rotate_seed=1)
    assert plain["meshes"] == 2
    # Intrinsic inputs and frame field: the predictions do not change at all.
    assert rotated["vertex"]["confusion"] == plain["vertex"]["confusion"]


@pytest.mark.slow
def test_train_command_runs_under_torchrun(trained, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    _, root = trained
    config = _config(tmp_path, root, epochs=2)
    torchrun = Path(sys.executable).with_name("torchrun")
    result = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "gaugemesh.cli", "train",
                             "--config", str(config), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 2  # rank 0 alone writes the log
    assert result.stdout.count("epoch 2/2") == 1


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_train_with_reduced_precision(trained, tmp_path, device, precision):
    """A short ``gaugemesh train --precision ...`` (three steps) on every device: finite
    losses, and the precision stored in the run's config and checkpoint."""
    _, root = trained
    config = _config(tmp_path, root, epochs=1)
    assert main(["train", "--config", str(config), "--device", device, "--precision", precision, "--no-progress"]) == 0
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text())
    assert np.isfinite(row["train_loss"]) and np.isfinite(row["val_loss"])
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["precision"] == precision
    _, state = load_model(tmp_path / "run" / "last.pt")
    assert state["settings"]["precision"] == precision
    assert bool(state["scaler_state"]) == (precision == "fp16")  # fp16 keeps its loss scale


def test_eval_and_predict_agree_on_every_device(trained, tmp_path, device):
    run, root = trained
    checkpoint = str(run / "run" / "best.pt")
    reference = evaluate_checkpoint(checkpoint, root, "val", progress=False)
    here = evaluate_checkpoint(checkpoint, root, "val", device=device, progress=False, precision="fp32")
    assert here["vertex"]["confusion"] == reference["vertex"]["confusion"]
    assert main(["predict", str(root / "m0.off"), "--checkpoint", checkpoint, "--out", str(tmp_path / device),
                 "--device", device, "--precision", "bf16"]) == 0
    assert main(["predict", str(root / "m0.off"), "--checkpoint", checkpoint, "--out", str(tmp_path / "cpu32")]) == 0
    bf16, fp32 = (np.loadtxt(tmp_path / d / "m0.labels.txt", dtype=int) for d in (device, "cpu32"))
    assert (bf16 == fp32).mean() > 0.95  # bf16 may flip a vertex at a class boundary


def test_predict_many_meshes_in_one_process_reports_failures_by_name(trained, tmp_path, capsys):
    """A folder and a glob, one unreadable file among them: the rest are segmented, the bad
    one is named, and the exit code says that one failed."""
    run, root = trained
    folder = tmp_path / "meshes"
    folder.mkdir()
    for name in ("m0", "m1"):
        shutil.copy(root / f"{name}.off", folder / f"{name}.off")
    (folder / "broken.off").write_text("OFF\n3 1 0\n0 0 0\n")  # the header promises more
    argv = ["predict", str(folder), str(root / "m2*.off"), "--checkpoint", str(run / "run" / "best.pt"),
            "--out", str(tmp_path / "out"), "--probabilities", "--no-progress"]
    assert main(argv) == 2
    out = capsys.readouterr().out
    assert "3 meshes segmented, 1 failed" in out and "failed broken.off" in out
    for name in ("m0", "m1", "m2"):
        labels = np.loadtxt(tmp_path / "out" / f"{name}.labels.txt", dtype=int)
        faces = np.loadtxt(tmp_path / "out" / f"{name}.face_labels.txt", dtype=int)
        probabilities = np.load(tmp_path / "out" / f"{name}.probabilities.npy")
        assert len(labels) == 162 and len(faces) == 320 and probabilities.shape == (162, 2)
        np.testing.assert_allclose(probabilities.sum(1), 1, rtol=1e-5)
        assert (probabilities.argmax(1) == labels).all()


def test_predictor_from_python(trained):
    import gaugemesh

    run, root = trained
    predictor = gaugemesh.Predictor(run / "run" / "best.pt")
    first, second = predictor.predict(root / "m0.off"), predictor.predict(root / "m1.off")
    assert first.vertex_labels.shape == (162,) and first.face_labels.shape == (320,)
    assert 0.5 <= first.confidence <= 1 and second.dropped_vertices == 0
    assert predictor.class_names == ["0", "1"]


def test_predictor_resamples_finer_meshes_and_reads_back_every_vertex(trained, tmp_path):
    """input_vertices: a mesh more than twice as dense is segmented on its resampled copy, and
    every vertex takes the probabilities of the resampled vertex that stands for it."""
    from dataclasses import replace

    import gaugemesh
    from gaugemesh.datasets.sample import cast_floats, mesh_sample
    from gaugemesh.hierarchy.resample import resample_mesh
    from gaugemesh.training.loop import predict_scores
    from tests.conftest import icosphere
    from tests.datasets.helpers import write_off

    run, _ = trained
    pos, faces = icosphere(4)  # 2562 vertices; the training meshes have 162
    write_off(tmp_path / "fine.off", pos, faces)
    predictor = gaugemesh.Predictor(run / "run" / "best.pt", input_vertices=150)
    prediction = predictor.predict(tmp_path / "fine.off")
    assert prediction.probabilities.shape == (2562, 2) and prediction.vertex_labels.shape == (2562,)
    resampled = resample_mesh(prediction.mesh, 150)
    sample = cast_floats(mesh_sample(resampled.mesh, replace(predictor.options, input_vertices=0)), torch.float32)
    scores = predict_scores(predictor.model, sample, torch.device("cpu")).softmax(1).numpy()
    np.testing.assert_allclose(prediction.probabilities, scores[resampled.index], rtol=1e-5, atol=1e-6)
    assert gaugemesh.Predictor(run / "run" / "best.pt").options.input_vertices == 0  # off unless asked


def test_training_keeps_one_copy_of_the_samples(tmp_path, monkeypatch):
    """The trainer holds its own copies of the samples; the in-memory dataset they came from
    must be gone by the time training runs, or every sample is held twice."""
    import gc

    from gaugemesh.training.loop import Trainer

    alive = []

    def fit(self, until=None):
        gc.collect()
        alive.append(sum(isinstance(o, MeshDataset) for o in gc.get_objects()))

    monkeypatch.setattr(Trainer, "fit", fit)
    root = make_generic(tmp_path / "data", num=4, subdivisions=1)
    assert main(["train", "--config", str(_config(tmp_path, root, epochs=1)), "--no-progress"]) == 0
    assert alive == [0]
