"""Multi-scale training: model.kind = "gem_unet" with the hierarchy computed in preprocessing."""

import functools

import pytest
import torch

from gaugemesh.cli import main
from gaugemesh.datasets.layouts import open_layout
from gaugemesh.datasets.sample import ProcessOptions
from gaugemesh.models import GemUNet
from gaugemesh.training.checkpoint import CheckpointError, save_checkpoint
from gaugemesh.training.config import ConfigError, load_config
from gaugemesh.training.recipe import build_model, check_levels, load_model
from tests.datasets.helpers import make_generic

UNET = ["model.kind=gem_unet", "model.width=2", "model.max_order=1", "model.num_levels=2",
        "features.hierarchy_levels=2"]
TINY = ["train.epochs=1", "train.device=cpu", "features.hks_count=2", "features.grad_count=1",
        "features.eigs=8", "data.workers=0", "data.val_fraction=0.5"]


def test_a_model_that_pools_through_levels_the_samples_lack_is_refused_first():
    config = load_config(None, ["model.kind=gem_unet", "model.num_levels=3", "features.hierarchy_levels=2"])
    with pytest.raises(ConfigError, match=r"model.num_levels = 3 needs features.hierarchy_levels >= 3"):
        check_levels(config)
    check_levels(load_config(None, ["model.kind=gem_unet", "model.num_levels=3", "features.hierarchy_levels=3"]))
    check_levels(load_config(None))  # the single-scale default needs none


def test_the_cache_key_of_single_scale_samples_is_unchanged(tmp_path):
    layout = open_layout(make_generic(tmp_path / "data", num=1), "generic")
    assert "hierarchy_levels" not in ProcessOptions().key(layout)["options"]
    assert ProcessOptions(hierarchy_levels=3).key(layout)["options"]["hierarchy_levels"] == 3


def test_train_eval_predict_a_unet_from_the_command_line(tmp_path, capsys):
    root = make_generic(tmp_path / "data", num=4, subdivisions=2)
    run = tmp_path / "run"
    assert main(["train", "--data", str(root), "--out", str(run), "--no-progress", *UNET, *TINY]) == 0
    model, state = load_model(run / "best.pt")
    assert isinstance(model, GemUNet) and model.num_levels == 2
    assert main(["eval", "--checkpoint", str(run / "best.pt"), "--data", str(root), "--split", "train",
                 "--no-progress"]) == 0
    assert main(["predict", str(root / "m0.off"), "--checkpoint", str(run / "best.pt"), "--out",
                 str(tmp_path / "pred"), "--no-progress"]) == 0
    labels = (tmp_path / "pred" / "m0.labels.txt").read_text().split()
    assert len(labels) == 162 and set(labels) <= {"0", "1"}


@pytest.fixture()
def unet_checkpoint(tmp_path):
    config = load_config(None, UNET + TINY)
    network = build_model(config["model"], "2x0 + 1x1", 2)
    return dict(model_state=network.state_dict(), config=config, class_names=["0", "1"], in_type="2x0 + 1x1")


@pytest.mark.parametrize("table", [{"num_levels": 5}, {"growth": 1e300}, {"growth": 3.0}, {"width": 9},
                                   {"blocks_per_level": 4}, {"growth": "big"}, {"head_hidden": 10**9}],
                         ids=lambda t: ",".join(f"{k}={v}" for k, v in t.items()))
def test_a_forged_unet_table_is_refused_before_building(tmp_path, unet_checkpoint, monkeypatch, table):
    original = GemUNet.__init__

    @functools.wraps(original)
    def refuse(self, *args, **kwargs):
        raise AssertionError(f"GemUNet{args[1:]}{kwargs} was built before the checkpoint was checked")

    monkeypatch.setattr(GemUNet, "__init__", refuse)
    config = unet_checkpoint["config"]
    path = tmp_path / "forged.pt"
    save_checkpoint(path, **{**unet_checkpoint, "config": {**config, "model": {**config["model"], **table}}})
    with pytest.raises(CheckpointError, match=r"forged\.pt: .*the checkpoint was edited or is corrupt"):
        load_model(path)  # the spy above proves nothing was built


@pytest.mark.parametrize("head", [[], ["model.head_hidden=6", "model.readout_levels=2"]], ids=["linear", "hypercolumn"])
def test_an_honest_unet_checkpoint_loads(tmp_path, head):
    config = load_config(None, UNET + TINY + head)
    network = build_model(config["model"], "2x0 + 1x1", 2)
    save_checkpoint(tmp_path / "honest.pt", model_state=network.state_dict(), config=config, class_names=["0", "1"],
                    in_type="2x0 + 1x1")
    model, _ = load_model(tmp_path / "honest.pt")
    assert model.state_dict().keys() == network.state_dict().keys()
    for name, value in model.state_dict().items():
        assert torch.equal(value, network.state_dict()[name])


def test_a_head_without_its_hidden_layer_is_refused(tmp_path):
    """A linear classifier's weights under a table that asks for a hidden layer (or the
    reverse) name head_hidden, not a missing weight."""
    config = load_config(None, UNET + TINY)
    state = build_model(config["model"], "2x0 + 1x1", 2).state_dict()
    forged = {**config, "model": {**config["model"], "head_hidden": 6}}
    save_checkpoint(tmp_path / "forged.pt", model_state=state, config=forged, class_names=["0", "1"], in_type="2x0 + 1x1")
    with pytest.raises(CheckpointError, match="head_hidden"):
        load_model(tmp_path / "forged.pt")


def test_coarse_levels_by_vertex_count_do_not_follow_the_resolution():
    """With coarse_vertices the cell size comes from the surface: a mesh and its 4x
    refinement get coarse levels of about the same size (with the factor they would not)."""
    import trimesh

    from gaugemesh import mesh_to_data, validate_mesh
    from gaugemesh.hierarchy.data import add_hierarchy

    sizes = {}
    for subdivisions in (3, 4):
        sphere = trimesh.creation.icosphere(subdivisions)
        data = mesh_to_data(validate_mesh(sphere.vertices, sphere.faces), dtype=torch.float64)
        metric = add_hierarchy(data, 3, coarse_vertices=[160, 40])
        relative = add_hierarchy(data, 3)
        sizes[subdivisions] = (metric.num_level_nodes(1), metric.num_level_nodes(2), relative.num_level_nodes(1))
    (a1, a2, r), (b1, b2, s) = sizes[3], sizes[4]
    assert abs(a1 - b1) <= 0.25 * a1 and abs(a2 - b2) <= 0.25 * a2
    assert s > 3 * r  # the factor follows the resolution


def test_coarse_vertices_are_checked_against_the_levels():
    with pytest.raises(ValueError, match="one count per coarse level"):
        ProcessOptions(hierarchy_levels=3, coarse_vertices=(100,))
