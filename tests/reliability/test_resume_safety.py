"""Issue 15, defect 3: a failed ``--resume`` must leave the run as it was.

``--resume`` with a changed model width rewrote ``config.json`` and then failed with a
traceback. Now the checkpoint is checked against the new config before anything in the run
folder changes, and the error is one line. A torn last line in ``metrics.jsonl`` (a run
killed while appending) is dropped with a warning instead of crashing the resume.
"""

from __future__ import annotations

import json
import logging

import pytest
import torch
from torch_geometric.data import Data

from gaugemesh import mesh_to_data, validate_mesh
from gaugemesh.cli import main
from gaugemesh.training import loop
from gaugemesh.training.loop import Trainer, TrainSettings
from gaugemesh.training.metrics_log import MetricsLog, MetricsLogError
from tests.conftest import icosphere
from tests.reliability.training_helpers import one_line_error, snapshot, tiny_data, write_checkpoint, write_config


@pytest.fixture()
def run(tmp_path):
    """A run folder as an interrupted run leaves it, and the config that made it."""
    tiny_data(tmp_path / "data")
    config = write_config(tmp_path)
    folder = tmp_path / "run"
    write_checkpoint(folder / "last.pt", config)
    (folder / "config.json").write_text('{"old": true}\n')
    (folder / "metrics.jsonl").write_text('{"epoch": 1, "train_loss": 0.5}\n')
    return config, folder


def _resume(config, *overrides):
    return main(["train", "--config", str(config), "--resume", "--no-progress", *overrides])


def test_a_changed_model_width_is_refused_before_the_run_changes(run, capsys):
    config, folder = run
    before = snapshot(folder)
    assert _resume(config, "model.width=4") == 2
    err = one_line_error(capsys, "model.width is {0: 4, 1: 4} but the stored weights have {0: 2, 1: 2}")
    assert "--overwrite" in err and "last.pt" in err
    assert snapshot(folder) == before


def test_other_inputs_are_refused_before_the_run_changes(run, capsys):
    config, folder = run
    before = snapshot(folder)
    assert _resume(config, "features.hks_count=3") == 2
    one_line_error(capsys, "was trained on inputs 4x0 + 1x1, the config gives 5x0 + 1x1")
    assert snapshot(folder) == before


def test_resume_without_a_checkpoint_is_refused(run, capsys):
    config, folder = run
    (folder / "last.pt").unlink()
    before = snapshot(folder)
    assert _resume(config) == 2
    one_line_error(capsys, "--resume: no ")
    assert snapshot(folder) == before


# -- the metrics log -------------------------------------------------------------------------


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(4, 2)

    def forward(self, data):
        return self.net(data.x)


def _trainer(out):
    torch.manual_seed(0)
    geometry = mesh_to_data(validate_mesh(*icosphere(0)))
    meshes = [Data(x=torch.randn(geometry.num_nodes, 4), y=torch.randint(0, 2, (geometry.num_nodes,)),
                   edge_index=geometry.edge_index, num_nodes=geometry.num_nodes) for _ in range(2)]
    settings = TrainSettings(epochs=2, batch_size=2, device="cpu")
    return Trainer(Tiny(), meshes, meshes[:1], settings, out, dict(config={}, class_names=["a", "b"], in_type="4x0"),
                   progress=False)


@pytest.fixture()
def interrupted(tmp_path, monkeypatch):
    """A run stopped after epoch 1 of 2 (no curves drawn: matplotlib is slow to import)."""
    monkeypatch.setattr(loop, "plot_training_curves", lambda rows, path: path)
    _trainer(tmp_path).fit(until=1)
    return tmp_path


def test_a_torn_last_line_is_dropped_with_a_warning(interrupted, caplog):
    log = interrupted / "metrics.jsonl"
    with open(log, "a") as f:
        f.write('{"epoch": 2, "train_lo')  # killed while appending epoch 2
    resumed = _trainer(interrupted)
    with caplog.at_level(logging.WARNING):
        resumed.resume()
    assert "torn last line" in caplog.text
    rows = resumed.fit()
    assert [row["epoch"] for row in rows] == [1, 2]
    assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == [1, 2]


def test_damage_before_the_last_line_is_refused_and_left_alone(interrupted):
    log = interrupted / "metrics.jsonl"
    log.write_text('{"epoch": 1, "train_lo\n' + log.read_text())
    before = log.read_bytes()
    with pytest.raises(MetricsLogError, match=r"metrics\.jsonl: line 1 is not a JSON object; delete that line"):
        _trainer(interrupted).resume()
    assert log.read_bytes() == before
    with pytest.raises(MetricsLogError):
        MetricsLog(log).check()
