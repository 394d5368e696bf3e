"""The default recipe: `gaugemesh train --data DIR --out RUN` with no config."""

import json
import sys

import pytest

from gaugemesh.cli import main
from gaugemesh.training.config import load_config
from gaugemesh.training.default_recipe import (EPOCH_RANGE, RECIPE_MODEL, RECIPE_TRAIN, DatasetSurvey,
                                               _group_pattern, default_config, survey_dataset)
from tests.datasets.helpers import make_generic, make_meshcnn

TINY = ["model.width=2", "model.max_order=1", "model.num_blocks=1", "train.epochs=1", "train.device=cpu",
        "features.hks_count=2", "features.grad_count=1", "features.eigs=8", "data.workers=0",
        "data.val_fraction=0.5"]


def test_the_survey_sees_layout_size_and_classes(tmp_path):
    root = make_meshcnn(tmp_path / "data", num=3)
    (root / "classes.txt").unlink()  # as MeshCNN's own COSEG sets ship: classes come from the labels
    survey = survey_dataset(root)
    assert (survey.layout, survey.num_train, survey.num_classes, survey.soft_edge_labels) == ("meshcnn", 3, 2, True)
    assert survey.mean_vertices == 42  # a once-subdivided icosphere


# 300 meshes of 1k vertices, 270 of them trained on: 20 s per epoch, 35 in 12 minutes.
@pytest.mark.parametrize("num_train, vertices, expected", [(300, 1000, 35), (5, 500, EPOCH_RANGE[1]),
                                                           (500, 15000, EPOCH_RANGE[0])])
def test_epochs_follow_the_data_within_the_budget(num_train, vertices, expected):
    survey = DatasetSurvey("generic", num_train, vertices, 3, False, None, num_train)
    config, reasons = default_config("unused", "run", survey=survey)
    assert config["train"]["epochs"] == expected and f"epochs: {expected}" in "\n".join(reasons)
    assert config["model"] == RECIPE_MODEL and config["train"]["select_metric"] == "vertex_acc"


def test_groups_only_where_names_make_usable_ones():
    subjects = [f"subject{s}_pose_{p:03d}" for s in range(12) for p in range(10)]
    assert _group_pattern(subjects, 0.1) == (r"^(.*?)[-_. ]*\d+$", 12)
    assert _group_pattern([str(i) for i in range(100)], 0.1)[0] is None  # COSEG: 1.off, 2.off, ...
    assert _group_pattern([f"a{i}" for i in range(50)] + [f"b{i}" for i in range(50)], 0.1)[0] is None


def test_the_shipped_human_seg_experiment_is_the_recipe():
    config = load_config("experiments/human_seg/config.toml")
    assert config["model"] == RECIPE_MODEL
    assert {key: config["train"][key] for key in RECIPE_TRAIN} == RECIPE_TRAIN
    assert config["features"]["names"] == load_config(None)["features"]["names"]


def test_train_with_data_and_out_only(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["gaugemesh"])
    root = make_generic(tmp_path / "data", num=4)
    run = tmp_path / "run"
    assert main(["train", "--data", str(root), "--out", str(run), "--no-progress", *TINY]) == 0
    out = capsys.readouterr().out
    assert "default recipe (no --config):" in out and "generic layout, 4 training meshes" in out
    assert "[train]" in out and "epochs = 1" in out  # the resolved configuration, overrides applied
    stored = load_config(run / "config.toml")
    assert stored == json.loads((run / "config.json").read_text())
    assert stored["data"]["format"] == "auto" and stored["model"]["width"] == 2
    assert main(["eval", "--checkpoint", str(run / "best.pt"), "--data", str(root), "--split", "train",
                 "--no-progress"]) == 0


def test_no_config_and_no_data_is_a_one_line_error(capsys):
    assert main(["train", "--out", "x"]) == 2
    assert "give --data DIR and --out RUN" in capsys.readouterr().err


def test_an_unrecognisable_folder_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "run")]) == 2
    assert "holds no dataset gaugemesh recognises" in capsys.readouterr().err
