"""Segmentation metrics where the labels live: per vertex, per edge (hard and soft), per face.

Networks predict per vertex; :func:`vertex_to_edge` and :func:`vertex_to_face` carry the
predictions to the elements a dataset labels by averaging the class probabilities of their
vertices. :class:`SegmentationCounts` sums, over a whole split, one confusion matrix per
labelled element kind (and MeshCNN's soft-edge hits); every metric is computed from the sums,
never averaged over meshes. :func:`segmentation_metrics` does the same for one ``Data`` or
``Batch`` (see ``gaugemesh.datasets`` for the attribute names; PyG offsets the index attributes
per graph).

Conventions: confusion rows are the true class, columns the predicted one. A class's accuracy
is its recall (``C[c, c] / sum_j C[c, j]``; undefined where the class has no labelled
element). Its IoU is ``C[c, c] / (row + column - C[c, c])``, undefined where the class is
neither labelled nor predicted anywhere in the split; the mean IoU averages the defined ones,
i.e. the classes present in the union of target and prediction over the whole split.
Undefined values are NaN in tensors and ``None`` in reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

__all__ = [
    "IGNORE_INDEX",
    "ELEMENTS",
    "vertex_to_edge",
    "vertex_to_face",
    "vertex_acc",
    "edge_acc_hard",
    "edge_acc_soft",
    "face_acc",
    "confusion_matrix",
    "accuracy",
    "accuracy_key",
    "per_class_accuracy",
    "per_class_iou",
    "mean_iou",
    "SegmentationCounts",
    "segmentation_metrics",
]

#: Label of elements without a class; every metric skips them.
IGNORE_INDEX = -1

#: The element kinds labels can live on, and the ``Data`` attributes (index, labels) of each.
#: ``file_vertex``: the vertices of the mesh file, each scored once with the prediction of the
#: mesh vertex ``file_vertex_index [1, V_file]`` names (a repaired mesh drops and duplicates
#: vertices; see :meth:`~gaugemesh.datasets.VertexLabelLayout.file_vertex_targets`).
ELEMENTS = {"vertex": (None, "y"), "edge": ("seg_edge_index", "edge_y"), "face": ("seg_face_index", "face_y"),
            "file_vertex": ("file_vertex_index", "file_y")}


# -- vertex predictions carried to edges and faces ----------------------------------------


def _probabilities(scores: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Logits ``[V, C]`` become softmax probabilities; hard labels ``[V]`` become one-hot."""
    if scores.dim() == 2:
        return torch.softmax(scores.double(), dim=1)
    if scores.dim() == 1 and not scores.is_floating_point():
        if num_classes is None:
            num_classes = int(scores.max()) + 1
        return torch.nn.functional.one_hot(scores.clamp(min=0), num_classes).double()
    raise ValueError(f"expected logits [V, C] or integer labels [V], got a tensor of shape {tuple(scores.shape)}.")


def _pool(scores: torch.Tensor, index: torch.Tensor, num_classes: int | None) -> torch.Tensor:
    probs = _probabilities(scores, num_classes)
    return probs[index].mean(dim=0).argmax(dim=1)


