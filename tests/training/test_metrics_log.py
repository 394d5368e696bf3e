"""The per-epoch metrics log (its damage handling: tests/reliability/test_resume_safety.py)."""

from gaugemesh.training.metrics_log import MetricsLog


def test_metrics_log_appends_and_truncates(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for epoch in range(1, 5):
        log.append({"epoch": epoch, "train_loss": 1 / epoch, "val_vertex_acc": 0.2 * epoch})
    assert [row["train_loss"] for row in log.read()] == [1, 1 / 2, 1 / 3, 1 / 4]
    log.truncate_after(2)
    assert [row["epoch"] for row in log.read()] == [1, 2]
