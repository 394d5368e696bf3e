"""The run folder (``output.dir``): what a run writes there, and the checks that nothing in it
changes until a new run or a resume is known to be valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gaugemesh.training.checkpoint import CheckpointError, check_model_state, load_checkpoint
from gaugemesh.training.config import to_toml
from gaugemesh.training.metrics_log import MetricsLog
from gaugemesh.training.recipe import model_options

__all__ = ["RUN_FILES", "JobError", "check_run_folder", "check_out_dir", "resume_checkpoint", "check_resume_data",
           "start_run_folder"]


#: What a run writes to ``output.dir``; a folder holding any of them holds a run.
RUN_FILES = ("best.pt", "last.pt", "metrics.jsonl", "curves.png", "config.json", "config.toml")

#: What ``gaugemesh eval`` writes beside the checkpoint it scores: an old run's reports would
#: describe another model, so ``--overwrite`` deletes them with the run.
EVAL_REPORTS = ("*_metrics.json", "*_metrics_confusion.png")


class JobError(ValueError):
    """A job that cannot run as asked: an occupied run folder, an output path that is a file,
    a split without usable meshes, a dataset whose classes are not the checkpoint's. The
    message says what to do."""


def check_run_folder(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse an output path that is a file, and a folder holding a run unless told what to do with it."""
    if resume and overwrite:
        raise JobError("--resume continues the run and --overwrite deletes it: pass one of them")
    check_out_dir(out_dir, "output.dir")
    present = [name for name in RUN_FILES if (out_dir / name).exists()]
    if present and not (resume or overwrite):
        raise JobError(f"{out_dir} already holds a run ({', '.join(present)}); pass --resume to continue it, "
                       "--overwrite to replace it, or set another output.dir")


def check_out_dir(out_dir: Path, option: str) -> None:
    """Refuse an output folder path that names an existing file."""
    if out_dir.exists() and not out_dir.is_dir():
        raise JobError(f"{option} {out_dir} is a file, not a folder; give a folder path (created if missing)")


def resume_checkpoint(config: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """``last.pt`` of the run to continue, checked against the config's ``[model]`` table
    without building anything, and its metrics log readable."""
    path = out_dir / "last.pt"
    if not path.is_file():
        raise JobError(f"--resume: no {path} to continue; train without --resume to start a run in {out_dir}")
    state = load_checkpoint(path)
    model_class, _, options = model_options(config["model"])
    check_model_state(state, model_class, options, f"--resume: {path}", RESUME_ADVICE)
    MetricsLog(out_dir / "metrics.jsonl").check()  # a damaged log is refused here, before any change
    return state


RESUME_ADVICE = ("resume with the run's own [model] table (see its config.json), or start a new run with "
                  "--overwrite or another output.dir")


def check_resume_data(state: dict[str, Any], out_dir: Path, x_type: str, class_names: list[str]) -> None:
    """The resumed run must see the inputs and classes it was trained on."""
    if state["in_type"] != x_type:
        raise CheckpointError(f"--resume: {out_dir / 'last.pt'} was trained on inputs {state['in_type']}, the config "
                              f"gives {x_type} (another [features] table?); {RESUME_ADVICE}")
    if state["class_names"] != class_names:
        raise CheckpointError(f"--resume: {out_dir / 'last.pt'} was trained on {len(state['class_names'])} classes "
                              f"{_short_list(state['class_names'])}, the data has {len(class_names)} "
                              f"{_short_list(class_names)}; {RESUME_ADVICE}")


def _short_list(names: list[str], limit: int = 6) -> str:
    return "[" + ", ".join(names[:limit]) + (", ...]" if len(names) > limit else "]")


def start_run_folder(out_dir: Path, config: dict[str, Any], clear: bool) -> None:
    """Delete an old run's files (``--overwrite``), then record the config of this one: as
    ``config.json`` and as ``config.toml``, which ``gaugemesh train --config`` repeats exactly."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if clear:
        for name in RUN_FILES:
            (out_dir / name).unlink(missing_ok=True)
        for path in (path for pattern in EVAL_REPORTS for path in out_dir.glob(pattern) if path.is_file()):
            path.unlink()
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))
    (out_dir / "config.toml").write_text(to_toml(config))
