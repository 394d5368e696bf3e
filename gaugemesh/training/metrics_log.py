"""Per-epoch metrics as JSON lines, and the training-curve picture drawn from them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["MetricsLog", "plot_training_curves"]


class MetricsLog:
    """Append-only JSON-lines log, one object per epoch.

    On resume, entries from epochs after the checkpoint are dropped so that the log tells
    the story of the run that continues.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def truncate_after(self, epoch: int) -> None:
        rows = [row for row in self.read() if row.get("epoch", 0) <= epoch]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(json.dumps(row) + "\n" for row in rows))

    def append(self, row: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


def plot_training_curves(rows: list[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Loss (left) and accuracy-like metrics (right) against epoch, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for key in sorted({k for row in rows for k in row if k.endswith("loss")}):
        ax_loss.plot(epochs, [row.get(key) for row in rows], label=key)
    for key in sorted({k for row in rows for k in row if k.endswith("acc")}):
        ax_acc.plot(epochs, [row.get(key) for row in rows], label=key)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
