"""The fused forward and backward pass of :class:`~gaugemesh.nn.GemConv`.

One autograd node per layer instead of one per small product: the layer is a sum of
``[V, Q 2C] @ [Q 2C, D_m]`` products of sparse aggregates (:mod:`gaugemesh.nn.conv_operators`)
and of the input itself, and recording each, with its slices and reshapes, cost more than the
arithmetic on a 2-core CPU. The backward pass is written out by hand from the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from gaugemesh.nn.conv_operators import EdgeOperator
from gaugemesh.nn.conv_terms import ConvTerms, OperatorTerms
from gaugemesh.nn.precision import without_autocast
from gaugemesh.so2 import FieldType, irrep_dim

__all__ = ["ConvPlan", "GemConvFunction"]


@dataclass(frozen=True)
class DenseBlock:
    """A ``[rows, cols]`` matrix at ``offset`` of the flat weight, writing output order
    ``out_order``; a block of neighbour terms reads aggregate columns ``[start, start + rows)``."""

    out_order: int
    offset: int
    rows: int
    cols: int
    start: int = 0

    def of(self, weight: Tensor) -> Tensor:
        return weight[self.offset : self.offset + self.rows * self.cols].view(self.rows, self.cols)

    def columns(self, aggregate: Tensor) -> Tensor:
        return aggregate[:, self.start : self.start + self.rows]


@dataclass(frozen=True)
class ConvPlan:
    """Where every part of a GemConv lives, for input and output in sorted layout (orders
    ascending, one block each), read from its :class:`~gaugemesh.nn.conv_terms.ConvTerms`.

    Attributes:
        in_ranges, out_ranges: ``order -> (start, stop)`` columns of the sorted layouts.
        stacked: ``order -> OperatorTerms``, the terms the operator of that input order must
            stack (checked against the operators at every call).
        terms: ``order -> Q``, the number of stacked terms of that input order's operator.
        groups: ``order -> blocks``, one per output order in stacked-row order: the terms of
            one ``(n, m)`` are consecutive, both as aggregate columns and in the flat weight,
            so their ``[2 C_n, D_m]`` matrices stack into one ``[Q_nm 2 C_n, D_m]`` block.
        self_blocks: ``order -> block`` of the self-interaction (orders in and out), after
            the neighbour terms in the flat weight.
        weight_size: Length of the flat weight.
    """

    in_ranges: dict[int, tuple[int, int]]
    out_ranges: dict[int, tuple[int, int]]
    stacked: dict[int, OperatorTerms]
    terms: dict[int, int]
    groups: dict[int, tuple[DenseBlock, ...]]
    self_blocks: dict[int, DenseBlock]
    weight_size: int

    def multiplicity(self, order: int) -> int:
        """Input fields of ``order``."""
        start, stop = self.in_ranges[order]
        return (stop - start) // irrep_dim(order)

    @classmethod
    def build(cls, terms: ConvTerms, self_orders) -> ConvPlan:
        """The plan of the neighbour ``terms`` followed by the self-interaction blocks of ``self_orders``."""
        in_type, out_type = terms.in_type, terms.out_type
        groups = {n: tuple(_group_block(group) for group in terms.groups(n)) for n in in_type.orders}
        offset, self_blocks = terms.weight_size, {}
        for n in self_orders:
            rows = in_type.multiplicity(n) * irrep_dim(n)
            cols = out_type.multiplicity(n) * irrep_dim(n)
            self_blocks[n] = DenseBlock(n, offset, rows, cols)
            offset += rows * cols
        stacked = {s.order: s for s in terms.operators}
        counts = {n: s.count for n, s in stacked.items()}
        return cls(_ranges(in_type), _ranges(out_type), stacked, counts, groups, self_blocks, offset)

    def check(self, operators: dict[int, EdgeOperator]) -> None:
        """Refuse operators that stack other terms, or in another order, than this plan's."""
        for n, expected in self.stacked.items():
            got = operators[n].stacked if n in operators else None
            if got is not expected and got != expected:
                raise ValueError(f"The operator of input order {n} stacks {got}, the layer's terms are {expected}: "
                                 "build the operators from the layer's ConvTerms.operators.")


def _group_block(group) -> DenseBlock:
    """The one block of consecutive terms that share ``(n, m)``: their weights one after
    another from the first's offset, their aggregates from the first's row on."""
    first = group[0]
    return DenseBlock(first.out_order, first.offset, len(group) * first.rows, first.cols, first.row * first.rows)


