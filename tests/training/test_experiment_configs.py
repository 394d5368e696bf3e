"""The shipped experiment configs stay usable: each loads, its train table validates, its
model builds on its features, pools through no more levels than preprocessing stores and
reads as many radial weights as the samples hold."""

from pathlib import Path

import pytest

from gaugemesh.features import feature_type_string
from gaugemesh.training.config import load_config
from gaugemesh.training.loop import TrainSettings
from gaugemesh.training.recipe import build_model, check_levels, check_radial_basis, feature_options, process_options

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
CONFIGS = sorted(EXPERIMENTS.glob("*/*.toml"))


def test_the_experiments_ship_configs():
    assert {p.parent.name for p in CONFIGS} >= {"human_seg", "rna_seg", "synthetic"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_experiment_config_builds(path):
    config = load_config(path)
    TrainSettings.from_table(config["train"]).validate()
    check_levels(config)
    check_radial_basis(config)
    options = process_options(config)
    in_type = feature_type_string(config["features"]["names"], feature_options(config["features"]),
                                  options.structure_group)
    model = build_model(config["model"], in_type, num_classes=3)
    assert sum(p.numel() for p in model.parameters()) > 0
