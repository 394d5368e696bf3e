"""The training loop with a tiny stand-in model: learning, checkpoints, resume, DDP."""

import json
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch_geometric.data import Data

from gaugemesh import mesh_to_data, validate_mesh
from gaugemesh.training.checkpoint import CheckpointError, save_weights_only
from gaugemesh.training.loop import Trainer, TrainingDiverged, TrainSettings, evaluate
from gaugemesh.training.metrics import IGNORE_INDEX
from tests.conftest import icosphere


class Tiny(torch.nn.Module):
    """Per-vertex MLP with dropout (so resume must restore the RNG)."""

    def __init__(self, channels=4, classes=3, dropout=0.2):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(channels, 16), torch.nn.ReLU(), torch.nn.Dropout(dropout),
                                       torch.nn.Linear(16, classes))

    def forward(self, data):
        return self.net(data.x)


def _dataset(num=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    geometry = mesh_to_data(validate_mesh(*icosphere(1)))
    out = []
    for _ in range(num):
        x = torch.randn(geometry.num_nodes, 4, generator=gen)
        y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
        out.append(Data(x=x, y=y, **{k: geometry[k] for k in ("edge_index", "theta", "transport", "edge_weight")},
                        num_nodes=geometry.num_nodes))
    return out


def _by_hand(model, dataset):
    """Pooled vertex accuracy, mean IoU and mean loss over the labelled vertices of the whole
    set, from the model's own predictions one mesh at a time."""
    model.eval()
    with torch.no_grad():
        scores = torch.cat([model(d) for d in dataset]).double()
    y = torch.cat([d.y for d in dataset])
    labelled = y != IGNORE_INDEX
    pred, target = scores.argmax(1)[labelled], y[labelled]
    ious = []
    for c in range(scores.size(1)):
        union = int(((pred == c) | (target == c)).sum())
        if union:  # classes neither predicted nor present have no IoU
            ious.append(int(((pred == c) & (target == c)).sum()) / union)
    loss = torch.nn.functional.cross_entropy(scores[labelled], target, reduction="mean")
    return {"vertex_acc": float((pred == target).double().mean()), "vertex_miou": sum(ious) / len(ious),
            "loss": float(loss)}


def test_evaluate_pools_accuracy_iou_and_loss_over_the_labelled_vertices():
    """Against the numbers computed by hand from the model's predictions: meshes of two sizes
    (pooled is not the mean of per-mesh fractions), some vertices unlabelled, batches that
    split the set unevenly."""
    torch.manual_seed(0)
    model = Tiny()
    dataset = []
    for k, num_nodes in enumerate([42, 162, 42]):  # the model reads x only: no geometry needed
        x = torch.randn(num_nodes, 4)
        y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
        y[k :: 5] = IGNORE_INDEX
        dataset.append(Data(x=x, y=y, num_nodes=num_nodes))
    expected = _by_hand(model, dataset)
    assert 0.05 < expected["vertex_acc"] < 0.95  # neither all right nor all wrong: the check can tell
    model.train()  # evaluate must switch dropout off itself
    got = evaluate(model, dataset, torch.device("cpu"), batch_size=2)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-6), key
    per_mesh = sum(_by_hand(model, [d])["vertex_acc"] for d in dataset) / len(dataset)
    assert per_mesh != pytest.approx(expected["vertex_acc"], rel=1e-6)  # so pooling is what was checked


def _trainer(out, epochs=4, **kw):
    torch.manual_seed(0)
    settings = TrainSettings(epochs=epochs, batch_size=2, lr=3e-2, seed=0, device="cpu", **kw)
    meta = dict(config={"note": "test"}, class_names=["a", "b", "c"], in_type="4x0")
    return Trainer(Tiny(), _dataset(), _dataset(2, seed=1), settings, out, meta, progress=False)


