"""O(2) networks from the command line: features.structure_group = "O2" with model.kind = "o2gem"
trains, evaluates and predicts (a Moebius strip too); mismatched settings are refused in one
line; the cache key of SO(2) configs is what it was."""

import json

import numpy as np
import pytest

from gaugemesh.cli import main
from gaugemesh.datasets import ProcessOptions
from gaugemesh.datasets.layouts import open_layout
from gaugemesh.training.augment import make_augment
from gaugemesh.training.config import load_config
from tests.o2_meshes import moebius_strip
from tests.reliability.training_helpers import CONFIG, one_line_error, tiny_data

O2_CONFIG = CONFIG.replace("eigs = 8\n", 'eigs = 8\nstructure_group = "O2"\n').replace(
    "[model]\n", '[model]\nkind = "o2gem"\n')


def _write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text.format(root=tmp_path / "data", out=tmp_path / "run"))
    return path


def _write_obj(path, pos, faces):
    lines = [f"v {x:.17g} {y:.17g} {z:.17g}" for x, y, z in pos] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_eval_predict_with_o2(tmp_path, capsys):
    root = tiny_data(tmp_path / "data")
    config = _write(tmp_path, O2_CONFIG)
    assert main(["train", "--config", str(config), "--no-progress"]) == 0
    run = tmp_path / "run"
    stored = json.loads((run / "config.json").read_text())
    assert stored["features"]["structure_group"] == "O2" and stored["model"]["kind"] == "o2gem"
    assert main(["eval", "--checkpoint", str(run / "best.pt"), "--data", str(root), "--split", "train",
                 "--no-progress"]) == 0
    report = json.loads((run / "train_metrics.json").read_text())
    assert 0 <= report["vertex_acc"] <= 1 and report["meshes"] == 2
    strip = _write_obj(tmp_path / "moebius.obj", *moebius_strip(16, 5)[:2])
    out = tmp_path / "pred"
    assert main(["predict", str(root / "m0.off"), str(strip), "--checkpoint", str(run / "best.pt"),
                 "--out", str(out), "--no-progress"]) == 0
    assert "2 meshes segmented, 0 failed" in capsys.readouterr().out
    labels = np.loadtxt(out / "moebius.labels.txt")
    assert labels.shape == (16 * 5,) and set(labels) <= {0, 1}


@pytest.mark.parametrize("change, words", [
    (lambda text: text.replace('kind = "o2gem"\n', ""), 'needs model.kind = "o2gem"'),
    (lambda text: text.replace('structure_group = "O2"\n', ""), 'needs features.structure_group = "O2"'),
    (lambda text: text.replace('structure_group = "O2"', 'structure_group = "O3"'), "must be one of SO2, O2"),
])
def test_mismatched_structure_group_and_model_are_refused(tmp_path, capsys, change, words):
    tiny_data(tmp_path / "data")
    config = _write(tmp_path, change(O2_CONFIG))
    assert main(["train", "--config", str(config), "--no-progress"]) == 2
    one_line_error(capsys, words)
    assert not (tmp_path / "run").exists()


def test_the_cache_key_of_so2_configs_is_unchanged(tmp_path):
    layout = open_layout(tiny_data(tmp_path / "data"), "generic")
    so2 = ProcessOptions().key(layout)
    assert "structure_group" not in so2["options"]  # as before O(2): existing caches stay valid
    o2 = ProcessOptions(structure_group="O2").key(layout)
    assert o2["options"]["structure_group"] == "O2" and {**o2["options"], "structure_group": None} != so2["options"]
    with pytest.raises(ValueError, match="levi-civita"):
        ProcessOptions(connection="projection", structure_group="O2")


def test_o2_runs_skip_the_random_gauge(tmp_path):
    config = load_config(_write(tmp_path, O2_CONFIG))
    config["augment"]["rotate"] = False
    assert make_augment(config, "2x0 + 1x0- + 1x0 + 1x1") is None  # nothing left to augment
    config["features"]["structure_group"] = "SO2"
    assert make_augment(config, "4x0 + 1x1") is not None
