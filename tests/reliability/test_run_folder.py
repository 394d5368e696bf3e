"""Issue 15, defect 2: a new run must not silently replace an old one.

``gaugemesh train`` without ``--resume`` into a folder holding a run overwrote its
checkpoints and appended to its ``metrics.jsonl``. Such a folder is now refused unless
``--resume`` continues the run or ``--overwrite`` deletes its files first.
"""

from __future__ import annotations

import json

import pytest

from gaugemesh.cli import main
from gaugemesh.training import train_job
from gaugemesh.training.config import load_config
from gaugemesh.training.run_folder import RUN_FILES, JobError
from tests.reliability.training_helpers import one_line_error, snapshot, tiny_data, write_config


@pytest.fixture()
def config(tmp_path):
    tiny_data(tmp_path / "data")
    return write_config(tmp_path)


@pytest.fixture()
def fit_spy(monkeypatch):
    """Replaces training by a record of the run folder as training would find it."""
    seen = {}

    def fit(trainer, until=None):
        seen.update(snapshot(trainer.out_dir))
        return []

    monkeypatch.setattr(train_job.Trainer, "fit", fit)
    return seen


def _old_run(folder, names=RUN_FILES):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(f"old {name}\n")
    return snapshot(folder)


@pytest.mark.parametrize("name", RUN_FILES)
def test_a_folder_holding_a_run_is_refused_and_left_alone(tmp_path, config, capsys, name):
    before = _old_run(tmp_path / "run", [name])
    assert main(["train", "--config", str(config), "--no-progress"]) == 2
    err = one_line_error(capsys, "already holds a run")
    assert "--resume" in err and "--overwrite" in err and name in err
    assert snapshot(tmp_path / "run") == before


def test_the_library_refuses_too(tmp_path, config):
    _old_run(tmp_path / "run")
    with pytest.raises(JobError, match=r"already holds a run \(best\.pt, last\.pt, metrics\.jsonl"):
        train_job.train(load_config(config), progress=False)


def test_overwrite_deletes_the_old_run_files_before_training(tmp_path, config, fit_spy, capsys):
    _old_run(tmp_path / "run")
    (tmp_path / "run" / "notes.txt").write_text("mine\n")
    for report in ("test_metrics.json", "val_rotated1_metrics.json", "test_metrics_confusion.png"):
        (tmp_path / "run" / report).write_text("the old model's\n")
    assert main(["train", "--config", str(config), "--overwrite", "--no-progress"]) == 0
    assert set(fit_spy) == {"config.json", "config.toml", "notes.txt"}  # no old checkpoint, log, curves or report
    assert json.loads(fit_spy["config.json"])["model"]["width"] == 2
    assert fit_spy["notes.txt"] == b"mine\n"  # not a run file: kept


def test_a_folder_without_a_run_is_used_as_it_is(tmp_path, config, fit_spy):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine\n")
    assert main(["train", "--config", str(config), "--no-progress"]) == 0
    assert set(fit_spy) == {"config.json", "config.toml", "notes.txt"}


def test_resume_and_overwrite_exclude_each_other(config, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--config", str(config), "--resume", "--overwrite"])
    assert info.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(JobError, match="pass one of them"):
        train_job.train(load_config(config), resume=True, overwrite=True)
