"""Pooling to a coarser level of a mesh hierarchy and back, by parallel transport.

A fine vertex ``f`` maps to one coarse vertex ``c = index[f]``; ``angle[f]`` carries a tangent
vector from ``f``'s frame into ``c``'s (:mod:`gaugemesh.hierarchy.levels`). A feature of any
type is carried by its representation, ``rho(angle[f]) x_f``, which is what makes both layers
gauge equivariant for independent gauges ``phi`` (fine) and ``psi`` (coarse):
``rho(angle - psi_c + phi_f) rho(-phi_f) x_f = rho(-psi_c) rho(angle) x_f``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gaugemesh.nn.precision import result_dtype, working_dtype
from gaugemesh.so2 import FieldType

__all__ = ["ParallelTransportPool", "ParallelTransportUnpool", "POOL_WEIGHTINGS"]

POOL_WEIGHTINGS = ("area", "mean")


def _check_map(x: Tensor, index: Tensor, angle: Tensor, what: str) -> None:
    if index.dim() != 1 or angle.shape != index.shape:
        raise ValueError(f"{what}: index and angle must be [V_fine], got {list(index.shape)} and {list(angle.shape)}.")


class ParallelTransportPool(nn.Module):
    r"""Fine -> coarse: the weighted mean of the fine features transported into each coarse frame.

    .. math::
        y_c = \sum_{f:\, index_f = c} w_f \, \rho(angle_f) \, x_f

    ``weighting="area"`` (default) takes ``w`` from the hierarchy (each fine vertex's area over
    its cell's): the mean over the surface, so the same surface sampled at another resolution
    pools to about the same value. ``"mean"`` averages the fine vertices plainly. A coarse
    vertex that no fine vertex maps to gets zeros.

    Args:
        field_type: Type of the features (input and output; no parameters).
        weighting: ``"area"`` or ``"mean"``.

    Shapes:
        - x: ``[V_fine, dim]``; index, angle, weight: ``[V_fine]``
        - output: ``[num_coarse, dim]``
    """

    def __init__(self, field_type: FieldType | str, weighting: str = "area"):
        super().__init__()
        if weighting not in POOL_WEIGHTINGS:
            raise ValueError(f"weighting must be one of {POOL_WEIGHTINGS}, got {weighting!r}.")
        self.in_type = self.out_type = FieldType(field_type)
        self.weighting = weighting

    def forward(self, x: Tensor, index: Tensor, angle: Tensor, weight: Tensor | None, num_coarse: int) -> Tensor:
        self.in_type.check(x)
        _check_map(x, index, angle, type(self).__name__)
        if x.size(0) != index.size(0):
            raise ValueError(f"x has {x.size(0)} vertices but the map has {index.size(0)}.")
        # a sum over a cell: in float32 at least, as the fused layers do (gaugemesh.nn.precision)
        dtype = working_dtype(x)
        carried = self.in_type.transform(x.to(dtype), angle.to(dtype))
        if self.weighting == "mean":
            count = torch.zeros(num_coarse, dtype=dtype, device=x.device).index_add_(0, index, torch.ones_like(angle, dtype=dtype))
            weight = 1.0 / count.clamp(min=1)[index]
        elif weight is None:
            raise ValueError("weighting='area' needs the map's weight (pool{k}_weight).")
        out = torch.zeros(num_coarse, x.size(1), dtype=dtype, device=x.device)
        out = out.index_add(0, index, carried * weight.to(dtype)[:, None])
        return out.to(result_dtype(x))

    def extra_repr(self) -> str:
        return f"{self.in_type}, weighting={self.weighting!r}"


class ParallelTransportUnpool(nn.Module):
    r"""Coarse -> fine: every fine vertex takes its coarse vertex's feature, transported back.

    .. math::
        x_f = \rho(-angle_f) \, y_{index_f}

    Args:
        field_type: Type of the features (input and output; no parameters).

    Shapes:
        - y: ``[num_coarse, dim]``; index, angle: ``[V_fine]``
        - output: ``[V_fine, dim]``
    """

    def __init__(self, field_type: FieldType | str):
        super().__init__()
        self.in_type = self.out_type = FieldType(field_type)

    def forward(self, y: Tensor, index: Tensor, angle: Tensor) -> Tensor:
        self.in_type.check(y)
        _check_map(y, index, angle, type(self).__name__)
        # the angle in float32 at least: in bfloat16 it would be off by up to 1e-2 rad
        dtype = working_dtype(y)
        return self.in_type.transform(y.index_select(0, index).to(dtype), -angle.to(dtype)).to(result_dtype(y))

    def extra_repr(self) -> str:
        return str(self.in_type)
