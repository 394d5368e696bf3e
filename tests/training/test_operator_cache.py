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


def test_a_multiscale_model_gets_every_level_s_operators_kept(tmp_path):
    """GemUNet's coarse levels are kept per mesh too, and the trained numbers are those of a
    model that builds every operator itself."""
    import numpy as np

    from gaugemesh import mesh_to_data, validate_mesh
    from gaugemesh.hierarchy.data import add_hierarchy
    from gaugemesh.models import GemUNet
    from gaugemesh.testing import randomize_parameters
    from tests.conftest import icosphere

    meshes = []
    for seed in range(3):
        pos, faces = icosphere(2)
        pos = pos * (1 + 0.1 * np.random.default_rng(seed).random((len(pos), 1)))
        data = add_hierarchy(mesh_to_data(validate_mesh(pos, faces), dtype=torch.float64), 3)
        data.x = torch.randn(data.num_nodes, 4, dtype=torch.float64)
        data.x_type = "4x0"
        meshes.append(data)
    model = randomize_parameters(GemUNet("4x0", 3, width=2, max_order=1, num_levels=3).double()).eval()
    cache = MeshOperatorCache(meshes, "cpu", levels=3)
    batch = Batch.from_data_list([meshes[2], meshes[0]])
    operators = cache.batch(batch, [2, 0])
    assert len(operators) == 3 and cache.built == 2
    torch.testing.assert_close(model(batch, operators=operators), model(batch), rtol=0, atol=1e-12)
    cache.batch(Batch.from_data_list([meshes[0], meshes[1]]), [0, 1])
    assert cache.built == 3  # mesh 0's three levels were kept


def test_a_full_budget_keeps_the_first_meshes_through_shuffled_epochs():
    """Epochs visit every mesh once in a new order: the meshes kept first stay kept, so each
    later epoch rebuilds only the others (least-recently-used eviction would drop most meshes
    just before they come round again)."""
    meshes = MeshOperatorCache.tag(_dataset(5))
    model = GemResNet("4x0", 3, width=3, max_order=1, num_blocks=1).eval()
    one = MeshOperatorCache(meshes, "cpu")
    model(meshes[0], operators=one.batch(Batch.from_data_list(meshes[:1]), [0]))
    one._settle()
    cache = MeshOperatorCache(meshes, "cpu", budget=int(2.5 * one.nbytes))  # room for two meshes
    gen = torch.Generator().manual_seed(0)
    built = []
    for _ in range(4):
        before = cache.built
        for i in torch.randperm(5, generator=gen).tolist():
            model(meshes[i], operators=cache.batch(Batch.from_data_list([meshes[i]]), [i]))
        built.append(cache.built - before)
    assert built == [5, 3, 3, 3]
    assert len(cache._kept) <= 3 and cache.nbytes <= cache.budget + one.nbytes  # the last mesh is counted next batch
