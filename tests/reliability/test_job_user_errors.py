"""Issue 15, defect 8 (train, eval, predict): user errors are one line, exit 2, no traceback.

Bad ``[train]`` values (``epochs=abc``, ``lr=-1``, ``batch_size=0``), unknown keys,
``--device cuda`` without a GPU, an output path that is a file, a split without a usable
mesh: each failed with a traceback, some only after the dataset was processed. Each is
now refused before any work, in one line that says what to do; ``--verbose`` keeps the
traceback.
"""

from __future__ import annotations

import pytest
import torch

from gaugemesh.cli import main
from gaugemesh.training.config import ConfigError
from gaugemesh.training.loop import TrainSettings
from tests.reliability.training_helpers import one_line_error, tiny_data, write_checkpoint, write_config

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error for a machine without a GPU")


@pytest.fixture()
def config(tmp_path):
    tiny_data(tmp_path / "data")
    return write_config(tmp_path)


@pytest.mark.parametrize(("override", "words"), [
    ("train.epochs=abc", "train.epochs must be an integer >= 1, got 'abc'; fix it in the [train] table"),
    ("train.epochs=0", "train.epochs must be an integer >= 1, got 0"),
    ("train.epochs=2.5", "train.epochs must be an integer >= 1, got 2.5"),
    ("train.lr=-1", "train.lr must be a number > 0, got -1; fix it in the [train] table or override it, e.g. train.lr="),
    ("train.lr=nan", "train.lr must be a number > 0, got nan"),
    ("train.batch_size=0", "train.batch_size must be an integer >= 1, got 0"),
    ("train.optimizer=sgd", "train.optimizer must be one of adamw, adam, got 'sgd'"),
    ("train.device=gpu", "train.device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    ("train.label_smoothing=1", "train.label_smoothing must be a number in [0, 1)"),
    ("train.epoch=3", "unknown key train.epoch; valid keys of [train]: batch_size, device, epochs"),
    ("model.depth=3", "unknown key model.depth; valid keys of [model]: batch_norm, dropout, head_hidden, kind"),
    ("model.kind=mlp", "unknown model.kind 'mlp'; use one of gcn, gem"),
    ("data.val_fraction=2", "data.val_fraction must be a number in [0, 1), got 2"),
])
def test_bad_config_values_are_refused_before_any_work(config, capsys, override, words):
    assert main(["train", "--config", str(config), "--no-progress", override]) == 2
    one_line_error(capsys, words)
    assert not (config.parent / "data" / "processed").exists()  # refused before preprocessing


def test_a_value_the_model_refuses_is_one_line(config, capsys):
    assert main(["train", "--config", str(config), "--no-progress", "model.nonlinearity=relu"]) == 2
    one_line_error(capsys, "cannot build GemResNet: Unknown nonlinearity 'relu'")


def test_verbose_keeps_the_traceback(config):
    with pytest.raises(ConfigError, match="train.epochs"):
        main(["--verbose", "train", "--config", str(config), "train.epochs=abc"])


def test_settings_validate_themselves():
    assert TrainSettings().epochs == 30
    with pytest.raises(ConfigError, match=r"^train\.batch_size must be an integer >= 1, got 0;"):
        TrainSettings(batch_size=0)
    with pytest.raises(ConfigError, match=r"^unknown key train\.lrate; valid keys of \[train\]:.* lr,"):
        TrainSettings.from_table({"lrate": 0.1})


def test_an_output_folder_that_is_a_file_is_refused(config, capsys, tmp_path):
    (tmp_path / "taken").write_text("a file\n")
    assert main(["train", "--config", str(config), f"output.dir={tmp_path / 'taken'}"]) == 2
    one_line_error(capsys, "is a file, not a folder")
    checkpoint = tmp_path / "ckpt.pt"
    write_checkpoint(checkpoint, config)
    argv = ["predict", str(tmp_path / "data" / "m0.off"), "--checkpoint", str(checkpoint), "--out"]
    assert main(argv + [str(tmp_path / "taken")]) == 2
    one_line_error(capsys, "--out")
    argv = ["eval", "--checkpoint", str(checkpoint), "--data", str(tmp_path / "data"), "--json", str(tmp_path)]
    assert main(argv) == 2
    one_line_error(capsys, "cannot be written")


@NO_GPU
@pytest.mark.parametrize("command", ["train", "eval", "predict"])
def test_cuda_without_a_gpu_is_one_line(config, capsys, tmp_path, command):
    checkpoint = tmp_path / "ckpt.pt"
    write_checkpoint(checkpoint, config)
    argv = {"train": ["train", "--config", str(config)],
            "eval": ["eval", "--checkpoint", str(checkpoint), "--data", str(tmp_path / "data")],
            "predict": ["predict", str(tmp_path / "data" / "m0.off"), "--checkpoint", str(checkpoint),
                        "--out", str(tmp_path / "out")]}[command]
    assert main(argv + ["--device", "cuda"]) == 2
    one_line_error(capsys, "torch sees no CUDA device; use cpu or auto")


def test_a_split_without_a_usable_mesh_is_one_line(config, capsys, tmp_path):
    root = tmp_path / "data"
    for labels in root.glob("m*.txt"):
        labels.write_text("0\n")  # one label for a whole mesh: every mesh is skipped
    assert main(["train", "--config", str(config), "--no-progress"]) == 2
    one_line_error(capsys, "no usable training meshes")
    checkpoint = tmp_path / "ckpt.pt"
    write_checkpoint(checkpoint, config)
    assert main(["eval", "--checkpoint", str(checkpoint), "--data", str(root), "--split", "train",
                 "--no-progress"]) == 2
    one_line_error(capsys, "no usable meshes in split 'train'")
