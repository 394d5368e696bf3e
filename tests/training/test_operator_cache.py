"""Per-mesh convolution operators kept across epochs, within a memory budget."""

import torch
from torch_geometric.data import Batch

from gaugemesh.models import GemResNet
from gaugemesh.training.operator_cache import MESH_ID, MeshOperatorCache
from gaugemesh.training.loop import Trainer, TrainSettings
from tests.training.test_loop import _dataset


def _trainer(out, **kw):
    torch.manual_seed(0)
    settings = TrainSettings(epochs=2, batch_size=2, lr=1e-2, seed=0, device="cpu", **kw)
    model = GemResNet("4x0", 3, width=3, max_order=1, num_blocks=1, dropout=0.1)
    meta = dict(config={}, class_names=["a", "b", "c"], in_type="4x0")
    return Trainer(model, _dataset(), _dataset(2, seed=1), settings, out, meta, progress=False)


def _numbers(rows):
    return [{k: v for k, v in row.items() if k != "epoch_s"} for row in rows]


def test_each_mesh_builds_its_operators_once_and_training_is_unchanged(tmp_path):
    kept = _trainer(tmp_path / "kept")
    rows = kept.fit()
    assert kept.operator_cache.built == 6 + 2  # every training and validation mesh, once in two epochs
    assert kept.operator_cache.nbytes > 0
    rebuilt = _trainer(tmp_path / "rebuilt")
    rebuilt._pass_geometry = False  # the model builds every batch's operators itself, as before
    assert _numbers(rebuilt.fit()) == _numbers(rows)


def test_meshes_beyond_the_budget_are_dropped_and_rebuilt(tmp_path):
    trainer = _trainer(tmp_path, operator_cache_mb=0)
    trainer.fit()
    assert trainer.operator_cache.built > 2 * 6  # nothing kept from one batch to the next
    # the last batch's meshes, and the batch's before, counted only when the next is asked for
    assert len(trainer.operator_cache._kept) <= 2 + 2


def test_tagging_shares_the_tensors_and_numbers_the_meshes():
    meshes = _dataset(3)
    tagged = MeshOperatorCache.tag(meshes, start=5)
    assert [int(getattr(m, MESH_ID)) for m in tagged] == [5, 6, 7]
    assert tagged[0].x is meshes[0].x and not hasattr(meshes[0], MESH_ID)
    assert getattr(Batch.from_data_list(tagged), MESH_ID).tolist() == [5, 6, 7]
