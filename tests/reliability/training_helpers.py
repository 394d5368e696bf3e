"""Tiny runs and checkpoints made without training, for the issue-15 tests of the job.

Training even a tiny model costs seconds (matplotlib, first calls); these tests only need
files that look like a run, so checkpoints are written from a freshly built model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gaugemesh.features import FeatureOptions, feature_type_string
from gaugemesh.training.checkpoint import save_checkpoint
from gaugemesh.training.config import load_config
from gaugemesh.training.recipe import build_model
from tests.datasets.helpers import make_generic

CONFIG = """
[data]
format = "generic"
root = "{root}"
val_fraction = 0.5
workers = 0
[features]
names = ["hks", "curvature", "hks_grad"]
hks_count = 2
grad_count = 1
eigs = 8
[model]
width = 2
max_order = 1
num_blocks = 1
[train]
epochs = 1
batch_size = 2
device = "cpu"
[output]
dir = "{out}"
"""

#: The input type of CONFIG's features.
IN_TYPE = feature_type_string(["hks", "curvature", "hks_grad"], FeatureOptions(hks_count=2, grad_count=1, eigs=8))


def write_config(tmp_path: Path, root: Path | None = None, out: Path | None = None) -> Path:
    """A tiny config file (two spheres' worth of data at ``root``, output at ``out``)."""
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(root=root or tmp_path / "data", out=out or tmp_path / "run"))
    return path


def tiny_data(root: Path, num: int = 2) -> Path:
    """Spheres with labels 0 and 1, all in the train split."""
    return make_generic(root, num=num, subdivisions=1)


def write_checkpoint(path: Path, config_path: Path, class_names: list[str] | None = None,
                     model: dict[str, Any] | None = None) -> dict[str, Any]:
    """A checkpoint of the config's freshly built model; ``model`` replaces the stored
    ``[model]`` table afterwards (the weights stay those of the config's model)."""
    config = load_config(config_path)
    class_names = class_names or ["0", "1"]
    network = build_model(config["model"], IN_TYPE, len(class_names))
    stored = {**config, "model": model if model is not None else config["model"]}
    content = dict(model_state=network.state_dict(), config=stored, class_names=class_names, in_type=IN_TYPE)
    save_checkpoint(path, **content)
    return content


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of ``folder`` and its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def one_line_error(capsys, words: str) -> str:
    """The captured stderr, checked to be one line without a traceback that contains ``words``."""
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and err.count("\n") == 1, err
    return err
