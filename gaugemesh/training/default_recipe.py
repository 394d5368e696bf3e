"""The default recipe: a whole configuration chosen from the data, for ``train --data DIR``.

A user with a folder of labelled meshes should not need to write a config to get a good
model. :func:`default_config` looks at the dataset (its layout, how many training meshes and
how large, whether names look like subjects or sequences) and decides the rest, saying why
for every choice. The model and optimiser are those of the shipped human_seg experiment
(``experiments/human_seg/config.toml``; a test keeps the two equal), which reaches the
published state of the art there; only the epochs and the validation split depend on the
data. Epochs are set so that training fits :data:`TRAIN_BUDGET_S` on 2 CPU cores.
"""

from __future__ import annotations

import copy
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gaugemesh.training.config import DEFAULTS, resolve_tables

__all__ = ["RECIPE_MODEL", "RECIPE_TRAIN", "TRAIN_BUDGET_S", "SECONDS_PER_VERTEX_EPOCH", "DatasetSurvey",
           "survey_dataset", "default_config"]

#: The network: GemResNet with fields of orders 0-2, 16 channels per order, 6 residual blocks.
RECIPE_MODEL: dict[str, Any] = {"width": 16, "max_order": 2, "num_blocks": 6, "nonlinearity": "regular",
                                "dropout": 0.1}

#: The optimiser (epochs are chosen per dataset).
RECIPE_TRAIN: dict[str, Any] = {"batch_size": 4, "lr": 0.005, "weight_decay": 0.0001, "optimizer": "adamw",
                                "schedule": "cosine", "seed": 0, "device": "auto"}

#: Training time the epochs are chosen to fit, on 2 CPU cores (preprocessing comes on top).
TRAIN_BUDGET_S = 12 * 60

#: Measured cost of one training epoch per training vertex, with :data:`RECIPE_MODEL` on 2 CPU
#: cores: human_seg (343 training meshes of 752 vertices) took 770 s for 40 epochs.
SECONDS_PER_VERTEX_EPOCH = 770 / (40 * 343 * 752)

#: Fewer epochs than this would not train; more rarely pay on a dataset that fits the budget.
EPOCH_RANGE = (10, 60)

#: How many mesh files are read to estimate the mesh size.
_SAMPLE = 24


@dataclass(frozen=True)
class DatasetSurvey:
    """What the recipe looks at.

    Attributes:
        layout: The recognised layout's name.
        num_train: Training meshes.
        mean_vertices: Mean vertex count over a sample of them.
        num_classes: Classes, where the layout knows them before preprocessing (else ``None``).
        soft_edge_labels: MeshCNN soft edge labels are present.
        group_pattern: A name pattern that groups meshes into subjects or sequences, or ``None``.
        groups: How many groups it makes.
    """

    layout: str
    num_train: int
    mean_vertices: float
    num_classes: int | None
    soft_edge_labels: bool
    group_pattern: str | None
    groups: int


#: Names that end in a number (``chair_012``, ``tr_reg_000``, ``run-3``) are frames, poses or
#: scans of the thing the rest of the name names.
_TRAILING_NUMBER = r"^(.*?)[-_. ]*\d+$"


def _group_pattern(names: list[str], val_fraction: float) -> tuple[str | None, int]:
    """The trailing-number pattern if it splits the names into usable groups, and their count.

    Usable: at least 10 groups, and groups small enough to be drawn (see
    :func:`~gaugemesh.datasets.train_val_split`: at most 1.5 validation sets) that hold at
    least two validation sets' worth of meshes, so that the draw has a choice.
    """
    regex = re.compile(_TRAILING_NUMBER)
    counts = Counter(m.group(1) if (m := regex.match(n)) else n for n in names)
    wanted = max(1.0, val_fraction * len(names))
    drawable = sum(size for size in counts.values() if size <= 1.5 * wanted)
    if 10 <= len(counts) < len(names) and drawable >= 2 * wanted:
        return _TRAILING_NUMBER, len(counts)
    return None, len(counts)


