"""``gaugemesh predict``: segment mesh files with a checkpoint, one or many in one process.

:class:`Predictor` loads a checkpoint once and segments any number of meshes with it
(``Predictor(checkpoint).predict("bunny.obj")``); :func:`predict_meshes` is the command:
files, folders or globs, a progress bar, per-mesh failures reported by name without stopping
the rest, and one summary. Labels are written in the file's own vertex and face order.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from gaugemesh.datasets.sample import cast_floats, mesh_sample
from gaugemesh.io import SUPPORTED_SUFFIXES, read_mesh_arrays
from gaugemesh.mesh import Mesh, MeshError, validate_mesh
from gaugemesh.training.loop import predict_scores, resolve_device
from gaugemesh.training.precision import Precision
from gaugemesh.training.recipe import load_model, process_options
from gaugemesh.training.run_folder import JobError, check_out_dir

__all__ = ["Prediction", "Predictor", "PredictSummary", "find_meshes", "predict_meshes", "predict_mesh"]


@dataclass(frozen=True)
class Prediction:
    """A segmented mesh.

    Attributes:
        mesh: The validated (repaired) mesh the model saw.
        probabilities: Class probabilities per mesh vertex, ``[V, C]``.
        vertex_labels: One label per *file* vertex; -1 where the repair dropped the vertex.
        face_labels: One label per *file* face (the class of the mean probability of its
            corners); -1 where the repair dropped the face.
        file_probabilities: Probabilities per file vertex, ``[V_file, C]`` (NaN where dropped).
    """

    mesh: Mesh
    probabilities: np.ndarray
    vertex_labels: np.ndarray
    face_labels: np.ndarray
    file_probabilities: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        """The predicted class of every mesh vertex, ``[V]``."""
        return self.probabilities.argmax(1)

    @property
    def confidence(self) -> float:
        """The mean, over the mesh's vertices, of the probability of the predicted class."""
        return float(self.probabilities.max(1).mean())

    @property
    def dropped_vertices(self) -> int:
        """File vertices the repair dropped (they get label -1)."""
        return int((self.vertex_labels < 0).sum())


class Predictor:
    """A checkpoint loaded once, to segment meshes one after another.

    Args:
        checkpoint: A checkpoint written by ``gaugemesh train``.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        precision: As ``--precision`` (:mod:`gaugemesh.training.precision`).
        input_vertices: Overrides the checkpoint's ``features.input_vertices``: meshes more
            than twice as dense are resampled to about this many vertices before the network
            runs, and its outputs read back on every vertex (``0``: never resample).

    Example::

        predictor = gaugemesh.Predictor("runs/mine/best.pt")
        prediction = predictor.predict("bunny.obj")
        prediction.vertex_labels, prediction.face_labels, prediction.confidence
    """

    def __init__(self, checkpoint: str | os.PathLike, device: str = "cpu", precision: str = "auto",
                 input_vertices: int | None = None):
        self.model, self.state = load_model(checkpoint, device)
        self.options = process_options(self.state["config"])
        if input_vertices is not None:  # resample finer meshes to this density (0: never), whatever the config says
            self.options = replace(self.options, input_vertices=input_vertices)
        self.device = resolve_device(device)
        self.precision = Precision.resolve(precision, self.device)
        self.class_names: list[str] = list(self.state["class_names"])

    def predict(self, mesh: str | os.PathLike) -> Prediction:
        """Segment a mesh file (repaired where needed; the labels follow the file's order).

        Raises:
            MeshError: a file that cannot be read or used as a mesh.
        """
        file_pos, file_faces = read_mesh_arrays(mesh)
        # an O(2) model also segments non-orientable meshes (a Moebius strip), which SO(2) refuses
        group = self.state["config"]["features"].get("structure_group", "SO2")
        validated = validate_mesh(file_pos, file_faces, repair=True, structure_group=group)
        probabilities = self._probabilities(validated)
        return _in_file_order(validated, probabilities, len(file_pos), len(file_faces))

    def _probabilities(self, mesh: Mesh) -> np.ndarray:
        # float32: what the model was trained on (the cache's dtype).
        data = cast_floats(mesh_sample(mesh, self.options), torch.float32)
        probabilities = predict_scores(self.model, data, self.device, self.precision).softmax(1).numpy()
        if "input_index" in data:  # resampled (features.input_vertices): back to every vertex of the mesh
            probabilities = probabilities[data.input_index.numpy()]
        return probabilities


