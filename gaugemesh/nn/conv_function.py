"""The fused forward and backward pass of :class:`~gaugemesh.nn.GemConv`.

One autograd node per layer instead of one per small product: the layer is a sum of many
``[V, 2C] @ [2C, D_m]`` products of sparse aggregates (:mod:`gaugemesh.nn.operators`) and
of the input itself, and recording each, with its slices and reshapes, cost more than the
arithmetic on a 2-core CPU. The backward pass is written out by hand from the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from gaugemesh.nn.kernel import NeighbourKernel
from gaugemesh.nn.operators import EdgeOperator
from gaugemesh.so2 import FieldType, irrep_dim

__all__ = ["ConvPlan", "GemConvFunction"]


@dataclass(frozen=True)
class DenseBlock:
    """A ``[rows, cols]`` matrix at ``offset`` of the flat weight, writing output order ``out_order``."""

    out_order: int
    offset: int
    rows: int
    cols: int

    def of(self, weight: Tensor) -> Tensor:
        return weight[self.offset : self.offset + self.rows * self.cols].view(self.rows, self.cols)


@dataclass(frozen=True)
class ConvPlan:
    """Where every part of a GemConv lives, for input and output in sorted layout (orders
    ascending, one block each).

    Attributes:
        in_ranges, out_ranges: ``order -> (start, stop)`` columns of the sorted layouts.
        pieces: ``order -> blocks``, one per operator of that input order (same order as
            :meth:`ConvGeometry.operators` and :attr:`NeighbourKernel.pieces`).
        self_blocks: ``order -> block`` of the self-interaction (orders in and out).
        weight_size: Length of the flat weight.
    """

    in_ranges: dict[int, tuple[int, int]]
    out_ranges: dict[int, tuple[int, int]]
    pieces: dict[int, tuple[DenseBlock, ...]]
    self_blocks: dict[int, DenseBlock]
    weight_size: int

    def multiplicity(self, order: int) -> int:
        """Input fields of ``order``."""
        start, stop = self.in_ranges[order]
        return (stop - start) // irrep_dim(order)

    @classmethod
    def build(cls, kernel: NeighbourKernel, self_orders) -> ConvPlan:
        in_type, out_type = kernel.in_type, kernel.out_type
        in_ranges, out_ranges = _ranges(in_type), _ranges(out_type)
        offset, pieces = 0, {n: [] for n in in_type.orders}
        for piece in kernel.pieces:
            rows = 2 * in_type.multiplicity(piece.in_order)
            cols = out_type.multiplicity(piece.out_order) * irrep_dim(piece.out_order)
            pieces[piece.in_order].append(DenseBlock(piece.out_order, offset, rows, cols))
            offset += rows * cols
        self_blocks = {}
        for n in self_orders:
            rows = in_type.multiplicity(n) * irrep_dim(n)
            cols = out_type.multiplicity(n) * irrep_dim(n)
            self_blocks[n] = DenseBlock(n, offset, rows, cols)
            offset += rows * cols
        return cls(in_ranges, out_ranges, {n: tuple(p) for n, p in pieces.items()}, self_blocks, offset)


def _ranges(field_type: FieldType) -> dict[int, tuple[int, int]]:
    ranges, start = {}, 0
    for n in field_type.orders:
        stop = start + field_type.multiplicity(n) * irrep_dim(n)
        ranges[n], start = (start, stop), stop
    return ranges


def _pair_input(x_n: Tensor) -> Tensor:
    """``[u; i u]`` as ``[2V, 2C]`` (rows ``(j, 0/1)``) from the pairs ``u`` ``[V, 2C]``."""
    v, width = x_n.shape
    u = x_n.view(v, width // 2, 2) if x_n.is_contiguous() else x_n.reshape(v, width // 2, 2)
    out = x_n.new_empty(v, 2, width // 2, 2)
    out[:, 0] = u
    out[:, 1, :, 0] = -u[..., 1]
    out[:, 1, :, 1] = u[..., 0]
    return out.view(2 * v, width)


def _pair_grad(grad: Tensor) -> Tensor:
    """The adjoint of :func:`_pair_input`: ``[V, 2C]`` from ``[2V, 2C]``."""
    v2, width = grad.shape
    g = grad.view(v2 // 2, 2, width // 2, 2)
    out = g[:, 0].clone()
    out[..., 0] += g[:, 1, :, 1]
    out[..., 1] -= g[:, 1, :, 0]
    return out.view(v2 // 2, width)


class GemConvFunction(torch.autograd.Function):
    """``out = sum_pieces (A_q x_n) W_q + sum_n x_n S_n + b`` in sorted layouts.

    Inputs: ``x`` ``[V, D_in]``, the flat ``weight``, ``bias`` ``[C_0 out]`` or ``None``, the
    :class:`ConvPlan` and ``{order: [EdgeOperator]}``. The aggregates ``A_q x_n`` are kept
    for the weight gradient.

    Every sparse product writes into a buffer allocated once (``addmm_``): on CPU, ``A @ x``
    with a CSR ``A`` allocates, zero-fills and copies its result, which took 4-9 times as
    long as the product itself at 10k vertices.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, plan: ConvPlan, operators: dict[int, list[EdgeOperator]]):
        v = x.size(0)
        acc = {m: x.new_zeros(v, stop - start) for m, (start, stop) in plan.out_ranges.items()}
        if bias is not None:
            acc[0] += bias
        aggregates = []
        for n, (start, stop) in plan.in_ranges.items():
            x_n = x[:, start:stop]
            source = x_n.contiguous() if n == 0 else _pair_input(x_n)
            blocks = plan.pieces[n]
            aggregate = x.new_zeros(len(blocks), v, 2 * plan.multiplicity(n))  # [pieces, V, 2C]
            for block, op, agg in zip(blocks, operators[n], aggregate):
                agg.view(-1, source.size(1)).addmm_(op.matrix, source)
                acc[block.out_order].addmm_(agg, block.of(weight))
            if n in plan.self_blocks:
                block = plan.self_blocks[n]
                acc[n].addmm_(x_n, block.of(weight))
            aggregates.append(aggregate)
        ctx.plan, ctx.operators, ctx.has_bias = plan, operators, bias is not None
        ctx.save_for_backward(x, weight, *aggregates)
        return torch.cat([acc[m] for m in plan.out_ranges], 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        x, weight, *aggregates = ctx.saved_tensors
        plan, operators = ctx.plan, ctx.operators
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        # contiguous once per order rather than once in every product that reads it
        grads = {m: grad_out[:, start:stop].contiguous() for m, (start, stop) in plan.out_ranges.items()}
        grad_x = x.new_zeros(x.shape) if need_x else None
        grad_w = torch.zeros_like(weight) if need_w else None
        grad_b = grads[0].sum(0) if ctx.has_bias else None
        for (n, (start, stop)), aggregate in zip(plan.in_ranges.items(), aggregates):
            v, width = x.size(0), stop - start
            # the gradient of the operator's input: [V, C] for order 0, [2V, 2C] ([u; i u]) above
            grad_source = x.new_zeros(v if n == 0 else 2 * v, width)
            grad_aggregate = x.new_empty(aggregate.shape[1:])
            for block, op, agg in zip(plan.pieces[n], operators[n], aggregate):
                g = grads[block.out_order]
                if need_w:
                    torch.mm(agg.t(), g, out=block.of(grad_w))
                if need_x:
                    torch.mm(g, block.of(weight).t(), out=grad_aggregate)
                    grad_source.addmm_(op.matrix_t, grad_aggregate.view(-1, grad_source.size(1)))
            if need_x:
                grad_x[:, start:stop] = grad_source if n == 0 else _pair_grad(grad_source)
            if n in plan.self_blocks:
                block, g, x_n = plan.self_blocks[n], grads[n], x[:, start:stop]
                if need_w:
                    torch.mm(x_n.t(), g, out=block.of(grad_w))
                if need_x:
                    grad_x[:, start:stop].addmm_(g, block.of(weight).t())
        return grad_x, grad_w, grad_b, None, None
