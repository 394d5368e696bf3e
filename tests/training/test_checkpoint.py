"""Checkpoints load without unpickling code and say clearly what is wrong with a bad file."""

import pickle

import pytest
import torch

from gaugemesh.training.checkpoint import FORMAT_VERSION, CheckpointError, load_checkpoint, save_checkpoint


def _content():
    model = torch.nn.Linear(3, 2)
    return dict(model_state=model.state_dict(), config={"model": {"width": 8}}, class_names=["a", "b"],
                in_type="3x0", optimizer_state=torch.optim.Adam(model.parameters()).state_dict(), epoch=4)


def test_round_trip(tmp_path):
    content = _content()
    path = save_checkpoint(tmp_path / "ckpt" / "last.pt", **content)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 4 and loaded["class_names"] == ["a", "b"] and loaded["format_version"] == FORMAT_VERSION
    torch.testing.assert_close(loaded["model_state"]["weight"], content["model_state"]["weight"])
    assert not list(tmp_path.glob("ckpt/.*tmp"))  # no temporary file left behind


def test_truncated_file_is_reported_as_corrupt(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", **_content())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "gaugemesh-checkpoint", "payload": Evil()}, path, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="corrupt or not a gaugemesh checkpoint"):
        load_checkpoint(path)


def test_other_format_versions_and_foreign_files(tmp_path):
    path = tmp_path / "old.pt"
    save_checkpoint(path, **_content())
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="format"):
        load_checkpoint(path)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a gaugemesh checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
