"""The O(2) kernel constraint, solved as a subspace of the SO(2) solution.

The SO(2) neighbour kernel is ``K(theta) = rho_out(theta) W rho_in(-theta)`` with any ``W``
(:mod:`gaugemesh.nn.kernel`). Asking also ``K(-theta) = rho_out(F) K(theta) rho_in(F)`` for the
reflection ``F`` leaves exactly the ``W`` that commute with it, ``W rho_in(F) = rho_out(F) W``
(``docs/conventions.md``). The SO(2) parameters are coordinates in which ``F`` acts diagonally:
every one of them spans a ``W`` that the reflection either keeps or negates (``c`` and ``d`` of
``c u + d conj(u)`` real or imaginary, and so on). The O(2) solution is therefore the SO(2)
parametrisation with the negated coordinates masked out: a mask per parameter, 1 where it
spans a reflection-symmetric ``W``.

The masks are not written down from the SO(2) code's layout; they are *measured*: for every
pair of irreps a one-copy SO(2) kernel (and self-interaction) is built, each coordinate set
alone, and the ``W`` it spans tested against ``F``. A coordinate that is neither kept nor
negated would mean the SO(2) parametrisation is not diagonal in ``F``; that raises.

Dimensions per pair of irreps (``R = 1``), those of escnn's O(2) kernels on the plane for one
radius (``R2FlipsContinuousRotationsSolution``): ``n -> m`` (both ``>= 1``): 2; ``0`` or ``0-`` to
``m >= 1`` and back: 1; ``0 -> 0`` and ``0- -> 0-``: 1; ``0 <-> 0-``: 0. Half of SO(2)'s, except
between scalars.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor, nn
from torch.func import functional_call

from gaugemesh.nn.kernel import NeighbourKernel
from gaugemesh.nn.linear import Linear
from gaugemesh.o2 import O2FieldType, O2Irrep
from gaugemesh.so2 import FieldType

__all__ = ["kernel_with", "o2_parameter_masks"]


def _flip(irrep: O2Irrep) -> Tensor:
    return O2FieldType([(1, irrep)]).rho(torch.tensor(0.0, dtype=torch.float64), True)


def _symmetric_coordinates(module: nn.Module, name: str, matrix, flip_in: Tensor, flip_out: Tensor) -> Tensor:
    """For each coordinate of parameter ``name`` alone, whether the matrix it spans commutes
    with the reflection (``True``) or anticommutes (``False``)."""
    shape = dict(module.named_parameters())[name].shape
    kept = torch.zeros(shape.numel(), dtype=torch.bool)
    for k in range(shape.numel()):
        one = torch.zeros(shape.numel(), dtype=torch.float64)
        one[k] = 1.0
        w = matrix(functional_call(module, {name: one.view(shape)}, ()))
        reflected = flip_out @ w @ flip_in
        if torch.allclose(reflected, w, atol=1e-12):
            kept[k] = True
        elif not torch.allclose(reflected, -w, atol=1e-12):
            raise AssertionError(f"SO(2) coordinate {k} of {name} is not diagonal in the reflection.")
    return kept.view(shape)


class _KernelCall(nn.Module):
    """``NeighbourKernel.kernel`` as a module call, so that ``functional_call`` can substitute weights."""

    def __init__(self, kernel: NeighbourKernel):
        super().__init__()
        self.kernel = kernel

    def forward(self, theta: Tensor, transport: Tensor | None = None) -> Tensor:
        return self.kernel.kernel(theta, transport)


def kernel_with(kernel: NeighbourKernel, weights: dict[str, Tensor], theta: Tensor, transport: Tensor | None = None) -> Tensor:
    """``kernel.kernel(theta, transport)`` with its parameters replaced by ``weights`` (named
    as in ``kernel.named_parameters()``): ``[..., R, dim_out, dim_in]``."""
    return functional_call(_KernelCall(kernel), {f"kernel.{k}": v for k, v in weights.items()}, (theta, transport))


class _KernelAtZero(nn.Module):
    """``W = K(0)`` of a one-copy neighbour kernel, as a call without arguments."""

    def __init__(self, kernel: NeighbourKernel):
        super().__init__()
        self.kernel = kernel

    def forward(self) -> Tensor:
        return self.kernel.kernel(torch.zeros((), dtype=torch.float64))[0]


class _SelfMatrix(nn.Module):
    """The self-interaction matrix ``[dim_out, dim_in]`` of a one-copy linear map."""

    def __init__(self, linear: Linear):
        super().__init__()
        self.linear = linear

    def forward(self) -> Tensor:
        return self.linear.matrix().t()


@lru_cache(maxsize=None)
def _neighbour_table(irrep_in: O2Irrep, irrep_out: O2Irrep) -> Tensor:
    """``[parts]`` bool: the symmetric coordinates of the one-copy block ``in -> out``."""
    kernel = NeighbourKernel(FieldType([(1, irrep_in.order)]), FieldType([(1, irrep_out.order)])).double()
    (name,) = [n for n, _ in _KernelAtZero(kernel).named_parameters()]
    kept = _symmetric_coordinates(_KernelAtZero(kernel), name, lambda w: w, _flip(irrep_in), _flip(irrep_out))
    return kept[0, 0, 0]


@lru_cache(maxsize=None)
def _self_table(irrep_in: O2Irrep, irrep_out: O2Irrep) -> Tensor:
    """Symmetric coordinates of the one-copy self-interaction ``in -> out`` (same order)."""
    linear = Linear(FieldType([(1, irrep_in.order)]), FieldType([(1, irrep_out.order)]), bias=False).double()
    module = _SelfMatrix(linear)
    (name,) = [n for n, _ in module.named_parameters()]
    return _symmetric_coordinates(module, name, lambda w: w, _flip(irrep_in), _flip(irrep_out))[0, 0]


def _by_order(field_type: O2FieldType) -> dict[int, list[O2Irrep]]:
    """The O(2) irrep of every copy of each SO(2) order, in the SO(2) parameters' order."""
    out: dict[int, list[O2Irrep]] = {}
    for irrep in field_type.irreps:
        out.setdefault(irrep.order, []).append(irrep)
    return out


def o2_parameter_masks(conv: nn.Module, in_type: O2FieldType, out_type: O2FieldType) -> dict[str, Tensor]:
    """The mask of every parameter of an SO(2) :class:`~gaugemesh.nn.GemConv` of types
    ``in_type.so2 -> out_type.so2`` that leaves exactly the O(2)-equivariant layer.

    Returns:
        ``{parameter name: float mask of its shape}`` (``1`` kept, ``0`` removed).
    """
    ins, outs = _by_order(in_type), _by_order(out_type)
    masks = {}
    for name, p in conv.named_parameters():
        kind, leaf = name.split(".", 1)
        if kind == "neighbour":
            n, m = (int(v) for v in leaf.rsplit(".", 1)[-1].split("_"))
            table = torch.stack([torch.stack([_neighbour_table(a, b) for a in ins[n]]) for b in outs[m]])
            mask = table[None].expand(p.shape)  # [R, C_out, C_in, parts]
        elif leaf == "bias":
            mask = torch.tensor([not r.odd for r in outs[0]])
        else:
            n = int(leaf.rsplit(".", 1)[-1])
            table = torch.stack([torch.stack([_self_table(a, b) for a in ins[n]]) for b in outs[n]])
            mask = table.view(p.shape)
        masks[name] = mask.to(p.dtype)
    return masks
