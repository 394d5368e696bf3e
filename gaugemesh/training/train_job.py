"""``gaugemesh train``: the job that fits a model to a dataset a configuration describes."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch

from gaugemesh.datasets import MeshDataset, train_val_split
from gaugemesh.training.augment import make_augment
from gaugemesh.training.config import ConfigError
from gaugemesh.training.loop import Trainer, TrainSettings, resolve_device
from gaugemesh.training.recipe import check_structure_group
from gaugemesh.training.recipe import (
    build_model,
    check_device,
    check_levels,
    check_radial_basis,
    model_options,
    open_dataset,
)
from gaugemesh.training.run_folder import (JobError, check_resume_data, check_run_folder, resume_checkpoint,
                                           start_run_folder)

__all__ = ["train"]


def _class_names(dataset: MeshDataset) -> list[str]:
    layout = dataset.layout
    names = getattr(layout, "class_names", None)
    names = names() if callable(names) else names
    count = dataset.num_classes or int(max(int(d.y.max()) for d in dataset)) + 1
    return [str(n) for n in names] if names else [str(i) for i in range(count)]


def _init_distributed(settings: TrainSettings) -> None:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1): NCCL with one GPU
    per local rank when training on CUDA, gloo otherwise."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return
    cuda = resolve_device(settings.device).type == "cuda"
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        settings.device = f"cuda:{local}"
    dist.init_process_group("nccl" if cuda else "gloo")


def train(config: dict[str, Any], resume: bool = False, progress: bool = True, until: int | None = None,
          overwrite: bool = False) -> Path:
    """Train the model a config describes; returns the output folder.

    A seeded ``data.val_fraction`` of the training split is held out for validation (the
    test split is never touched). Writes ``best.pt``, ``last.pt``, ``metrics.jsonl``,
    ``curves.png`` and ``config.json`` to ``output.dir``.

    Everything is checked before the run folder changes: the settings, the device, whether
    the folder holds a run already (refused unless ``resume``, which continues it, or
    ``overwrite``, which deletes its files first), and on resume whether ``last.pt`` fits
    the model the config describes.

    Raises:
        ConfigError: an unusable setting.
        JobError: an occupied or unusable output folder, or no usable training mesh.
        CheckpointError: ``last.pt`` is unusable or does not fit the config (on resume).
    """
    settings = TrainSettings.from_table(config["train"])
    model_options(config["model"])  # the kind and keys now; the values when the model is built
    check_structure_group(config)
    check_levels(config)
    check_radial_basis(config)
    check_device(settings.device, "train.device (--device)")
    check_data_table(config["data"])
    out_dir = Path(config["output"]["dir"])
    check_run_folder(out_dir, resume, overwrite)
    checkpoint = resume_checkpoint(config, out_dir) if resume else None
    # every rank has checked the folder above before any rank joins, and so before rank 0 writes
    _init_distributed(settings)
    torch.manual_seed(settings.seed)
    full = open_dataset(config, "train", progress=progress)
    if len(full) == 0:
        raise JobError(f"no usable training meshes in {config['data']['root']} (skipped: {full.skipped[:5]}); "
                       "check data.root and data.format")
    data = config["data"]
    train_idx, val_idx = train_val_split(full, data.get("val_fraction", 0.1), data.get("split_seed", 0),
                                         data.get("val_group_pattern") or None)
    x_type = full[0].x_type
    class_names = _class_names(full)
    model = build_model(config["model"], x_type, len(class_names))
    if checkpoint is not None:
        check_resume_data(checkpoint, out_dir, x_type, class_names)
    meta = dict(config=config, class_names=class_names, in_type=x_type, out_type=str(model.out_type),
                val_names=[full.names[i] for i in val_idx])
    train_set = [full[int(i)] for i in train_idx] + extra_training_samples(config, x_type, class_names,
                                                                             full.layout.default_repair, progress)
    trainer = Trainer(model, common_keys(train_set), [full[int(i)] for i in val_idx], settings, out_dir,
                      meta, augment=make_augment(config, x_type), progress=progress)
    # The trainer holds copies of the samples; the dataset's in-memory originals would double
    # their memory for the whole run (4 GB more on RNA's 547 meshes).
    del full
    if checkpoint is not None:
        trainer.resume(out_dir / "last.pt", state=checkpoint)  # the first change to the run folder
    if trainer.rank == 0:
        start_run_folder(out_dir, config, clear=overwrite)
    trainer.fit(until=until)
    return out_dir


def extra_training_samples(config: dict[str, Any], x_type: str, class_names: list[str], repair: bool,
                           progress: bool = True) -> list:
    """The meshes of every ``data.extra_train`` folder (read as ``format = "auto"``, in the
    dataset's cache), for the training split only.

    They are repaired as the dataset's meshes are: ``data.repair`` where set, else ``repair``,
    the dataset layout's default (a MeshCNN dataset's copies are repaired like its meshes,
    whatever the copies' own layout would do).

    Raises:
        JobError: a folder without usable meshes, or with other classes or input features
            than the dataset's.
    """
    samples = []
    for folder in config["data"].get("extra_train", []):
        given = config["data"].get("repair")
        table = {**config["data"], "format": "auto", "repair": repair if given is None else given}
        extra = open_dataset({**config, "data": table}, "train",
                             root=folder, cache_dir=config["data"].get("cache") or None, progress=progress)
        if len(extra) == 0:
            raise JobError(f"data.extra_train: no usable meshes in {folder} (skipped: {extra.skipped[:5]})")
        if _class_names(extra) != class_names:
            raise JobError(f"data.extra_train: {folder} has the classes {_class_names(extra)}, the dataset "
                           f"{class_names}; write the dataset's class names to its classes.txt")
        if extra[0].x_type != x_type:
            raise JobError(f"data.extra_train: {folder} gives inputs {extra[0].x_type}, the dataset {x_type}")
        samples += [extra[i] for i in range(len(extra))]
    return samples


def common_keys(samples: list) -> list:
    """The samples with only the attributes all of them have, so that meshes of two layouts
    (the evaluation-only edge labels of one, the face labels of another) batch together;
    unchanged where they agree."""
    keys = set.intersection(*(set(d.keys()) for d in samples)) if samples else set()
    if all(set(d.keys()) == keys for d in samples):
        return samples
    return [_only(d, keys) for d in samples]


def _only(data, keys: set[str]):
    out = copy.copy(data)  # shares the tensors; only the attribute table is new
    for key in set(out.keys()) - keys:
        del out[key]
    return out


def check_data_table(data: dict[str, Any]) -> None:
    """The ``[data]`` values the job itself reads, checked before any mesh is processed."""
    fraction = data.get("val_fraction", 0.1)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ConfigError(f"data.val_fraction must be a number in [0, 1), got {fraction!r}; e.g. data.val_fraction=0.1")
    for folder in data.get("extra_train", []):
        if not Path(folder).is_dir():
            raise ConfigError(f"data.extra_train: {folder} is not a folder")


