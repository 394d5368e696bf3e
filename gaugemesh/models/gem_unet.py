"""GemUNet: a gauge-equivariant U-Net over the levels of a mesh hierarchy."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from gaugemesh.hierarchy.data import level_data, num_levels, pool_map
from gaugemesh.models.block import GemResBlock
from gaugemesh.models.head import classify_hypercolumn, invariant_classifier
from gaugemesh.nn import ConvOperators, OperatorCache, InvariantReadout, check_chain
from gaugemesh.nn.pool import ParallelTransportPool, ParallelTransportUnpool
from gaugemesh.so2 import FieldType

__all__ = ["GemUNet"]


def _level_types(widths: Sequence[int], growth: float, levels: int) -> list[FieldType]:
    """Hidden type of every level: the level-0 multiplicities times ``growth ** k``."""
    return [FieldType([(max(1, round(w * growth**k)), n) for n, w in enumerate(widths)]) for k in range(levels)]


def _finest_indices(data, count: int) -> list[Tensor]:
    """For levels ``1 .. count``, the vertex of that level of every level-0 vertex: each fine
    vertex's coarse vertex, through every level between."""
    out, index = [], None
    for k in range(1, count + 1):
        step = data[f"pool{k}_index"]
        index = step if index is None else step[index]
        out.append(index)
    return out