def _mean_vertices(paths: list[str]) -> float:
    from gaugemesh.io import read_mesh_arrays

    rng = np.random.default_rng(0)
    chosen = rng.choice(len(paths), size=min(_SAMPLE, len(paths)), replace=False)
    sizes = []
    for i in chosen:
        try:
            sizes.append(len(read_mesh_arrays(paths[i])[0]))
        except (OSError, ValueError):  # an unreadable file is reported by preprocessing, by name
            continue
    return float(np.mean(sizes)) if sizes else 0.0


def survey_dataset(root: str | os.PathLike, val_fraction: float = 0.1) -> DatasetSurvey:
    """Look at the dataset at ``root``: layout, size, classes, name groups.

    Raises:
        FileNotFoundError, ValueError: no folder, or nothing recognisable in it (see
            :func:`gaugemesh.datasets.open_layout`).
    """
    from gaugemesh.datasets import LAYOUTS, open_layout

    layout = open_layout(root, "auto")
    name = next(key for key, cls in LAYOUTS.items() if isinstance(layout, cls))
    items = layout.items("train")
    num_classes = getattr(layout, "num_classes", None)
    num_classes = num_classes() if callable(num_classes) else num_classes
    pattern, groups = _group_pattern([item.name for item in items], val_fraction)
    return DatasetSurvey(name, len(items), _mean_vertices([item.mesh for item in items]),
                         int(num_classes) if num_classes else None, (Path(root) / "sseg").is_dir(), pattern, groups)


def _epochs(survey: DatasetSurvey, val_fraction: float) -> tuple[int, float]:
    vertices = survey.num_train * (1 - val_fraction) * max(survey.mean_vertices, 1.0)
    epoch_s = SECONDS_PER_VERTEX_EPOCH * vertices
    return int(np.clip(TRAIN_BUDGET_S // max(epoch_s, 1e-9), *EPOCH_RANGE)), epoch_s


def default_config(root: str | os.PathLike, out_dir: str | os.PathLike,
                   survey: DatasetSurvey | None = None) -> tuple[dict[str, Any], list[str]]:
    """The configuration the recipe picks for the dataset at ``root``, and why.

    Returns:
        ``(config, reasons)``: a resolved configuration (as :func:`load_config` returns) and
        one line per decision.

    Raises:
        FileNotFoundError, ValueError: see :func:`survey_dataset`; ValueError also when the
            dataset has no training meshes.
    """
    config = copy.deepcopy(DEFAULTS)
    val_fraction = config["data"]["val_fraction"]
    survey = survey or survey_dataset(root, val_fraction)
    if survey.num_train == 0:
        raise ValueError(f"{root} has no training meshes in its {survey.layout} layout")
    epochs, epoch_s = _epochs(survey, val_fraction)
    metric = ("edge_acc_soft" if survey.soft_edge_labels else "edge_acc_hard") if survey.layout == "meshcnn" \
        else "vertex_acc"
    config["data"].update(format="auto", root=str(root), val_group_pattern=survey.group_pattern or "")
    config["model"] = dict(RECIPE_MODEL)
    config["train"] = {**RECIPE_TRAIN, "epochs": epochs, "select_metric": metric}
    config["output"]["dir"] = str(out_dir)
    classes = f"{survey.num_classes} classes" if survey.num_classes else "classes counted from the labels"
    reasons = [
        f"data: {survey.layout} layout, {survey.num_train} training meshes of about {survey.mean_vertices:.0f} "
        f"vertices, {classes}",
        "features: heat kernel signature, curvatures and HKS gradients, all intrinsic: predictions do not "
        "change when a mesh is moved, rotated or scaled",
        f"model: GemResNet {RECIPE_MODEL['num_blocks']} blocks x {RECIPE_MODEL['width']} channels per order 0-"
        f"{RECIPE_MODEL['max_order']} (the human_seg recipe)",
        f"epochs: {epochs} (about {epoch_s:.0f} s each on 2 CPU cores, within a {TRAIN_BUDGET_S // 60} min "
        f"budget; clamped to {EPOCH_RANGE[0]}-{EPOCH_RANGE[1]})",
        f"validation: {val_fraction:.0%} of the training meshes, "
        + (f"whole groups of names that differ only in a trailing number ({survey.groups} groups), so that "
           "near-duplicates stay on one side" if survey.group_pattern else "drawn at random (names form no "
           f"usable groups: {survey.groups} of them)"),
        f"best checkpoint by validation {metric}",
    ]
    return resolve_tables(config), reasons
