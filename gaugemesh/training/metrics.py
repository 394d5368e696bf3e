"""Segmentation metrics where the labels live: per vertex, per edge (hard and soft), per face.

Networks predict per vertex; :func:`vertex_to_edge` and :func:`vertex_to_face` carry the
predictions to the elements a dataset labels by averaging the class probabilities of their
vertices. :func:`segmentation_metrics` computes every metric a ``Data`` has labels for (see
``gaugemesh.datasets`` for the attribute names). Works on batched ``Data`` too: the index
attributes are offset per graph by PyG.
"""

from __future__ import annotations

import torch

__all__ = [
    "IGNORE_INDEX",
    "vertex_to_edge",
    "vertex_to_face",
    "vertex_acc",
    "edge_acc_hard",
    "edge_acc_soft",
    "face_acc",
    "segmentation_metrics",
]

#: Label of elements without a class; every metric skips them.
IGNORE_INDEX = -1


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


def edge_acc_soft(pred: torch.Tensor, soft: torch.Tensor, target: torch.Tensor | None = None,
                  ignore_index: int = IGNORE_INDEX) -> float:
    """MeshCNN's soft edge accuracy: an edge is right if the soft label of the predicted
    class is positive (edges near part boundaries accept either side).

    Shapes:
        pred: ``[E]``; soft: ``[E, C]``; target (optional, to skip ignored edges): ``[E]``.
    """
    valid = torch.ones_like(pred, dtype=torch.bool) if target is None else target != ignore_index
    picked = soft.gather(1, pred.clamp(min=0, max=soft.size(1) - 1).view(-1, 1)).view(-1)
    return _accuracy(picked > 0, valid)


def face_acc(pred: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> float:
    """Fraction of labelled faces predicted right. Shapes: pred, target ``[F]``."""
    return _accuracy(pred == target, target != ignore_index)


def segmentation_metrics(data, scores: torch.Tensor) -> dict[str, float]:
    """Every metric ``data`` has labels for, from per-vertex logits ``[V, C]`` or labels ``[V]``.

    Reads ``y`` (vertex labels), and where present ``seg_edge_index`` with ``edge_y`` and
    ``edge_soft`` (MeshCNN edges), ``seg_face_index`` with ``face_y``.

    Returns:
        A dict with ``vertex_acc`` and, where labelled, ``edge_acc_hard``, ``edge_acc_soft``,
        ``face_acc``.
    """
    num_classes = scores.size(1) if scores.dim() == 2 else None
    if num_classes is None:
        edge_soft = getattr(data, "edge_soft", None)
        num_classes = edge_soft.size(1) if edge_soft is not None else int(max(scores.max(), data.y.max())) + 1
    vertex_pred = scores.argmax(dim=1) if scores.dim() == 2 else scores
    out = {"vertex_acc": vertex_acc(vertex_pred, data.y)}
    if getattr(data, "seg_edge_index", None) is not None and getattr(data, "edge_y", None) is not None:
        edge_pred = vertex_to_edge(scores, data.seg_edge_index, num_classes)
        out["edge_acc_hard"] = edge_acc_hard(edge_pred, data.edge_y)
        if getattr(data, "edge_soft", None) is not None:
            out["edge_acc_soft"] = edge_acc_soft(edge_pred, data.edge_soft, data.edge_y)
    if getattr(data, "seg_face_index", None) is not None and getattr(data, "face_y", None) is not None:
        out["face_acc"] = face_acc(vertex_to_face(scores, data.seg_face_index, num_classes), data.face_y)
    return out
