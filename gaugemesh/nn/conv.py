"""GemConv: the gauge-equivariant mesh convolution (de Haan et al., ICLR 2021)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing

from gaugemesh.nn.kernel import NeighbourKernel
from gaugemesh.nn.linear import Linear
from gaugemesh.nn.operators import ConvGeometry, GeometryCache, SparseMatmul
from gaugemesh.so2 import FieldType

__all__ = ["GemConv"]


class GemConv(MessagePassing):
    r"""Gauge-equivariant convolution on a mesh graph.

    .. math::
        f'_i = K_{self} f_i + b + \sum_j w_{ij} \sum_r \phi_r(ij)\,
               \rho_{out}(\theta_{ij}) W_r \rho_{in}(g_{ij} - \theta_{ij}) f_j

    with ``W_r`` any real matrix (the general solution of the gauge constraint),
    ``K_self`` an equivariant :class:`~gaugemesh.nn.Linear` and ``b`` a bias on the
    order-0 outputs only. ``w_ij phi_r(ij)`` is ``edge_weight[:, r]`` (``[E]`` means
    ``R = 1``; default ``1 / deg(i)``).

    The sum over neighbours is never formed per edge and output channel: each input field
    is transported and modulated by ``exp(i k theta)`` for the few relative frequencies ``k``
    of :mod:`gaugemesh.nn.kernel` in one sparse product per input order (the operators depend
    on the geometry only and are cached in a :class:`~gaugemesh.nn.ConvGeometry`), and one
    dense matmul per vertex maps these aggregates to the output.

    Args:
        in_type: Input feature type.
        out_type: Output feature type.
        num_radial: ``R``, the number of radial weights per edge in ``edge_weight``.
        bias: Learn a bias on the order-0 outputs.
        gain: Scale of the initial weights, as in Kaiming init: the self term gets ``gain``,
            the neighbour term ``gain / 2`` (its mean over rotated neighbours is smaller
            than its input, or equal for smooth inputs). ``2`` suits a following ReLU-type
            nonlinearity; a 12-layer stack keeps unit order of magnitude (tested).

    Shapes:
        - x: ``[V, in_type.dim]``
        - edge_index: ``[2, E]`` (row 0 source ``j``, row 1 target ``i``)
        - theta, transport: ``[E]``
        - edge_weight: ``[E]`` or ``[E, R]``, optional
        - output: ``[V, out_type.dim]``

    Pass ``geometry=ConvGeometry.from_data(data)`` to share the sparse operators between
    layers; called with plain tensors, the layer keeps the operators of the last geometry
    it saw (matched by tensor identity and version, so in-place edits are noticed).
    Gradients flow to ``x`` and the parameters, not to the geometry.
    """

    def __init__(
        self,
        in_type: FieldType | str,
        out_type: FieldType | str,
        num_radial: int = 1,
        bias: bool = True,
        gain: float = 2.0,
    ):
        super().__init__(aggr="add")
        self.in_type, self.out_type = FieldType(in_type), FieldType(out_type)
        self.num_radial = num_radial
        self.neighbour = NeighbourKernel(self.in_type, self.out_type, num_radial, gain=gain / 2)
        self.self_interaction = Linear(self.in_type, self.out_type, bias=bias, gain=gain)
        self._cache = GeometryCache()

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor | None = None,
        theta: Tensor | None = None,
        transport: Tensor | None = None,
        edge_weight: Tensor | None = None,
        geometry: ConvGeometry | None = None,
    ) -> Tensor:
        self.in_type.check(x)
        if geometry is None:
            geometry = self._geometry(x, edge_index, theta, transport, edge_weight)
        if geometry.num_nodes != x.size(0):
            raise ValueError(f"x has {x.size(0)} vertices but the geometry has {geometry.num_nodes}.")
        if geometry.num_radial != self.num_radial:
            raise ValueError(f"edge_weight has {geometry.num_radial} radial weights per edge, layer expects {self.num_radial}.")
        parts = self.in_type.split(x)
        out = self.self_interaction.forward_orders(parts)
        for n, x_n in parts.items():
            aggregate = self._aggregate(x_n, n, geometry)
            # Each output order reads its own contiguous slice of the aggregates; one split
            # (its backward is one cat) rather than slices that each allocate a full gradient.
            sizes = [self.neighbour.slice(n, m).stop - self.neighbour.slice(n, m).start for m in self.out_type.orders]
            for m, a in zip(self.out_type.orders, aggregate.split(sizes, 1)):
                w = self.neighbour.block(n, m).to(x.dtype)
                out[m] = a @ w if out[m] is None else torch.addmm(out[m], a, w)
        return self.out_type.join(out)

    def _aggregate(self, x_n: Tensor, order: int, geometry: ConvGeometry) -> Tensor:
        """``B_k`` for the fields of ``order`` (``x_n`` ``[V, C d]``): ``[V, num_aggregates(order)]``,
        laid out ``[K, R, re/im, C]``."""
        freqs = self.neighbour.frequency_list[order]
        matrix, matrix_t = geometry.operator(order, freqs, x_n.dtype, x_n.device)
        v = x_n.size(0)
        if order > 0:  # rows (j, a/b), as the operator's columns
            x_n = x_n.reshape(v, -1, 2).transpose(1, 2).reshape(2 * v, -1)
        return self.propagate(matrix, x=x_n.contiguous(), matrix_t=matrix_t).view(v, -1)

    def message_and_aggregate(self, adj_t: Tensor, x: Tensor, matrix_t: Tensor) -> Tensor:
        return SparseMatmul.apply(x, adj_t, matrix_t)

    def message(self, x_j: Tensor) -> Tensor:
        raise NotImplementedError(
            "GemConv aggregates with its sparse operators only (message_and_aggregate); "
            "explain mode and edge-wise messages are not supported."
        )

    def _geometry(self, x, edge_index, theta, transport, edge_weight) -> ConvGeometry:
        if edge_index is None or theta is None or transport is None:
            raise ValueError("GemConv needs edge_index, theta and transport, or geometry=ConvGeometry(...).")
        return self._cache.get(edge_index, theta, transport, edge_weight, x.size(0))

    def kernel(self, theta: Tensor, transport: Tensor | None = None) -> Tensor:
        """The neighbour kernel ``[..., R, dim_out, dim_in]``; see :meth:`NeighbourKernel.kernel`."""
        return self.neighbour.kernel(theta, transport)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_type}, {self.out_type}, num_radial={self.num_radial})"