def vertex_to_edge(scores: torch.Tensor, edge_index: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Edge predictions from vertex logits (or hard labels): argmax of the endpoints' mean
    probability. Ties between two hard labels go to the smaller class index.

    Shapes:
        scores: ``[V, C]`` or ``[V]``; edge_index: ``[2, E]``; returns ``[E]``.
    """
    return _pool(scores, edge_index, num_classes)


def vertex_to_face(scores: torch.Tensor, face_index: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Face predictions from vertex logits (or hard labels): argmax of the corners' mean
    probability, i.e. a majority vote for hard labels.

    Shapes:
        scores: ``[V, C]`` or ``[V]``; face_index: ``[3, F]``; returns ``[F]``.
    """
    return _pool(scores, face_index, num_classes)


# -- accuracies of one set of predictions -------------------------------------------------


def _accuracy(correct: torch.Tensor, valid: torch.Tensor) -> float:
    if not bool(valid.any()):
        raise ValueError("no labelled elements to score: every label equals the ignore index.")
    return float(correct[valid].double().mean())


def vertex_acc(pred: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> float:
    """Fraction of labelled vertices predicted right. Shapes: pred, target ``[V]``."""
    return _accuracy(pred == target, target != ignore_index)


def edge_acc_hard(pred: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> float:
    """Fraction of labelled edges whose predicted class is the hard label. Shapes: ``[E]``."""
    return _accuracy(pred == target, target != ignore_index)


def _soft_hits(pred: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """Whether the soft label of each edge's predicted class is positive, ``[E]``."""
    return soft.gather(1, pred.clamp(min=0, max=soft.size(1) - 1).view(-1, 1)).view(-1) > 0


def edge_acc_soft(pred: torch.Tensor, soft: torch.Tensor, target: torch.Tensor | None = None,
                  ignore_index: int = IGNORE_INDEX) -> float:
    """MeshCNN's soft edge accuracy: an edge is right if the soft label of the predicted
    class is positive (edges near part boundaries accept either side).

    Shapes:
        pred: ``[E]``; soft: ``[E, C]``; target (optional, to skip ignored edges): ``[E]``.
    """
    valid = torch.ones_like(pred, dtype=torch.bool) if target is None else target != ignore_index
    return _accuracy(_soft_hits(pred, soft), valid)


def face_acc(pred: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> float:
    """Fraction of labelled faces predicted right. Shapes: pred, target ``[F]``."""
    return _accuracy(pred == target, target != ignore_index)


# -- the confusion matrix and what it gives -----------------------------------------------


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Counts of (true class, predicted class) over the labelled elements.

    Raises:
        ValueError: a label or prediction outside ``0..num_classes-1`` (other than an
            ignored label).

    Shapes:
        pred, target: ``[N]``; returns ``[C, C]`` int64, rows the true class.
    """
    keep = target != ignore_index
    pred, target = pred[keep].long(), target[keep].long()
    for name, values in (("label", target), ("prediction", pred)):
        if values.numel() and (int(values.min()) < 0 or int(values.max()) >= num_classes):
            raise ValueError(f"a {name} outside 0..{num_classes - 1} (got {int(values.min())}..{int(values.max())}); "
                             f"pass the dataset's number of classes, or ignore_index={ignore_index} for unlabelled")
    flat = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return flat.view(num_classes, num_classes)


def _labelled(confusion: torch.Tensor) -> int:
    total = int(confusion.sum())
    if total == 0:
        raise ValueError("no labelled elements to score: every label equals the ignore index.")
    return total


def accuracy(confusion: torch.Tensor) -> float:
    """Fraction of labelled elements predicted right. Shapes: confusion ``[C, C]``."""
    return float(confusion.diag().sum()) / _labelled(confusion)


def accuracy_key(kind: str) -> str:
    """The metric name of the accuracy on elements of ``kind``: ``vertex_acc``, ``face_acc``,
    ``file_vertex_acc``; ``edge_acc_hard`` for edges (beside the soft accuracy)."""
    return "edge_acc_hard" if kind == "edge" else f"{kind}_acc"


def per_class_accuracy(confusion: torch.Tensor) -> torch.Tensor:
    """Recall of each class; NaN for a class without labelled elements.

    Shapes:
        confusion: ``[C, C]``; returns ``[C]`` float64.
    """
    confusion = confusion.double()
    return confusion.diag() / confusion.sum(1)  # 0 / 0 is NaN: no element of that class


def per_class_iou(confusion: torch.Tensor) -> torch.Tensor:
    """Intersection over union of each class; NaN where the class is neither labelled nor
    predicted.

    Shapes:
        confusion: ``[C, C]``; returns ``[C]`` float64.
    """
    confusion = confusion.double()
    hits = confusion.diag()
    return hits / (confusion.sum(0) + confusion.sum(1) - hits)


def mean_iou(confusion: torch.Tensor) -> float:
    """Mean of the defined per-class IoUs (classes in the union of target and prediction).

    Raises:
        ValueError: no labelled element at all.
    """
    _labelled(confusion)
    return float(per_class_iou(confusion).nanmean())


# -- sums over a split --------------------------------------------------------------------


def _maybe(value: float) -> float | None:
    """NaN (undefined) as ``None``, for JSON."""
    return None if math.isnan(value) else value


def _unique_names(class_names: Sequence[str] | None, num_classes: int) -> list[str]:
    """Class names usable as keys: given names, or indices; a repeated name gets its index."""
    names = [str(n) for n in class_names] if class_names is not None else [str(i) for i in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for {num_classes} classes")
    return [n if names.count(n) == 1 else f"{n} ({i})" for i, n in enumerate(names)]


@dataclass
class SegmentationCounts:
    """Confusion matrices of a split, summed mesh by mesh (or batch by batch).

    Args:
        num_classes: Classes of the model (the width of its logits).
        ignore_index: Label of unlabelled elements.

    Attributes:
        confusion: ``{"vertex" | "edge" | "face": [C, C] int64}`` for the element kinds
            the data has labels for.
        soft_hits: Labelled edges whose predicted class has a positive soft label.
        soft_total: Labelled edges of the meshes that carry soft labels.

    Example::

        counts = SegmentationCounts(num_classes)
        for data in split:
            counts.add(data, model(data))
        counts.metrics()  # {"vertex_acc": ..., "vertex_miou": ..., "edge_acc_hard": ...}
    """

    num_classes: int
    ignore_index: int = IGNORE_INDEX
    confusion: dict[str, torch.Tensor] = field(default_factory=dict)
    soft_hits: int = 0
    soft_total: int = 0

    def add(self, data, scores: torch.Tensor) -> SegmentationCounts:
        """Count one ``Data`` or ``Batch`` with its per-vertex logits ``[V, C]`` or labels ``[V]``.

        Reads ``y`` and, where present, ``seg_edge_index`` with ``edge_y`` (and ``edge_soft``),
        ``seg_face_index`` with ``face_y``, ``file_vertex_index`` with ``file_y``. Returns ``self``.
        """
        for kind, (index_key, label_key) in ELEMENTS.items():
            target = getattr(data, label_key, None)
            index = getattr(data, index_key, None) if index_key else None
            if target is None or (index_key and index is None):
                continue
            target = target.to(scores.device)  # the model's device need not be the data's
            pred = self._predict(scores, None if index is None else index.to(scores.device))
            confusion = confusion_matrix(pred, target, self.num_classes, self.ignore_index)
            self.confusion[kind] = self.confusion.get(kind, 0) + confusion
            soft = getattr(data, "edge_soft", None) if kind == "edge" else None
            if soft is not None:
                valid = target != self.ignore_index
                self.soft_hits += int(_soft_hits(pred, soft.to(scores.device))[valid].sum())
                self.soft_total += int(valid.sum())
        return self

    def merge(self, other: SegmentationCounts) -> SegmentationCounts:
        """Add the counts of ``other`` (of as many classes) to these; returns ``self``."""
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot merge counts of {other.num_classes} classes into {self.num_classes}")
        for kind, confusion in other.confusion.items():
            self.confusion[kind] = self.confusion.get(kind, 0) + confusion
        self.soft_hits += other.soft_hits
        self.soft_total += other.soft_total
        return self

    def _predict(self, scores: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
        if index is not None:
            return _pool(scores, index, self.num_classes)
        return scores.argmax(dim=1) if scores.dim() == 2 else scores

    def labelled(self, kind: str) -> int:
        """Labelled elements of ``kind`` counted so far (0 for a kind without labels)."""
        return int(self.confusion[kind].sum()) if kind in self.confusion else 0

    @property
    def labels_on(self) -> str:
        """The element kind the dataset's own labels live on: edges for MeshCNN's layout,
        faces where labels are given per face, the file's vertices where they are scored
        (``file_vertex``), else the mesh's vertices."""
        return next((k for k in ("edge", "face", "file_vertex") if k in self.confusion), "vertex")

    def metrics(self) -> dict[str, float]:
        """The headline numbers: ``vertex_acc``, ``vertex_miou`` and, where labelled,
        ``edge_acc_hard``, ``edge_acc_soft``, ``edge_miou``, ``face_acc``, ``face_miou``.

        Raises:
            ValueError: a labelled kind with no labelled element (all ignored).
        """
        out: dict[str, float] = {}
        for kind, confusion in self.confusion.items():
            out[accuracy_key(kind)] = accuracy(confusion)
            if kind == "edge" and self.soft_total:
                out["edge_acc_soft"] = self.soft_hits / self.soft_total
            out[f"{kind}_miou"] = mean_iou(confusion)
        return out

    def report(self, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        """:meth:`metrics`, and per labelled kind the per-class accuracy and IoU (keyed by
        class name; ``None`` where undefined), the support and the confusion matrix. Plain
        Python values, ready for ``json.dumps``."""
        names = _unique_names(class_names, self.num_classes)
        out: dict[str, Any] = {"class_names": list(names), "labels_on": self.labels_on, **self.metrics()}
        for kind, confusion in self.confusion.items():
            iou = per_class_iou(confusion)
            out[kind] = {
                "labelled": int(confusion.sum()),
                "accuracy": accuracy(confusion),
                "mean_iou": mean_iou(confusion),
                "classes_in_mean_iou": int((~iou.isnan()).sum()),
                "per_class_accuracy": {n: _maybe(v) for n, v in zip(names, per_class_accuracy(confusion).tolist())},
                "per_class_iou": {n: _maybe(v) for n, v in zip(names, iou.tolist())},
                "support": dict(zip(names, confusion.sum(1).tolist())),
                "confusion": confusion.tolist(),
            }
        return out


def _infer_num_classes(data, scores: torch.Tensor) -> int:
    if scores.dim() == 2:
        return scores.size(1)
    soft = getattr(data, "edge_soft", None)
    if soft is not None:
        return soft.size(1)
    labels = [scores.max()] + [getattr(data, key).max() for _, key in ELEMENTS.values()
                               if getattr(data, key, None) is not None and getattr(data, key).numel()]
    return int(max(int(v) for v in labels)) + 1


def segmentation_metrics(data, scores: torch.Tensor, num_classes: int | None = None) -> dict[str, float]:
    """Every metric ``data`` has labels for, from per-vertex logits ``[V, C]`` or labels ``[V]``
    (see :meth:`SegmentationCounts.metrics`). To score a split, sum
    :class:`SegmentationCounts` over its meshes instead of averaging these.

    ``num_classes`` defaults to the width of the logits; for hard labels, to the soft
    labels' width or the largest label + 1.
    """
    num_classes = num_classes or _infer_num_classes(data, scores)
    return SegmentationCounts(num_classes).add(data, scores).metrics()
