"""Per-epoch metrics as JSON lines, and the training-curve picture drawn from them."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["MetricsLog", "MetricsLogError", "plot_training_curves"]

log = logging.getLogger(__name__)


class MetricsLogError(ValueError):
    """A metrics log damaged beyond a torn last line; the message names the line."""


class MetricsLog:
    """Append-only JSON-lines log, one object per epoch.

    On resume, entries from epochs after the checkpoint are dropped so that the log tells
    the story of the run that continues. A run killed while appending leaves a torn last
    line: it is dropped with a warning; damage anywhere else is an error.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def _parse(self) -> tuple[list[dict[str, Any]], str | None]:
        """The rows, and the torn last line if there is one."""
        if not self.path.exists():
            return [], None
        lines = [(number, line) for number, line in enumerate(self.path.read_text().splitlines(), 1) if line.strip()]
        rows = []
        for index, (number, line) in enumerate(lines):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                if index == len(lines) - 1:
                    return rows, line
                row = None
            if not isinstance(row, dict):
                raise MetricsLogError(f"{self.path}: line {number} is not a JSON object; delete that line (or the "
                                      "file, losing the curves) and try again")
            rows.append(row)
        return rows, None

    def check(self) -> None:
        """Raise :class:`MetricsLogError` where :meth:`read` would, changing nothing."""
        self._parse()

    def read(self) -> list[dict[str, Any]]:
        """Every complete row; a torn last line is left out, with a warning."""
        rows, torn = self._parse()
        if torn is not None:
            log.warning("%s: ignoring its torn last line %r (a run killed while writing it)", self.path, torn[:60])
        return rows

    def truncate_after(self, epoch: int) -> None:
        """Keep the rows of epochs up to ``epoch``; a torn last line goes too."""
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
