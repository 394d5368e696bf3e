"""GemResNet: a gauge-equivariant residual network for per-vertex segmentation."""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from gaugemesh.models.block import GemResBlock
from gaugemesh.models.head import invariant_classifier
from gaugemesh.nn import ConvOperators, OperatorCache, InvariantReadout, check_chain
from gaugemesh.so2 import FieldType

__all__ = ["GemResNet"]


class GemResNet(nn.Module):
    """Residual blocks of :class:`~gaugemesh.nn.GemConv` on a ``Data``/``Batch``, then an
    invariant readout (scalars and norms) and a per-vertex classifier (linear, or with a hidden
    layer: :func:`~gaugemesh.models.head.invariant_classifier`).

    The sparse geometry operators are built once per mesh/batch and shared by every layer.
    Logits are gauge invariant; with gauge-invariant inputs (scalars) they are also invariant
    under rigid motions of the mesh.

    Args:
        in_type: Type of ``data.x`` (e.g. ``"3x0"`` for three scalar features).
        num_classes: Number of output logits per vertex.
        width: Hidden fields per order: one number for every order, or one per order ``0..M``.
        max_order: ``M``, the highest order of the hidden features.
        num_blocks: Number of :class:`GemResBlock`.
        dropout: Field dropout probability inside the blocks.
        nonlinearity: ``"regular"``, ``"norm"`` or ``"gated"``.
        batch_norm: Use :class:`~gaugemesh.nn.BatchNorm` after each convolution.
        num_radial: Radial weights per edge in ``data.edge_weight`` (``[E]`` means 1).
        head_hidden: Hidden units of the per-vertex classifier; 0: one linear map.

    ``forward(data, operators=None)`` takes the :class:`~gaugemesh.nn.ConvOperators` of
    ``data`` when the caller keeps one (a training loop assembling each batch's operators
    from its meshes'); otherwise it keeps the last one it built. ``data.nonlinearity_gauge``,
    when present, evaluates the nonlinearities in frames rotated by it: the same network as
    on ``data`` in that gauge, for random gauge augmentation without new operators.

    Shapes:
        - data.x: ``[V, in_type.dim]``; data.edge_index ``[2, E]``; data.theta,
          data.transport ``[E]``; data.edge_weight ``[E]`` or ``[E, R]`` (optional);
          data.nonlinearity_gauge ``[V]`` (optional)
        - output: ``[V, num_classes]``
    """

    def __init__(
        self,
        in_type: FieldType | str,
        num_classes: int,
        width: int | Sequence[int] = 16,
        max_order: int = 2,
        num_blocks: int = 4,
        dropout: float = 0.0,
        nonlinearity: str = "regular",
        batch_norm: bool = True,
        num_radial: int = 1,
        head_hidden: int = 0,
    ):
        super().__init__()
        widths = [width] * (max_order + 1) if isinstance(width, int) else list(width)
        if len(widths) != max_order + 1:
            raise ValueError(f"width needs one entry per order 0..{max_order}, got {widths}.")
        self.in_type = FieldType(in_type)
        self.hidden_type = FieldType([(w, n) for n, w in enumerate(widths)])
        types = [self.in_type] + [self.hidden_type] * num_blocks
        self.blocks = nn.ModuleList(
            GemResBlock(a, b, nonlinearity, dropout, batch_norm, num_radial) for a, b in zip(types, types[1:])
        )
        self.readout = InvariantReadout(types[-1], mode="norms")
        check_chain(*self.blocks, self.readout)
        self.classifier = invariant_classifier(self.readout.out_type.dim, head_hidden, num_classes)
        self.out_type = FieldType.scalars(num_classes)
        self._cache = OperatorCache()

    def forward(self, data, operators: ConvOperators | None = None) -> Tensor:
        x = getattr(data, "x", None)
        if x is None:
            raise ValueError(f"GemResNet reads data.x of type {self.in_type}; data has no x.")
        self.in_type.check(x, "data.x")
        self.in_type.check_declared(getattr(data, "x_type", None))
        if operators is None:
            weight = getattr(data, "edge_weight", None)
            operators = self._cache.get(data.edge_index, data.theta, data.transport, weight, x.size(0))
        gauge = getattr(data, "nonlinearity_gauge", None)
        for block in self.blocks:
            x = block(x, operators, gauge)
        return self.classifier(self.readout(x))
