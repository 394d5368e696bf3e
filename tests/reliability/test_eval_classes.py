"""Issue 15, defect 6: ``eval`` must refuse a dataset whose classes are not the checkpoint's.

Labels above the checkpoint's class count crashed the confusion matrix with a reshape
error; a dataset declaring 5 classes was scored against a 4-class checkpoint with exit 0
and no word. Both are now one line naming both counts, exit 2.
"""

from __future__ import annotations

import pytest

from gaugemesh.cli import main
from gaugemesh.training.evaluate_job import evaluate_checkpoint
from gaugemesh.training.run_folder import JobError
from tests.reliability.training_helpers import one_line_error, tiny_data, write_checkpoint, write_config


@pytest.fixture()
def setup(tmp_path):
    """A 4-class checkpoint and a dataset labelled 0 and 1."""
    root = tiny_data(tmp_path / "data")
    checkpoint = tmp_path / "ckpt.pt"
    write_checkpoint(checkpoint, write_config(tmp_path), class_names=["a", "b", "c", "d"])
    return checkpoint, root


def _eval(checkpoint, root):
    return main(["eval", "--checkpoint", str(checkpoint), "--data", str(root), "--split", "train", "--no-progress"])


def test_labels_beyond_the_checkpoint_classes_are_refused(setup, capsys):
    checkpoint, root = setup
    labels = (root / "m1.txt").read_text().splitlines()
    (root / "m1.txt").write_text("\n".join(["4"] + labels[1:]) + "\n")
    assert _eval(checkpoint, root) == 2
    one_line_error(capsys, "has labels up to 4 (5 classes) but the checkpoint was trained on 4")


def test_a_dataset_declaring_other_classes_is_refused(setup, capsys):
    checkpoint, root = setup
    (root / "classes.txt").write_text("a\nb\nc\nd\ne\n")
    assert _eval(checkpoint, root) == 2
    one_line_error(capsys, "declares 5 classes but the checkpoint was trained on 4")
    with pytest.raises(JobError, match="declares 5 classes"):
        evaluate_checkpoint(checkpoint, root, "val", progress=False)


def test_a_dataset_with_the_checkpoint_classes_is_scored(setup, capsys):
    checkpoint, root = setup
    (root / "classes.txt").write_text("a\nb\nc\nd\n")
    assert _eval(checkpoint, root) == 0
    assert "confusion matrix" in capsys.readouterr().out