def test_training_lowers_the_loss_and_writes_checkpoints_and_metrics(tmp_path):
    rows = _trainer(tmp_path).fit()
    assert len(rows) == 4 and rows[-1]["train_loss"] < 0.8 * rows[0]["train_loss"]
    assert {"val_loss", "val_vertex_acc", "val_vertex_miou", "lr", "epoch_s"} <= set(rows[0])
    for name in ("best.pt", "last.pt", "metrics.jsonl", "curves.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


def test_resume_continues_bit_for_bit(tmp_path):
    straight = _trainer(tmp_path / "a").fit()
    _trainer(tmp_path / "b").fit(until=2)  # as if killed after epoch 2
    resumed = _trainer(tmp_path / "b")
    resumed.resume()
    rows = resumed.fit()
    assert [r["train_loss"] for r in rows] == [r["train_loss"] for r in straight]
    a, b = _trainer(tmp_path / "a").model, resumed.model
    a.load_state_dict(torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model_state"])
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path):
    _trainer(tmp_path, epochs=1).fit()
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        _trainer(tmp_path).resume()


def test_a_loss_that_is_not_finite_stops_the_run_and_keeps_the_last_good_epoch(tmp_path):
    trainer = _trainer(tmp_path, epochs=3)
    trainer.fit(until=1)
    trainer.train_set[0].x[0, 0] = float("nan")  # bad data reaches the loss in epoch 2
    with pytest.raises(TrainingDiverged, match=r"epoch 2: the training loss is nan .*last.pt still holds epoch 1"):
        trainer.fit()
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    assert saved["epoch"] == 1 and all(torch.isfinite(v).all() for v in saved["model_state"].values())
    assert [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1]


def test_nan_in_the_first_epoch_points_at_the_inputs(tmp_path):
    trainer = _trainer(tmp_path, epochs=2)
    trainer.train_set[2].x[5] = float("inf")
    with pytest.raises(TrainingDiverged, match="no epoch had finished; check the inputs"):
        trainer.fit()
    assert not (tmp_path / "last.pt").exists()


def test_a_loss_that_more_than_doubles_is_warned_about(tmp_path, caplog, monkeypatch):
    trainer = _trainer(tmp_path, epochs=3)
    losses = iter([1.0, 1.9, 4.0])
    monkeypatch.setattr(trainer, "_train_epoch", lambda: {"train_loss": next(losses), "lr": 0.03})
    with caplog.at_level("WARNING", logger="gaugemesh.training.loop"):
        trainer.fit()
    warnings = [r.getMessage() for r in caplog.records if "diverging" in r.getMessage()]
    assert warnings == ["epoch 3: the training loss rose from 1.9000 to 4.0000; the run is likely diverging "
                        "(a lower train.lr than 0.03 may help)"]


def test_a_weights_only_checkpoint_predicts_alike_but_cannot_resume(tmp_path):
    trainer = _trainer(tmp_path / "run", epochs=2)
    trainer.fit()
    slim = save_weights_only(tmp_path / "run" / "best.pt", tmp_path / "slim.pt")
    full, kept = (torch.load(path, weights_only=True) for path in (tmp_path / "run" / "best.pt", slim))
    assert set(full) - set(kept) == {"optimizer_state", "scheduler_state", "scaler_state", "torch_rng_state",
                                     "cuda_rng_state"} & set(full)
    assert "optimizer_state" in full and {"config", "class_names", "in_type", "epoch"} <= set(kept)
    assert slim.stat().st_size < (tmp_path / "run" / "best.pt").stat().st_size
    for key, value in full["model_state"].items():
        assert torch.equal(kept["model_state"][key], value)
    with pytest.raises(CheckpointError, match="holds weights only"):
        _trainer(tmp_path / "other").resume(slim)


def test_same_seed_gives_the_same_numbers_twice(tmp_path):
    def numbers(rows):
        return [{k: v for k, v in row.items() if k != "epoch_s"} for row in rows]

    assert numbers(_trainer(tmp_path / "a", epochs=2).fit()) == numbers(_trainer(tmp_path / "b", epochs=2).fit())


# Dropout is off here: one process draws one mask for the whole global batch, two draw two.
def _rank(rank, world, store, out, backend="gloo"):
    dist.init_process_group(backend, init_method=f"file://{store}", rank=rank, world_size=world)
    torch.manual_seed(0)
    device = f"cuda:{rank}" if backend == "nccl" else "cpu"
    settings = TrainSettings(epochs=2, batch_size=1, lr=1e-2, seed=0, device=device, schedule="none")
    trainer = Trainer(Tiny(dropout=0.0), _dataset(), [], settings, out, dict(config={}, class_names=[], in_type="4x0"),
                      progress=False)
    trainer.fit()
    torch.save({k: v.clone() for k, v in trainer.model.state_dict().items()}, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_on_the_same_global_batch(tmp_path):
    mp.spawn(_rank, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    torch.manual_seed(0)
    single = Trainer(Tiny(dropout=0.0), _dataset(), [], TrainSettings(epochs=2, batch_size=2, lr=1e-2, seed=0, device="cpu",
                                                          schedule="none"),
                     tmp_path / "single", dict(config={}, class_names=[], in_type="4x0"), progress=False)
    single.fit()
    for key, value in single.model.state_dict().items():
        assert torch.equal(ranks[0][key], ranks[1][key]), key
        torch.testing.assert_close(ranks[0][key], value, rtol=1e-5, atol=1e-6)
    held_out = _dataset(2, seed=3)
    assert evaluate(single.model, held_out, torch.device("cpu"))["vertex_acc"] == pytest.approx(
        _by_hand(single.model, held_out)["vertex_acc"], rel=1e-9)


@pytest.mark.cuda
def test_two_nccl_processes_on_two_gpus_match_one_gpu(tmp_path):
    if torch.cuda.device_count() < 2:
        pytest.skip(f"needs 2 CUDA devices for NCCL data parallelism; torch sees {torch.cuda.device_count()}")
    mp.spawn(_rank, args=(2, str(tmp_path / "store"), str(tmp_path), "nccl"), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True, map_location="cpu") for r in range(2)]
    torch.manual_seed(0)
    settings = TrainSettings(epochs=2, batch_size=2, lr=1e-2, seed=0, device="cuda:0", schedule="none")
    single = Trainer(Tiny(dropout=0.0), _dataset(), [], settings, tmp_path / "single",
                     dict(config={}, class_names=[], in_type="4x0"), progress=False)
    single.fit()
    for key, value in single.model.state_dict().items():
        assert torch.equal(ranks[0][key], ranks[1][key]), key
        torch.testing.assert_close(ranks[0][key], value.cpu(), rtol=1e-5, atol=1e-6)
