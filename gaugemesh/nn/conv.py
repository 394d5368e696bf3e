"""GemConv: the gauge-equivariant mesh convolution (de Haan et al., ICLR 2021)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gaugemesh.nn.kernel import NeighbourKernel
from gaugemesh.nn.linear import Linear
from gaugemesh.nn.conv_function import ConvPlan, GemConvFunction
from gaugemesh.nn.conv_operators import ConvOperators, OperatorCache
from gaugemesh.nn.precision import result_dtype, working_dtype
from gaugemesh.so2 import FieldType

__all__ = ["GemConv"]


class GemConv(nn.Module):
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
    of :mod:`gaugemesh.nn.kernel`, all frequencies of one input order in one sparse product
    (the operators depend on the geometry only and are cached in a
    :class:`~gaugemesh.nn.ConvOperators`), and one small dense product per pair of input and
    output orders maps the aggregates to the output. The whole
    layer is one autograd node (:mod:`gaugemesh.nn.conv_function`).

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

    Pass ``operators=ConvOperators.from_data(data)`` to share the sparse operators between
    layers; called with plain tensors, the layer keeps the operators of the last geometry
    it saw (matched by tensor identity and version, so in-place edits are noticed).
    Gradients flow to ``x`` and the parameters, not to the geometry.

    A plain ``nn.Module`` with PyG's conventions (the call signature, ``reset_parameters``,
    ``__repr__``), not a ``MessagePassing``: the sum over neighbours is never formed per edge,
    so ``propagate``, ``message`` and explain mode would have nothing to act on.
    """

    def __init__(
        self,
        in_type: FieldType | str,
        out_type: FieldType | str,
        num_radial: int = 1,
        bias: bool = True,
        gain: float = 2.0,
    ):
        super().__init__()
        self.in_type, self.out_type = FieldType(in_type), FieldType(out_type)
        self.num_radial = num_radial
        self.neighbour = NeighbourKernel(self.in_type, self.out_type, num_radial, gain=gain / 2)
        self.self_interaction = Linear(self.in_type, self.out_type, bias=bias, gain=gain)
        self.register_buffer("_weight_index", torch.zeros(0, dtype=torch.long), persistent=False)
        self.register_buffer("_weight_sign", torch.zeros(0), persistent=False)
        self._plan_terms()
        # The fused function works in sorted layouts; other layouts are permuted around it
        # (empty permutations: the layout is sorted already).
        in_perm = self.in_type.sorted()[1] if not self.in_type.is_sorted else torch.zeros(0, dtype=torch.long)
        out_perm = self.out_type.sorted()[1] if not self.out_type.is_sorted else torch.zeros(0, dtype=torch.long)
        self.register_buffer("_in_order", in_perm, persistent=False)
        self.register_buffer("_out_unorder", torch.argsort(out_perm), persistent=False)
        self._cache = OperatorCache()

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor | None = None,
        theta: Tensor | None = None,
        transport: Tensor | None = None,
        edge_weight: Tensor | None = None,
        operators: ConvOperators | None = None,
    ) -> Tensor:
        self.in_type.check(x)
        if operators is None:
            operators = self._operators(x, edge_index, theta, transport, edge_weight)
        if operators.num_nodes != x.size(0):
            raise ValueError(f"x has {x.size(0)} vertices but the operators have {operators.num_nodes}.")
        if operators.num_radial != self.num_radial:
            raise ValueError(f"edge_weight has {operators.num_radial} radial weights per edge, layer expects {self.num_radial}.")
        # float32 at least, under autocast too: see gaugemesh.nn.precision
        dtype, out_dtype = working_dtype(x), result_dtype(x)
        if x.size(0) == 0:  # an empty graph (a batch of nothing): no operator to build
            return x.new_zeros(0, self.out_type.dim, dtype=out_dtype)
        stacked = operators.edge_operators(self.neighbour.terms.operators, dtype, x.device)
        x = x.to(dtype)
        if self._in_order.numel():
            x = x.index_select(1, self._in_order)  # not x[:, order]: see classify_hypercolumn
        bias = self.self_interaction.bias
        out = _apply(x, self.weight().to(dtype), None if bias is None else bias.to(dtype), self.plan, stacked)
        out = out.index_select(1, self._out_unorder) if self._out_unorder.numel() else out
        return out.to(out_dtype)

    def _plan_terms(self) -> None:
        """The plan and the weight gather, both read from ``self.neighbour.terms``: the order of
        the stacked terms is decided there alone (:mod:`gaugemesh.nn.conv_terms`)."""
        self.plan = ConvPlan.build(self.neighbour.terms, self.self_interaction.orders)
        index, sign = self._weight_gather()
        self._weight_index = index.to(self._weight_index.device)
        self._weight_sign = sign.to(self._weight_sign.device)

    def weight(self) -> Tensor:
        """Every dense matrix of the layer, flat, in the order of :attr:`plan` (one gather)."""
        flat = torch.cat([p.reshape(-1) for p in self._parameters_in_order()])
        return flat[self._weight_index] * self._weight_sign

    def _parameters_in_order(self) -> list[Tensor]:
        return list(self.neighbour.weights.values()) + list(self.self_interaction.weights.values())

    def _weight_gather(self) -> tuple[Tensor, Tensor]:
        """Which parameter, and with which sign, each entry of :meth:`weight` is: the blocks
        are built once from parameters replaced by their (1-based) positions, each written
        where its term (or self block) says."""
        params = self._parameters_in_order()
        sizes = [p.numel() for p in params]
        tags = [t.view_as(p) for t, p in zip(torch.arange(1, sum(sizes) + 1, dtype=torch.float64).split(sizes), params)]
        names = len(self.neighbour.weights)
        kernel_tags = dict(zip(self.neighbour.weights.keys(), tags[:names]))
        self_tags = dict(zip(self.self_interaction.weights.keys(), tags[names:]))
        flat = torch.full((self.plan.weight_size,), float("nan"), dtype=torch.float64)
        for term in self.neighbour.terms.terms:
            flat[term.offset : term.offset + term.size] = self.neighbour.term_weight(term, kernel_tags).reshape(-1)
        for n, block in self.plan.self_blocks.items():
            flat[block.offset : block.offset + block.rows * block.cols] = self.self_interaction.order_block(n, self_tags).reshape(-1)
        if flat.isnan().any():  # ConvTerms checks its layout; this is the self blocks' share
            raise AssertionError("GemConv's flat weight has entries no block fills.")
        return (flat.abs() - 1).clamp(min=0).long(), flat.sign().float()

    def reset_parameters(self) -> None:
        """Draw the neighbour and self-interaction weights again and zero the bias, as at construction."""
        self.neighbour.reset_parameters()
        self.self_interaction.reset_parameters()

    def _operators(self, x, edge_index, theta, transport, edge_weight) -> ConvOperators:
        if edge_index is None or theta is None or transport is None:
            raise ValueError("GemConv needs edge_index, theta and transport, or operators=ConvOperators(...).")
        return self._cache.get(edge_index, theta, transport, edge_weight, x.size(0))

    def kernel(self, theta: Tensor, transport: Tensor | None = None) -> Tensor:
        """The neighbour kernel ``[..., R, dim_out, dim_in]``; see :meth:`NeighbourKernel.kernel`."""
        return self.neighbour.kernel(theta, transport)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_type}, {self.out_type}, num_radial={self.num_radial})"


@torch.compiler.disable
def _apply(x, weight, bias, plan, operators) -> Tensor:
    # Sparse CSR products do not trace; torch.compile breaks the graph here and runs this eagerly.
    return GemConvFunction.apply(x, weight, bias, plan, operators)
