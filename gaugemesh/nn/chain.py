"""Field types checked where layers are chained, when a model is built rather than at the
first forward pass (and as types, not widths: ``4x0`` and ``2x1`` are both 4 wide)."""

from __future__ import annotations

from torch import nn

__all__ = ["check_chain"]


def check_chain(*layers: nn.Module) -> None:
    """Raise ``TypeError`` unless every layer's ``out_type`` is the next one's ``in_type``.

    Layers without types (``nn.Identity`` standing in for an optional step) pass their input
    on unchanged and are skipped.
    """
    typed = [layer for layer in layers if hasattr(layer, "in_type") and hasattr(layer, "out_type")]
    for before, after in zip(typed, typed[1:]):
        if before.out_type != after.in_type:
            raise TypeError(f"{type(before).__name__} gives {before.out_type}, but the {type(after).__name__} after it "
                            f"reads {after.in_type}.")
