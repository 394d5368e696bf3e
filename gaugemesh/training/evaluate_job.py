"""``gaugemesh eval``: the metrics of a checkpoint on a dataset split, features recomputed from
the raw meshes with the checkpoint's options.

:func:`evaluate_checkpoint` returns the report (headline numbers, and per labelled element
kind the per-class accuracy and IoU and the confusion matrix, see
:mod:`gaugemesh.training.metrics`); :func:`headline` is what the command prints, and
:func:`write_report` writes the report as JSON with a picture of the confusion matrices beside
it, by default in the checkpoint's run folder (:func:`report_path`).
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from gaugemesh.mesh import Mesh
from gaugemesh.training.loop import predict_scores, resolve_device
from gaugemesh.training.metrics import ELEMENTS, SegmentationCounts, accuracy, accuracy_key
from gaugemesh.training.plots import plot_confusion
from gaugemesh.training.precision import Precision
from gaugemesh.training.recipe import load_model, open_dataset, process_options
from gaugemesh.training.run_folder import JobError

__all__ = ["evaluate_checkpoint", "headline", "report_path", "worst_meshes", "write_report"]


class _RotatedLayout:
    """A dataset layout whose meshes come back rigidly rotated, seeded per mesh name."""

    def __init__(self, layout, seed: int):
        self._layout, self._seed = layout, seed

    def __getattr__(self, name):
        return getattr(self._layout, name)

    def key(self) -> dict[str, Any]:
        return {**self._layout.key(), "rotate_seed": self._seed}

    def read(self, item, repair: bool, structure_group: str = "SO2"):
        mesh, labels = self._layout.read(item, repair, structure_group)
        rng = np.random.default_rng([self._seed, zlib.crc32(item.name.encode())])
        rotation = Rotation.random(random_state=rng).as_matrix()
        return Mesh(mesh.pos @ rotation.T, mesh.faces, mesh.vertex_map, mesh.face_map, mesh.orientable), labels


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
                        precision: str = "auto", input_vertices: int | None = None) -> dict[str, Any]:
    """Metrics of a checkpoint on a dataset split, features recomputed from the raw meshes.

    ``split="val"`` evaluates the training meshes the checkpoint held out for validation;
    ``rotate_seed`` rotates every mesh at random in space before anything is computed, to
    measure how invariant the model is to orientation. ``input_vertices`` overrides the
    checkpoint's ``features.input_vertices`` (resample finer meshes first; ``0``: never).

    Returns :meth:`SegmentationCounts.report` of the split (confusion matrices summed over
    its meshes): the headline numbers (``vertex_acc``, ``vertex_miou`` and where labelled
    ``edge_acc_hard``, ``edge_acc_soft``, ``edge_miou``, ``face_acc``, ``face_miou``; for the
    ``vertex_labels`` layout also ``file_vertex_acc``, ``file_vertex_miou``: every vertex of
    the mesh files once, the benchmark's count), and under each element kind the per-class
    accuracy and IoU by class name and the confusion matrix (rows: true class); with
    ``meshes``, ``skipped``, ``split``, ``checkpoint``, ``data``, ``rotate_seed`` and
    ``input_vertices``; and ``per_mesh``: for every mesh its ``name``, ``labelled`` elements
    and accuracies (``vertex_acc``, ``file_vertex_acc``, ...), in the split's order.

    Raises:
        JobError: the dataset's classes are not the checkpoint's (another count declared,
            or labels beyond it), or the split has no usable mesh.
    """
    model, state = load_model(checkpoint, device)
    if input_vertices is not None:
        state["config"]["features"]["input_vertices"] = int(input_vertices)
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
    _attach_file_targets(state, samples, data_root, split)
    _check_labels(state, samples, data_root, split)
    run_on = resolve_device(device)
    numerics = Precision.resolve(precision, run_on)
    counts, per_mesh = SegmentationCounts(len(state["class_names"])), []
    for sample in samples:  # summed mesh by mesh: the split's numbers, not a mean of the meshes'
        mesh = SegmentationCounts(counts.num_classes).add(sample, predict_scores(model, sample, run_on, numerics))
        counts.merge(mesh)
        per_mesh.append(_mesh_numbers(sample, mesh))
    return {"checkpoint": str(checkpoint), "data": str(data_root), "split": split, "rotate_seed": rotate_seed,
            "input_vertices": int(state["config"]["features"].get("input_vertices", 0)), "meshes": len(samples),
            "skipped": [list(s) for s in skipped], **counts.report(state["class_names"]), "per_mesh": per_mesh}


def _mesh_numbers(sample, counts: SegmentationCounts) -> dict[str, Any]:
    """One mesh's line of the report: its name, how many elements of the dataset's kind it
    labels, and its accuracies (no mean IoUs: over one mesh's few classes they say little)."""
    accuracies = {accuracy_key(kind): accuracy(confusion) for kind, confusion in counts.confusion.items()
                  if counts.labelled(kind)}  # a mesh whose labels are all ignored has none
    return {"name": getattr(sample, "name", None), "labelled": counts.labelled(counts.labels_on), **accuracies}


def worst_meshes(report: dict[str, Any], count: int = 3) -> list[dict[str, Any]]:
    """The ``count`` meshes of ``report`` least accurate on the kind the dataset labels."""
    key = accuracy_key(report["labels_on"])
    scored = [mesh for mesh in report.get("per_mesh", []) if key in mesh]
    return sorted(scored, key=lambda mesh: mesh[key])[:count]


def report_path(checkpoint, split: str, rotate_seed: int | None = None, path=None) -> Path:
    """Where the report goes: ``path`` if given, else ``<split>_metrics.json`` (with
    ``_rotated<seed>`` for a rotated evaluation) in the checkpoint's folder, the run folder."""
    if path is not None:
        return Path(path)
    rotated = "" if rotate_seed is None else f"_rotated{rotate_seed}"
    return Path(checkpoint).parent / f"{split}{rotated}_metrics.json"


_LABELLED = {"vertex": "vertices", "file_vertex": "the mesh files' vertices", "edge": "edges", "face": "faces"}


def headline(report: dict[str, Any]) -> str:
    """The lines ``gaugemesh eval`` prints: the split, then accuracies and mean IoUs."""
    keys = [k for k in report if k.endswith(("_acc", "_acc_hard", "_acc_soft", "_miou"))]
    lines = [f"split {report['split']!r}: {report['meshes']} meshes, {len(report['skipped'])} skipped; "
             f"labels on {_LABELLED[report['labels_on']]}"]
    width = max(map(len, keys), default=0)  # right-aligned on the longest key (file_vertex_miou)
    lines += [f"{key:>{width}}: {report[key]:.4f}" for key in keys]
    if report["meshes"] > 1:  # one mesh that fails outright hides in the pooled number
        key = accuracy_key(report["labels_on"])
        worst = ", ".join(f"{mesh['name']} {mesh[key]:.4f}" for mesh in worst_meshes(report))
        lines.append(f"worst meshes ({key}): {worst}")
    return "\n".join(lines)


def _dumps(value: Any, indent: str = "") -> str:
    """Indented JSON with each list of numbers on one line (a confusion matrix row by row)."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(str(k))}: {_dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and value and not all(isinstance(v, (int, float)) for v in value):
        return "[\n" + ",\n".join(inner + _dumps(v, inner) for v in value) + f"\n{indent}]"
    return json.dumps(value)


def write_report(report: dict[str, Any], path: str | os.PathLike) -> list[Path]:
    """Write ``report`` as JSON to ``path`` and its confusion matrices as
    ``<stem>_confusion.png`` beside it; returns both paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_dumps(report) + "\n")
    confusions = {kind: report[kind]["confusion"] for kind in ELEMENTS if kind in report}
    title = f"{Path(report['checkpoint']).name} on split {report['split']!r} (rows: true class)"
    picture = plot_confusion(confusions, report["class_names"], path.with_name(f"{path.stem}_confusion.png"), title)
    return [path, picture]


def _attach_file_targets(state: dict[str, Any], samples: list, data_root, split: str) -> None:
    """Where the layout scores the files' vertices (``vertex_labels``), give every sample
    ``file_vertex_index`` and ``file_y`` (see :data:`~gaugemesh.training.metrics.ELEMENTS`):
    the benchmark counts every vertex of the file once, not the repaired mesh's vertices."""
    from gaugemesh.datasets import open_layout

    layout = open_layout(data_root, state["config"].get("data", {}).get("format", "auto"))
    if not hasattr(layout, "file_vertex_targets"):
        return
    items = {item.name: item for item in layout.items("train" if split == "val" else split)}
    for sample in samples:
        resampled = "input_index" in sample  # features.input_vertices: file -> mesh -> resampled vertex
        vertex_map = sample.input_vertex_map if resampled else sample.vertex_map
        index, labels = layout.file_vertex_targets(items[sample.name], vertex_map.numpy())
        if resampled:
            index = sample.input_index.numpy()[index]
        sample.file_vertex_index = torch.from_numpy(index).view(1, -1)
        sample.file_y = torch.from_numpy(labels)


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
    top = max((int(d[key].max()) for d in samples for _, key in ELEMENTS.values()
               if getattr(d, key, None) is not None and d[key].numel()), default=-1)
    if top >= trained:
        raise JobError(f"split {split!r} of {data_root} has labels up to {top} ({top + 1} classes) but the checkpoint "
                       f"was trained on {trained}; evaluate on data labelled with the checkpoint's classes")
