"""The per-vertex classifier that turns gauge-invariant features into logits."""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["invariant_classifier", "classify_hypercolumn"]


def invariant_classifier(num_invariants: int, hidden: int, num_classes: int) -> nn.Module:
    """Logits from the invariants of a vertex: one linear map (``hidden = 0``), or ``hidden``
    ReLU units between two. Invariants in, so any per-vertex map keeps the logits invariant.

    A narrow network reads few invariants (``(2M + 1) x width`` scalars and norms at most):
    fewer than a task of hundreds of classes may need, which a hidden layer gives back cheaply.

    Raises:
        ValueError: ``hidden`` is not an integer >= 0.

    Shapes:
        - input: ``[V, num_invariants]``
        - output: ``[V, num_classes]``
    """
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
        raise ValueError(f"head_hidden must be an integer >= 0, got {hidden!r}.")
    if hidden == 0:
        return nn.Linear(num_invariants, num_classes)
    return nn.Sequential(nn.Linear(num_invariants, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


def classify_hypercolumn(classifier: nn.Module, finest: Tensor, coarse: Sequence[Tensor],
                         indices: Sequence[Tensor]) -> Tensor:
    """``classifier(cat([finest, coarse[0][indices[0]], ...], -1))``, with the first linear map
    applied at every level before the gather.

    Gathering picks rows, so it commutes with a per-row linear map: each level's block of the
    first weight multiplies that level's own rows (4x, 16x, 64x fewer than level 0's) and only
    the ``hidden``-wide products are gathered and summed. On a 15k-vertex RNA mesh with 360
    invariants and 256 hidden units this removes ~85% of the first layer's multiply-adds.

    Args:
        classifier: From :func:`invariant_classifier`.
        finest: Invariants of level 0.
        coarse: Invariants of levels ``1, 2, ...``, each at its own level's vertices.
        indices: For each coarse level, the vertex of that level of every level-0 vertex.

    Shapes:
        - finest: ``[V, C_0]``; coarse[k]: ``[V_k, C_k]``; indices[k]: ``[V]``
        - output: ``[V, num_classes]``

    Raises:
        ValueError: The levels' widths do not add up to the classifier's input width, or the
            levels and the indices differ in number.
    """
    layers = list(classifier) if isinstance(classifier, nn.Sequential) else [classifier]
    first = layers[0]
    widths = [finest.shape[-1], *(c.shape[-1] for c in coarse)]
    if sum(widths) != first.in_features or len(coarse) != len(indices):
        raise ValueError(f"classify_hypercolumn: levels of widths {widths} and {len(indices)} index maps "
                         f"for a classifier that reads {first.in_features} invariants.")
    blocks = first.weight.split(widths, dim=1)
    out = F.linear(finest, blocks[0], first.bias)
    for values, block, index in zip(coarse, blocks[1:], indices):
        # index_select rather than [index]: on CPU its backward (an index_add) is ~4x faster
        # than advanced indexing's (an accumulating index_put)
        out = out + F.linear(values, block).index_select(0, index)
    for layer in layers[1:]:
        out = layer(out)
    return out
