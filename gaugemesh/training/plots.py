"""Every picture the jobs draw, in one place: a segmentation rendered (PNG) or coloured (PLY),
the training curves, and the confusion matrices of an evaluation.

matplotlib (a dependency) is imported inside the functions, headless (Agg), so that importing
the training package does not pay for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["label_colors", "write_colored_ply", "render_segmentation", "plot_training_curves", "plot_confusion"]


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def label_colors(labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """RGB colors ``[V, 3]`` in ``[0, 1]``, one per class: tab10 (distinct hues) for up to
    10 classes, tab20 beyond."""
    import matplotlib

    labels = np.asarray(labels)
    many = (num_classes or int(labels.max(initial=0)) + 1) > 10
    palette = matplotlib.colormaps["tab20" if many else "tab10"].colors
    return np.asarray(palette)[np.mod(labels, len(palette))]


def write_colored_ply(path: str | os.PathLike, pos: np.ndarray, faces: np.ndarray, labels: np.ndarray) -> Path:
    """Write an ASCII PLY with one RGBA color per vertex and an int ``label`` property.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; labels: ``[V]``.
    """
    import trimesh

    path = Path(path)
    rgb = np.round(label_colors(labels) * 255).astype(np.uint8)
    mesh = trimesh.Trimesh(pos, faces, process=False)  # process=False keeps the file's vertex order
    mesh.visual.vertex_colors = np.concatenate([rgb, np.full((len(pos), 1), 255, np.uint8)], axis=1)
    mesh.vertex_attributes["label"] = np.asarray(labels, dtype=np.int32)
    path.write_bytes(trimesh.exchange.ply.export_ply(mesh, encoding="ascii", include_attributes=True))
    return path


def render_segmentation(
    path: str | os.PathLike,
    pos: np.ndarray,
    faces: np.ndarray,
    labels: np.ndarray,
    views: tuple[tuple[float, float], ...] = ((20, -60), (20, 60), (-30, 180)),
    title: str | None = None,
) -> Path:
    """Render the mesh colored by per-vertex labels from a few viewpoints into one PNG.

    Faces take the color of their majority vertex label, shaded by their normal so the
    shape reads. ``views`` are ``(elevation, azimuth)`` in degrees.
    """
    plt = _pyplot()
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    labels = np.asarray(labels)
    face_labels = np.array([np.bincount(row).argmax() for row in labels[faces]]) if labels.min() >= 0 else labels[faces[:, 0]]
    normals = np.cross(pos[faces[:, 1]] - pos[faces[:, 0]], pos[faces[:, 2]] - pos[faces[:, 0]])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    light = np.array([0.3, 0.3, 1.0]) / np.linalg.norm([0.3, 0.3, 1.0])
    shade = 0.55 + 0.45 * np.abs(normals @ light)
    colors = label_colors(face_labels) * shade[:, None]
    centre, radius = pos.mean(0), np.abs(pos - pos.mean(0)).max()
    fig = plt.figure(figsize=(4 * len(views), 4))
    for k, (elev, azim) in enumerate(views):
        ax = fig.add_subplot(1, len(views), k + 1, projection="3d")
        ax.add_collection3d(Poly3DCollection(pos[faces], facecolors=np.clip(colors, 0, 1), linewidths=0))
        for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre):
            setter(c - radius, c + radius)
        ax.view_init(elev=elev, azim=azim)
        ax.set_box_aspect((1, 1, 1))
        ax.set_axis_off()
    return _save(fig, path, title)


def _save(fig, path: str | os.PathLike, title: str | None = None, dpi: int = 100) -> Path:
    """Title, lay out, write and close ``fig``; returns the path."""
    plt = _pyplot()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_training_curves(rows: list[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Loss (left) and the accuracies and mean IoUs (right) of a metrics log against epoch,
    saved as a PNG."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for key in sorted({k for row in rows for k in row if k.endswith("loss")}):
        ax_loss.plot(epochs, [row.get(key) for row in rows], label=key)
    for key in sorted({k for row in rows for k in row if k.endswith(("acc", "acc_hard", "acc_soft", "miou"))}):
        ax_acc.plot(epochs, [row.get(key) for row in rows], label=key)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy, mean IoU", title="accuracy and mean IoU", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="small")
    return _save(fig, path, dpi=120)


_PLURAL = {"vertex": "vertices", "edge": "edges", "face": "faces"}


def plot_confusion(confusions: dict[str, Sequence[Sequence[int]]], class_names: Sequence[str],
                   path: str | os.PathLike, title: str | None = None) -> Path:
    """One panel per element kind (``{"vertex": [C, C], ...}``, rows the true class): each row
    coloured as fractions of its class, counts written in the cells when there are few classes,
    class names on the axes when they fit. Saved as a PNG.
    """
    plt = _pyplot()
    count = len(class_names)
    size = min(12.0, 2.5 + 0.35 * count)
    fig, axes = plt.subplots(1, len(confusions), figsize=(size * len(confusions), size), squeeze=False)
    for ax, (kind, matrix) in zip(axes[0], confusions.items()):
        matrix = np.asarray(matrix, dtype=np.int64)
        fractions = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
        image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
        if count <= 40:
            ticks = np.arange(count)
            ax.set_xticks(ticks, class_names, rotation=90, fontsize="small")
            ax.set_yticks(ticks, class_names, fontsize="small")
        if count <= 12:
            for (i, j), value in np.ndenumerate(matrix):
                ax.text(j, i, str(value), ha="center", va="center", fontsize="x-small",
                        color="white" if fractions[i, j] > 0.5 else "black")
        ax.set(xlabel="predicted class", ylabel="true class", title=f"{_PLURAL.get(kind, kind)} ({matrix.sum()} labelled)")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    return _save(fig, path, title)
