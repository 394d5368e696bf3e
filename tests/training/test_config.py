"""Config files and command-line overrides."""

import pytest

from gaugemesh.training.config import ConfigError, load_config


def test_file_defaults_and_overrides(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[data]\nformat = "meshcnn"\n[train]\nepochs = 3\nlr = 0.01\n')
    config = load_config(path, ["train.epochs=7", "data.root=../shared/datasets/human_seg", 'features.names=["hks"]'])
    assert config["data"]["format"] == "meshcnn" and config["data"]["root"] == "../shared/datasets/human_seg"
    assert config["train"] == {"epochs": 7, "lr": 0.01}
    assert config["features"]["names"] == ["hks"] and config["augment"]["gauge"] is True


@pytest.mark.parametrize("bad", ["epochs=3", "nosuch.key=1"])
def test_bad_overrides_name_the_problem(bad):
    with pytest.raises(ConfigError, match="section"):
        load_config(None, [bad])


def test_bad_files(tmp_path):
    (tmp_path / "bad.toml").write_text("[train\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "odd.toml").write_text("[trian]\nepochs = 1\n")
    with pytest.raises(ConfigError, match="unknown sections"):
        load_config(tmp_path / "odd.toml")
    with pytest.raises(ConfigError, match="no config file"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize("override", ["data.rot=x", "features.eig=8", "augment.rotation=false", "output.directory=x"])
def test_a_typo_in_any_table_is_named_with_the_valid_keys(override):
    """[data] and [features] typos used to be ignored in silence ([train], [model]: checked
    where their classes are built)."""
    from gaugemesh.training.config import ConfigError, load_config

    section, key = override.split("=")[0].split(".")
    with pytest.raises(ConfigError, match=f"unknown key {section}.{key}; valid keys of \\[{section}\\]"):
        load_config(None, [override])


def test_the_shipped_configs_use_only_known_keys():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[2] / "experiments").rglob("*.toml"))
    assert len(configs) >= 3
    for path in configs:
        load_config(path)