def _in_file_order(mesh: Mesh, probabilities: np.ndarray, num_file_vertices: int, num_file_faces: int) -> Prediction:
    """Labels and probabilities carried back to the file's vertices and faces."""
    file_probabilities = np.full((num_file_vertices, probabilities.shape[1]), np.nan, dtype=np.float32)
    file_probabilities[mesh.vertex_map[::-1]] = probabilities[::-1]  # the first copy of a split vertex wins
    vertex_labels = np.where(np.isnan(file_probabilities[:, 0]), -1, np.nan_to_num(file_probabilities).argmax(1))
    face_labels = np.full(num_file_faces, -1, dtype=np.int64)
    face_labels[mesh.face_map] = probabilities[mesh.faces].mean(1).argmax(1)  # a split polygon: its last triangle
    return Prediction(mesh, probabilities, vertex_labels, face_labels, file_probabilities)


def find_meshes(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Mesh files from files, folders (their supported files, sorted) and glob patterns.

    Raises:
        JobError: an input that matches no mesh file.
    """
    found: list[Path] = []
    for item in map(str, inputs):
        path = Path(item)
        if path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES)
        elif path.exists():
            matches = [path]
        else:
            matches = sorted(Path(p) for p in glob.glob(item) if Path(p).suffix.lower() in SUPPORTED_SUFFIXES)
        if not matches:
            raise JobError(f"{item} is no mesh file, folder of meshes or pattern that matches any "
                           f"({', '.join(SUPPORTED_SUFFIXES)})")
        found += matches
    return list(dict.fromkeys(found))


@dataclass
class PredictSummary:
    """What :func:`predict_meshes` did: written files per mesh, failures by name."""

    written: dict[str, dict[str, Path]] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"{len(self.written)} meshes segmented, {len(self.failed)} failed"]
        lines += [f"  {name}: mean confidence {c:.3f}" + (f", {self.dropped[name]} file vertices dropped by the "
                  "repair (label -1)" if self.dropped[name] else "") for name, c in self.confidence.items()]
        lines += [f"  failed {name}: {reason}" for name, reason in self.failed]
        return "\n".join(lines)


def predict_meshes(inputs: Sequence[str | os.PathLike], checkpoint, out_dir, device: str = "cpu",
                   precision: str = "auto", probabilities: bool = False, progress: bool = True,
                   input_vertices: int | None = None) -> PredictSummary:
    """Segment every mesh of ``inputs`` (files, folders, globs) with one loaded model.

    Writes, per mesh, ``<name>.labels.txt`` (per file vertex), ``<name>.face_labels.txt`` (per
    file face), ``<name>.ply`` (coloured), ``<name>.png`` (renders) and, with
    ``probabilities``, ``<name>.probabilities.npy`` (``[V_file, C]``, NaN rows where dropped).
    A mesh that fails is reported by name and the rest go on. ``input_vertices``: as
    :class:`Predictor`'s.
    """
    out_dir = Path(out_dir)
    check_out_dir(out_dir, "--out")
    predictor = Predictor(checkpoint, device, precision, input_vertices)  # a bad checkpoint is said first
    meshes = find_meshes(inputs)
    summary = PredictSummary()
    if progress:
        from tqdm.auto import tqdm

        meshes = tqdm(meshes, desc="predict", unit="mesh")
    for path in meshes:
        try:
            prediction = predictor.predict(path)
        except MeshError as exc:
            summary.failed.append((path.name, str(exc)))
            continue
        summary.written[path.name] = _write(prediction, out_dir, path.stem, probabilities)
        summary.confidence[path.name] = prediction.confidence
        summary.dropped[path.name] = prediction.dropped_vertices
    return summary


def _write(prediction: Prediction, out_dir: Path, stem: str, probabilities: bool) -> dict[str, Path]:
    from gaugemesh.training.plots import render_segmentation, write_colored_ply

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"labels": out_dir / f"{stem}.labels.txt", "face_labels": out_dir / f"{stem}.face_labels.txt",
             "ply": out_dir / f"{stem}.ply", "png": out_dir / f"{stem}.png"}
    np.savetxt(paths["labels"], prediction.vertex_labels, fmt="%d")
    np.savetxt(paths["face_labels"], prediction.face_labels, fmt="%d")
    mesh, labels = prediction.mesh, prediction.labels
    write_colored_ply(paths["ply"], mesh.pos, mesh.faces, labels)
    render_segmentation(paths["png"], mesh.pos, mesh.faces, labels, title=f"{stem}: predicted segmentation")
    if probabilities:
        paths["probabilities"] = out_dir / f"{stem}.probabilities.npy"
        np.save(paths["probabilities"], prediction.file_probabilities)
    return paths


def predict_mesh(mesh_path, checkpoint, out_dir, device: str = "cpu", precision: str = "auto") -> dict[str, Path]:
    """Segment one mesh file (see :func:`predict_meshes`); returns the written paths.

    Raises:
        MeshError: the file cannot be read or used as a mesh.
    """
    summary = predict_meshes([mesh_path], checkpoint, out_dir, device, precision, progress=False)
    if summary.failed:
        raise MeshError(summary.failed[0][1])
    return next(iter(summary.written.values()))