def _ranges(field_type: FieldType) -> dict[int, tuple[int, int]]:
    return {n: (span.start, span.stop) for n, span in field_type.slices().items()}


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
    """``out = sum_n (A_n x_n) W_n + x_n S_n + b`` in sorted layouts.

    Inputs: ``x`` ``[V, D_in]``, the flat ``weight``, ``bias`` ``[C_0 out]`` or ``None``, the
    :class:`ConvPlan` and ``{order: EdgeOperator}``. The aggregates ``A_n x_n`` ``[V, Q 2 C]``
    are kept for the weight gradient.

    Every product writes straight into its destination (``addmm`` with ``beta = 0`` or
    ``out=``): on CPU, ``A @ x`` with a CSR ``A`` allocates, zero-fills and copies its
    result, which took 4-9 times as long as the product itself at 10k vertices, and fresh
    zero-filled buffers cost page faults on top. Those buffers are why both passes run with
    autocast off, in the dtype of ``x`` (:mod:`gaugemesh.nn.precision`).
    """

    @staticmethod
    @without_autocast
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, plan: ConvPlan, operators: dict[int, EdgeOperator]):
        plan.check(operators)
        v = x.size(0)
        out = x.new_empty(v, sum(stop - start for start, stop in plan.out_ranges.values()))
        columns = {m: out[:, start:stop] for m, (start, stop) in plan.out_ranges.items()}
        written: set[int] = set()

        def accumulate(m: int, a: Tensor, b: Tensor) -> None:
            columns[m].addmm_(a, b, beta=1 if m in written else 0)
            written.add(m)

        aggregates = []
        for n, (start, stop) in plan.in_ranges.items():
            x_n = x[:, start:stop]
            source = x_n.contiguous() if n == 0 else _pair_input(x_n)
            aggregate = x.new_empty(v, plan.terms[n] * 2 * plan.multiplicity(n))
            _sparse_into(aggregate, operators[n].matrix, source)
            for block in plan.groups[n]:
                accumulate(block.out_order, block.columns(aggregate), block.of(weight))
            if n in plan.self_blocks:
                accumulate(n, x_n, plan.self_blocks[n].of(weight))
            aggregates.append(aggregate)
            del source, aggregate  # before the next order's buffers are allocated
        for m in plan.out_ranges.keys() - written:  # only for an input type with no fields
            columns[m].zero_()
        if bias is not None:
            columns[0] += bias
        ctx.plan, ctx.operators, ctx.has_bias = plan, operators, bias is not None
        ctx.save_for_backward(x, weight, *aggregates)
        return out

    @staticmethod
    @once_differentiable
    @without_autocast
    def backward(ctx, grad_out: Tensor):
        x, weight, *aggregates = ctx.saved_tensors
        plan, operators = ctx.plan, ctx.operators
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grads = {m: grad_out[:, start:stop] for m, (start, stop) in plan.out_ranges.items()}
        grad_x = x.new_empty(x.shape) if need_x else None
        grad_w = weight.new_empty(weight.shape) if need_w else None  # every entry is one block's
        grad_b = grads[0].sum(0) if ctx.has_bias else None
        for (n, (start, stop)), aggregate in zip(plan.in_ranges.items(), aggregates):
            x_n = x[:, start:stop]
            if need_w:
                for block in plan.groups[n]:
                    torch.mm(block.columns(aggregate).t(), grads[block.out_order], out=block.of(grad_w))
            if need_x:
                # the gradient of the operator's input: [V, C] for order 0, [2V, 2C] ([u; i u]) above
                rows = x.size(0) if n == 0 else 2 * x.size(0)
                grad_source = x.new_empty(rows, stop - start)
                for index, (block, transpose) in enumerate(zip(plan.groups[n], operators[n].transposes)):
                    # one group's aggregate gradient at a time: [V, Q_g 2C], not [V, Q 2C]
                    grad_group = torch.mm(grads[block.out_order], block.of(weight).t())
                    _sparse_into(grad_source, transpose, grad_group, accumulate=index > 0)
                    del grad_group
                grad_x[:, start:stop] = grad_source if n == 0 else _pair_grad(grad_source)
                del grad_source  # before the next order's buffers are allocated
            if n in plan.self_blocks:
                block, g = plan.self_blocks[n], grads[n]
                if need_w:
                    torch.mm(x_n.t(), g, out=block.of(grad_w))
                if need_x:
                    grad_x[:, start:stop].addmm_(g, block.of(weight).t())
        return grad_x, grad_w, grad_b, None, None


def _sparse_into(out: Tensor, matrix: Tensor, dense: Tensor, accumulate: bool = False) -> None:
    """``out = matrix @ dense`` (``+=`` with ``accumulate``) in place, with both dense sides
    viewed as the rows the matrix reads and writes (the stacked terms of a vertex are
    consecutive rows)."""
    dense = dense.view(matrix.size(1), -1)
    rows = out.view(matrix.size(0), dense.size(1))
    torch.addmm(rows, matrix, dense, beta=1 if accumulate else 0, out=rows)
