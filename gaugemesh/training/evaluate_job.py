"""``gaugemesh eval``: the metrics of a checkpoint on a dataset split, features recomputed from
the raw meshes with the checkpoint's options."""

from __future__ import annotations

import tempfile
import zlib
from typing import Any

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from torch_geometric.data import Batch

from gaugemesh.mesh import Mesh
from gaugemesh.training.loop import predict_scores, resolve_device
from gaugemesh.training.precision import Precision
from gaugemesh.training.recipe import load_model, open_dataset, process_options
from gaugemesh.training.run_folder import JobError

__all__ = ["evaluate_checkpoint"]


def _confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    keep = target >= 0
    return torch.bincount(target[keep] * num_classes + pred[keep], minlength=num_classes**2).view(num_classes, num_classes)


class _RotatedLayout:
    """A dataset layout whose meshes come back rigidly rotated, seeded per mesh name."""

    def __init__(self, layout, seed: int):
        self._layout, self._seed = layout, seed

    def __getattr__(self, name):
        return getattr(self._layout, name)

    def key(self) -> dict[str, Any]:
        return {**self._layout.key(), "rotate_seed": self._seed}

    def read(self, item, repair: bool):
        mesh, labels = self._layout.read(item, repair)
        rng = np.random.default_rng([self._seed, zlib.crc32(item.name.encode())])
        rotation = Rotation.random(random_state=rng).as_matrix()
        return Mesh(mesh.pos @ rotation.T, mesh.faces, mesh.vertex_map, mesh.face_map), labels


def _samples_by_hand(config, state, data_root, split, rotate_seed) -> tuple[list, list]:
    """Samples of ``split`` (``"val"``: the checkpoint's held-out training meshes), computed
    without the cache, optionally rotated; returns ``(samples, skipped)``."""
    from gaugemesh.datasets import open_layout
    from gaugemesh.datasets import process_item
    from gaugemesh.mesh import MeshError

    layout = open_layout(data_root, config["data"].get("format", "auto"))
    items = layout.items("train" if split == "val" else split)
    if split == "val":
        items = [item for item in items if item.name in set(state.get("val_names", []))]
    if rotate_seed is not None:
        layout = _RotatedLayout(layout, rotate_seed)
    options = process_options(config)
    samples, skipped = [], []
    for item in items:
        try:
            samples.append(process_item(layout, item, options))
        except MeshError as exc:
            skipped.append((item.name, str(exc)))
    return samples, skipped


def evaluate_checkpoint(checkpoint, data_root, split: str = "test", device: str = "cpu",
                        cache_dir=None, progress: bool = True, rotate_seed: int | None = None,
                        precision: str = "auto") -> dict[str, Any]:
    """Metrics of a checkpoint on a dataset split, features recomputed from the raw meshes.

    ``split="val"`` evaluates the training meshes the checkpoint held out for validation;
    ``rotate_seed`` rotates every mesh at random in space before anything is computed, to
    measure how invariant the model is to orientation.

    Returns the pooled metrics (``vertex_acc`` and, for the MeshCNN layout,
    ``edge_acc_hard``, ``edge_acc_soft``, ``face_acc``), per-class accuracy and the
    confusion matrix (rows: true class) of the elements the labels live on.

    Raises:
        JobError: the dataset's classes are not the checkpoint's (another count declared,
            or labels beyond it), or the split has no usable mesh.
    """
    from gaugemesh.metrics import segmentation_metrics, vertex_to_edge

    model, state = load_model(checkpoint, device)
    _check_declared_classes(state, data_root)
    if split == "val" or rotate_seed is not None:
        samples, skipped = _samples_by_hand(state["config"], state, data_root, split, rotate_seed)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            dataset = open_dataset(state["config"], split, root=data_root, cache_dir=cache_dir or tmp, progress=progress)
            samples, skipped = [dataset[i] for i in range(len(dataset))], dataset.skipped
    if not samples:
        raise JobError(f"no usable meshes in split {split!r} of {data_root} (skipped: {skipped[:5]}); "
                       "check --data and --split")
    _check_labels(state, samples, data_root, split)
    run_on = resolve_device(device)
    numerics = Precision.resolve(precision, run_on)
    scores = torch.cat([predict_scores(model, d, run_on, numerics) for d in samples])
    everything = Batch.from_data_list(samples)
    metrics: dict[str, Any] = segmentation_metrics(everything, scores)
    num_classes = len(state["class_names"])
    if getattr(everything, "edge_y", None) is not None:
        pred, target, where = vertex_to_edge(scores, everything.seg_edge_index, num_classes), everything.edge_y, "edge"
    else:
        pred, target, where = scores.argmax(1), everything.y, "vertex"
    confusion = _confusion(pred, target, num_classes)
    per_class = confusion.diag().double() / confusion.sum(1).clamp(min=1)
    metrics.update(meshes=len(samples), skipped=[list(s) for s in skipped], confusion_on=where,
                   per_class_acc=dict(zip(state["class_names"], per_class.tolist())),
                   confusion=confusion.tolist(), class_names=state["class_names"])
    return metrics


def _check_declared_classes(state: dict[str, Any], data_root) -> None:
    """Refuse a dataset that declares another number of classes than the checkpoint's."""
    from gaugemesh.datasets import open_layout

    layout = open_layout(data_root, state["config"].get("data", {}).get("format", "auto"))
    declared, trained = getattr(layout, "num_classes", None), len(state["class_names"])
    if declared is not None and declared != trained:
        raise JobError(f"{data_root} declares {declared} classes but the checkpoint was trained on {trained}; "
                       f"evaluate on a dataset with the checkpoint's {trained} classes")


def _check_labels(state: dict[str, Any], samples: list, data_root, split: str) -> None:
    """Refuse labels beyond the checkpoint's classes (they would be scored as always wrong)."""
    trained = len(state["class_names"])
    top = max((int(d[key].max()) for d in samples for key in ("y", "edge_y", "face_y")
               if getattr(d, key, None) is not None and d[key].numel()), default=-1)
    if top >= trained:
        raise JobError(f"split {split!r} of {data_root} has labels up to {top} ({top + 1} classes) but the checkpoint "
                       f"was trained on {trained}; evaluate on data labelled with the checkpoint's classes")
