"""O2GemConv: the gauge-equivariant mesh convolution for the structure group O(2).

It is an SO(2) :class:`~gaugemesh.nn.GemConv` in two respects changed:

* its parameters are masked to the reflection-symmetric subspace
  (:func:`~gaugemesh.nn.o2_kernel.o2_parameter_masks`), so that ``W`` commutes with the
  reflection, ``K_self`` commutes with all of O(2), and biases sit on trivial (``0``) outputs;
* the transporter of an edge may reflect: ``rho_in(R(g) F) f_j = rho_in(R(g)) (rho_in(F) f_j)``,
  so the edges that reflect are aggregated from the reflected input ``rho_in(F) x`` with the
  very same kernel, and the two sums added.

The SO(2) layer runs unchanged, through its public call with the masked parameters
substituted (``torch.func.functional_call``); its fused forward and backward serve both sums.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.func import functional_call

from gaugemesh.nn.conv import GemConv
from gaugemesh.nn.conv_operators import ConvOperators
from gaugemesh.nn.o2_kernel import kernel_with, o2_parameter_masks
from gaugemesh.o2 import O2FieldType

__all__ = ["O2ConvOperators", "O2GemConv"]


class O2ConvOperators:
    """The connection of a mesh (or batch) with reflections, split for the SO(2) machinery.

    Args:
        edge_index: ``[2, E]``, row 0 source ``j``, row 1 target ``i``.
        theta, transport: ``[E]`` angles.
        reflection: ``[E]`` bool, the transporters that reflect.
        edge_weight: ``[E]`` or ``[E, R]``; defaults to ``1 / in-degree`` over *all* edges.
        num_nodes: Number of vertices; defaults to ``edge_index.max() + 1``.

    Attributes:
        rotations: :class:`~gaugemesh.nn.ConvOperators` of the edges that do not reflect.
        reflections: The same for the edges that do, or ``None`` when none does.
    """

    def __init__(self, edge_index: Tensor, theta: Tensor, transport: Tensor, reflection: Tensor,
                 edge_weight: Tensor | None = None, num_nodes: int | None = None):
        if reflection is None or reflection.shape != theta.shape:
            raise ValueError(f"reflection must be a bool tensor [E] beside theta {tuple(theta.shape)} "
                             "(mesh_to_data(..., structure_group='O2') writes it).")
        if num_nodes is None:
            num_nodes = int(edge_index.max()) + 1 if edge_index.numel() else 0
        if edge_weight is None:  # the mean over all neighbours, whichever way they transport
            target = edge_index[1]
            edge_weight = 1.0 / torch.bincount(target, minlength=num_nodes).clamp(min=1)[target].to(theta.dtype)
        self.num_nodes = int(num_nodes)
        flips = reflection.to(torch.bool)
        keep = ~flips
        self.rotations = ConvOperators(edge_index[:, keep], theta[keep], transport[keep], edge_weight[keep], num_nodes)
        self.reflections = None
        if bool(flips.any()):
            self.reflections = ConvOperators(edge_index[:, flips], theta[flips], transport[flips], edge_weight[flips],
                                            num_nodes)

    @classmethod
    def from_data(cls, data) -> O2ConvOperators:
        """From a PyG ``Data``/``Batch`` of :func:`~gaugemesh.mesh_to_data` with ``structure_group="O2"``."""
        return cls(data.edge_index, data.theta, data.transport, getattr(data, "reflection", None),
                   getattr(data, "edge_weight", None), data.num_nodes)


class O2GemConv(nn.Module):
    r"""Gauge-equivariant convolution for O(2) feature types, on any mesh (orientable or not).

    .. math::
        f'_i = K_{self} f_i + b + \sum_j w_{ij} \sum_r \phi_r(ij)\,
               \rho_{out}(\theta_{ij}) W_r \rho_{in}(g_{ij} - \theta_{ij}) \rho_{in}(F)^{s_{ij}} f_j

    with ``s_ij = reflection[e]``, ``W_r`` any real matrix with ``W_r rho_in(F) = rho_out(F) W_r``
    (the general solution of the O(2) kernel constraint), ``K_self`` commuting with all of O(2),
    and ``b`` a bias on the trivial (``0``) outputs.

    Args:
        in_type, out_type: :class:`~gaugemesh.o2.O2FieldType` (or strings).
        num_radial: ``R``, radial weights per edge in ``edge_weight``.
        bias: Learn a bias on the trivial outputs.
        gain: Initial scale, as for :class:`~gaugemesh.nn.GemConv`.

    Shapes:
        - x: ``[V, in_type.dim]``
        - edge_index: ``[2, E]``; theta, transport: ``[E]``; reflection: ``[E]`` bool
        - edge_weight: ``[E]`` or ``[E, R]``, optional
        - output: ``[V, out_type.dim]``

    Pass ``operators=O2ConvOperators.from_data(data)`` to share the split and the sparse operators
    between layers; called with plain tensors, the layer splits the edges on every call.
    """

    def __init__(self, in_type: O2FieldType | str, out_type: O2FieldType | str, num_radial: int = 1,
                 bias: bool = True, gain: float = 2.0):
        super().__init__()
        self.in_type, self.out_type = O2FieldType(in_type), O2FieldType(out_type)
        self.num_radial = num_radial
        self.so2 = GemConv(self.in_type.so2, self.out_type.so2, num_radial=num_radial, bias=bias, gain=gain)
        self._mask_names = {}
        for k, (name, mask) in enumerate(o2_parameter_masks(self.so2, self.in_type, self.out_type).items()):
            self.register_buffer(f"_mask{k}", mask, persistent=False)
            self._mask_names[name] = f"_mask{k}"
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The SO(2) initialisation, masked, with the kept entries scaled to keep its variance."""
        self.so2.reset_parameters()
        for name, p in self.so2.named_parameters():
            mask = self._mask(name)
            kept = float(mask.sum())
            p.mul_(mask * (math.sqrt(mask.numel() / kept) if kept and not name.endswith("bias") else 1.0))

    def _mask(self, name: str) -> Tensor:
        return getattr(self, self._mask_names[name])

    def parameters_o2(self, self_term: bool = True) -> dict[str, Tensor]:
        """The SO(2) layer's parameters, masked to the O(2) subspace (``self_term=False``: the
        self-interaction and bias zeroed, for the sum over reflecting edges)."""
        out = {}
        for name, p in self.so2.named_parameters():
            masked = p * self._mask(name).to(p.dtype)
            out[name] = masked if self_term or name.startswith("neighbour.") else torch.zeros_like(masked)
        return out

    def forward(self, x: Tensor, edge_index: Tensor | None = None, theta: Tensor | None = None,
                transport: Tensor | None = None, reflection: Tensor | None = None,
                edge_weight: Tensor | None = None, operators: O2ConvOperators | None = None) -> Tensor:
        self.in_type.check(x)
        if operators is None:
            if edge_index is None or theta is None or transport is None:
                raise ValueError("O2GemConv needs edge_index, theta, transport and reflection, or operators=O2ConvOperators(...).")
            operators = O2ConvOperators(edge_index, theta, transport, reflection, edge_weight, x.size(0))
        out = functional_call(self.so2, self.parameters_o2(), (x,), {"operators": operators.rotations})
        if operators.reflections is not None:
            reflected = self.in_type.reflect(x)
            out = out + functional_call(self.so2, self.parameters_o2(self_term=False), (reflected,),
                                        {"operators": operators.reflections})
        return out

    def kernel(self, theta: Tensor, transport: Tensor | None = None) -> Tensor:
        """The neighbour kernel ``[..., R, dim_out, dim_in]`` for a rotation transport ``g``
        (``rho_out(theta) W rho_in(g - theta)``); a reflecting edge applies it to ``rho_in(F) f_j``."""
        weights = {k.split(".", 1)[1]: v for k, v in self.parameters_o2().items() if k.startswith("neighbour.")}
        return kernel_with(self.so2.neighbour, weights, theta, transport)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_type}, {self.out_type}, num_radial={self.num_radial})"