class GemUNet(nn.Module):
    """Residual :class:`~gaugemesh.models.GemResBlock` stages on every level of a hierarchy
    (:mod:`gaugemesh.hierarchy.data`), joined by parallel-transport pooling, with skip
    connections across levels; then, as in :class:`~gaugemesh.models.GemResNet`, an invariant
    readout (scalars and norms) and a per-vertex classifier: linear, or with ``head_hidden``
    ReLU units between. Level 0 alone has only ``(2 max_order + 1) x width`` invariants, fewer
    than a task of hundreds of classes may need: ``readout_levels > 1`` also reads the
    invariants of the next coarser levels on the way up, each fine vertex those of its coarse
    vertex (invariants need no transport), as a segmentation network's hypercolumn.

    Down: level 0's blocks, then for ``k = 1 .. L-1`` a
    :class:`~gaugemesh.nn.pool.ParallelTransportPool` to level ``k`` and its blocks. Up: for
    ``k = L-1 .. 1`` a :class:`~gaugemesh.nn.pool.ParallelTransportUnpool` to level ``k - 1``,
    the skip features of that level appended (a direct sum of types), and one block back to
    level ``k - 1``'s type. Every step is gauge equivariant with an independent gauge per level,
    so the logits are gauge invariant.

    Args:
        in_type: Type of ``data.x``.
        num_classes: Logits per vertex.
        width: Level 0's hidden fields per order: one number for every order, or one per order ``0..M``.
        max_order: ``M``, the highest order of the hidden features.
        num_levels: ``L``, levels used (``data`` must hold at least as many).
        blocks_per_level: Residual blocks at each level on the way down.
        growth: Hidden multiplicities grow by this factor per level (coarse levels are ~4x smaller).
        dropout, nonlinearity, batch_norm, num_radial: As in :class:`~gaugemesh.models.GemResNet`.
        pool_weighting: ``"area"`` or ``"mean"`` (see :class:`~gaugemesh.nn.pool.ParallelTransportPool`).
        head_hidden: Hidden units of the per-vertex classifier; 0: one linear map.
        readout_levels: Levels (from the finest) whose invariants the classifier reads, 1 to ``num_levels``.

    ``forward(data, operators=None)``: ``operators`` is level 0's
    :class:`~gaugemesh.nn.ConvOperators` or one per level (a training loop's cached operators);
    others are built and kept as in ``GemResNet``. ``data.nonlinearity_gauge`` and
    ``data.level{k}_nonlinearity_gauge`` (optional) evaluate the nonlinearities of each level in
    rotated frames.

    Shapes:
        - data.x: ``[V, in_type.dim]``; level 0's operators as for ``GemResNet``; the keys of
          :mod:`gaugemesh.hierarchy.data` for levels ``1 .. L-1``
        - output: ``[V, num_classes]``
    """

    def __init__(
        self,
        in_type: FieldType | str,
        num_classes: int,
        width: int | Sequence[int] = 16,
        max_order: int = 2,
        num_levels: int = 3,
        blocks_per_level: int = 1,
        growth: float = 2.0,
        dropout: float = 0.0,
        nonlinearity: str = "regular",
        batch_norm: bool = True,
        num_radial: int = 1,
        pool_weighting: str = "area",
        head_hidden: int = 0,
        readout_levels: int = 1,
    ):
        super().__init__()
        widths = [width] * (max_order + 1) if isinstance(width, int) else list(width)
        if len(widths) != max_order + 1:
            raise ValueError(f"width needs one entry per order 0..{max_order}, got {widths}.")
        if num_levels < 1 or blocks_per_level < 1:
            raise ValueError(f"GemUNet needs num_levels >= 1 and blocks_per_level >= 1, got {num_levels}, {blocks_per_level}.")
        if isinstance(readout_levels, bool) or not isinstance(readout_levels, int) or not 1 <= readout_levels <= num_levels:
            raise ValueError(f"readout_levels must be an integer from 1 to num_levels = {num_levels}, got {readout_levels!r}.")
        self.in_type, self.num_levels = FieldType(in_type), num_levels
        self.level_types = _level_types(widths, growth, num_levels)

        def block(a, b):
            return GemResBlock(a, b, nonlinearity, dropout, batch_norm, num_radial)

        self.down = nn.ModuleList()
        self.pools = nn.ModuleList()
        previous = self.in_type
        for k, hidden in enumerate(self.level_types):
            if k > 0:
                self.pools.append(ParallelTransportPool(previous, pool_weighting))
            stage = [block(previous, hidden)] + [block(hidden, hidden) for _ in range(blocks_per_level - 1)]
            self.down.append(nn.ModuleList(stage))
            check_chain(*stage)
            previous = hidden
        self.unpools = nn.ModuleList(ParallelTransportUnpool(t) for t in self.level_types[1:])
        self.up = nn.ModuleList(block(self.level_types[k] + self.level_types[k - 1], self.level_types[k - 1])
                                for k in range(1, num_levels))
        self.readout = InvariantReadout(self.level_types[0], mode="norms")
        self.coarse_readouts = nn.ModuleList(InvariantReadout(t, mode="norms") for t in self.level_types[1:readout_levels])
        num_invariants = sum(r.out_type.dim for r in [self.readout, *self.coarse_readouts])
        self.classifier = invariant_classifier(num_invariants, head_hidden, num_classes)
        self.out_type = FieldType.scalars(num_classes)
        self._caches = [OperatorCache() for _ in range(num_levels)]

    def _level_operators(self, data, operators) -> list[ConvOperators]:
        given = [operators] if isinstance(operators, ConvOperators) else list(operators or [])
        out = []
        for k in range(self.num_levels):
            if k < len(given) and given[k] is not None:
                out.append(given[k])
                continue
            level = level_data(data, k)
            out.append(self._caches[k].get(level.edge_index, level.theta, level.transport,
                                           getattr(level, "edge_weight", None), int(level.num_nodes)))
        return out

    def forward(self, data, operators: ConvOperators | Sequence[ConvOperators] | None = None) -> Tensor:
        x = getattr(data, "x", None)
        if x is None:
            raise ValueError(f"GemUNet reads data.x of type {self.in_type}; data has no x.")
        self.in_type.check(x, "data.x")
        self.in_type.check_declared(getattr(data, "x_type", None))
        if num_levels(data) < self.num_levels:
            raise ValueError(f"GemUNet uses {self.num_levels} levels but data holds {num_levels(data)}; "
                             "add them with gaugemesh.hierarchy.data.add_hierarchy(data, num_levels).")
        operator_list = self._level_operators(data, operators)
        gauges = [getattr(data, "nonlinearity_gauge" if k == 0 else f"level{k}_nonlinearity_gauge", None)
                  for k in range(self.num_levels)]
        skips = []
        for k, stage in enumerate(self.down):
            if k > 0:
                index, angle, weight, num_coarse = pool_map(data, k)
                x = self.pools[k - 1](x, index, angle, weight, num_coarse)
            for block in stage:
                x = block(x, operator_list[k], gauges[k])
            skips.append(x)
        invariants = []  # of the coarse levels read out, each at its own level's vertices
        for k in range(self.num_levels - 1, 0, -1):
            if k <= len(self.coarse_readouts):
                invariants.append(self.coarse_readouts[k - 1](x))
            x = self.unpools[k - 1](x, data[f"pool{k}_index"], data[f"pool{k}_angle"])
            x = self.up[k - 1](torch.cat([x, skips[k - 1]], -1), operator_list[k - 1], gauges[k - 1])  # direct sum
        coarse = invariants[::-1]
        return classify_hypercolumn(self.classifier, self.readout(x), coarse, _finest_indices(data, len(coarse)))

