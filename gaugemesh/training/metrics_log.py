"""Per-epoch metrics as JSON lines (the curves drawn from them: :mod:`gaugemesh.training.plots`)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["MetricsLog", "MetricsLogError"]

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

