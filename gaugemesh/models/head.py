"""The per-vertex classifier that turns gauge-invariant features into logits."""

from __future__ import annotations

from torch import nn

__all__ = ["invariant_classifier"]


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
