"""Pooling to a coarser level of an O(2) mesh hierarchy and back, by parallel transport in O(2).

The map from fine vertex ``f`` to its coarse vertex ``c = index[f]`` is the O(2) element
``g_f = (angle[f], reflection[f]) = R(angle) F^reflection`` (:mod:`gaugemesh.hierarchy.o2_levels`):
the fine frame carried to ``c`` may arrive with the other handedness. A feature is carried by
its representation, ``rho(g_f) x_f = rho(R(angle)) rho(F)^reflection x_f``, so both layers are
the SO(2) ones (:mod:`gaugemesh.nn.pool`) with the reflection applied on the fine side:
before pooling, and after unpooling (``rho(g^-1) = rho(F)^reflection rho(R(-angle))``). For
independent O(2) gauges ``h`` (fine) and ``k`` (coarse) the map becomes ``k_c^-1 g_f h_f``,
hence ``rho(k_c^-1 g_f h_f) rho(h_f^-1) x_f = rho(k_c^-1) rho(g_f) x_f``: equivariant.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gaugemesh.nn.pool import ParallelTransportPool, ParallelTransportUnpool
from gaugemesh.o2 import O2FieldType

__all__ = ["O2ParallelTransportPool", "O2ParallelTransportUnpool"]


def _reflect_where(ftype: O2FieldType, x: Tensor, reflection: Tensor, what: str) -> Tensor:
    """``rho(F) x_f`` where ``reflection[f]``, else ``x_f`` (exact in any dtype: a sign)."""
    if reflection.shape != x.shape[:1] or reflection.dtype != torch.bool:
        raise ValueError(f"{what}: reflection must be a bool [V_fine] = [{x.size(0)}], "
                         f"got {reflection.dtype} {list(reflection.shape)}.")
    return torch.where(reflection[:, None] & ftype.reflection_mask(x.device), -x, x)


class O2ParallelTransportPool(nn.Module):
    r"""Fine -> coarse: the weighted mean of the fine features carried into each coarse frame by
    the O(2) map.

    .. math::
        y_c = \sum_{f:\, index_f = c} w_f \, \rho(angle_f, reflection_f) \, x_f

    Args:
        field_type: :class:`~gaugemesh.o2.O2FieldType` of the features (input and output; no parameters).
        weighting: ``"area"`` (the hierarchy's weights) or ``"mean"``, as
            :class:`~gaugemesh.nn.pool.ParallelTransportPool`.

    Shapes:
        - x: ``[V_fine, dim]``; index, angle, reflection, weight: ``[V_fine]``
        - output: ``[num_coarse, dim]``
    """

    def __init__(self, field_type: O2FieldType | str, weighting: str = "area"):
        super().__init__()
        self.in_type = self.out_type = O2FieldType(field_type)
        self.so2_pool = ParallelTransportPool(self.in_type.so2, weighting)

    @property
    def weighting(self) -> str:
        return self.so2_pool.weighting

    def forward(self, x: Tensor, index: Tensor, angle: Tensor, reflection: Tensor, weight: Tensor | None,
                num_coarse: int) -> Tensor:
        self.in_type.check(x)
        return self.so2_pool(_reflect_where(self.in_type, x, reflection, type(self).__name__), index, angle,
                             weight, num_coarse)

    def extra_repr(self) -> str:
        return f"{self.in_type}, weighting={self.weighting!r}"


class O2ParallelTransportUnpool(nn.Module):
    r"""Coarse -> fine: every fine vertex takes its coarse vertex's feature, carried back by the
    inverse of the O(2) map.

    .. math::
        x_f = \rho(angle_f, reflection_f)^{-1} \, y_{index_f}

    Args:
        field_type: :class:`~gaugemesh.o2.O2FieldType` of the features (input and output; no parameters).

    Shapes:
        - y: ``[num_coarse, dim]``; index, angle, reflection: ``[V_fine]``
        - output: ``[V_fine, dim]``
    """

    def __init__(self, field_type: O2FieldType | str):
        super().__init__()
        self.in_type = self.out_type = O2FieldType(field_type)
        self.so2_unpool = ParallelTransportUnpool(self.in_type.so2)

    def forward(self, y: Tensor, index: Tensor, angle: Tensor, reflection: Tensor) -> Tensor:
        self.in_type.check(y)
        rotated = self.so2_unpool(y, index, angle)  # rho(R(-angle)) y_c
        return _reflect_where(self.in_type, rotated, reflection, type(self).__name__)

    def extra_repr(self) -> str:
        return str(self.in_type)
