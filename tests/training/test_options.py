"""The options schema: types checked per table, defaults in one place, TOML round trip."""

import pytest

from gaugemesh.cli import main
from gaugemesh.features import FeatureOptions
from gaugemesh.training.config import DEFAULTS, ConfigError, load_config, to_toml
from gaugemesh.training.options import FeaturesOptions


@pytest.mark.parametrize("override, message", [
    ("data.val_fraction=\"a tenth\"", "data.val_fraction must be a finite number, got 'a tenth'; e.g. "
                                      "data.val_fraction=0.1"),
    ("data.workers=true", "data.workers must be an integer, got True"),
    ("data.strict=1", "data.strict must be true or false, got 1"),
    ("features.names=\"hks\"", "features.names must be a list of strings"),
    ("features.eigs=1.5", "features.eigs must be an integer"),
    ("augment.scale=nan", "augment.scale must be a finite number"),
    ("output.dir=3", "output.dir must be a string"),
])
def test_a_wrong_type_is_named_with_an_example(override, message):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert message in str(info.value)


def test_an_integer_is_a_number_and_none_is_a_default():
    config = load_config(None, ["data.val_fraction=0", "augment.scale=1"])
    assert config["data"]["val_fraction"] == 0 and config["data"]["repair"] is None


def test_the_feature_defaults_are_the_feature_module_s():
    options = FeatureOptions()
    assert (FeaturesOptions.hks_count, FeaturesOptions.grad_count, FeaturesOptions.eigs) == \
        (options.hks_count, options.grad_count, options.eigs)
    assert DEFAULTS["features"]["eigs"] == options.eigs


def test_the_cli_says_one_line_and_exits_2(tmp_path, capsys):
    code = main(["train", "--config", "experiments/synthetic/config.toml", "train.epochs=3", "data.workers=two",
                 f"output.dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "data.workers must be an integer, got 'two'" in err[0]


def test_toml_round_trip(tmp_path):
    config = load_config("experiments/human_seg/config.toml", ['data.root=C:\\data "quoted" ünï',
                                                                'model.extra_key_checked_later=1'])
    path = tmp_path / "again.toml"
    path.write_text(to_toml(config))
    assert load_config(path) == config
