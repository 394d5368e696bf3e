"""Gauge-equivariant batch normalisation."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from gaugemesh.nn.precision import result_dtype, without_autocast, working_dtype
from gaugemesh.so2 import FieldType

__all__ = ["BatchNorm"]


class BatchNorm(nn.Module):
    """Batch norm over all vertices of the batch, per field.

    Order-0 fields are normalised as usual (mean, variance, affine weight and bias). A field
    of order ``n >= 1`` is divided by the root of its mean squared norm per component,
    ``sqrt(E|f|^2 / 2 + eps)``, and scaled by a learned weight: no mean is subtracted and no
    bias added, because a mean or bias vector picks a direction, which depends on the gauge.
    All statistics are gauge invariant, so the layer is equivariant in train and eval mode.
    A PyG ``Batch`` is normalised over all its vertices, like ``torch_geometric.nn.BatchNorm``.

    Args:
        in_type: Feature type (the output type is the same).
        eps: Added to the variances.
        momentum: Weight of the batch in the running statistics.
        affine: Learn the scale (every field) and the shift (order-0 fields).

    Shapes:
        - input: ``[V, in_type.dim]``
        - output: ``[V, in_type.dim]``
    """

    def __init__(self, in_type: FieldType | str, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        super().__init__()
        self.in_type = self.out_type = FieldType(in_type)
        self.eps, self.momentum = eps, momentum
        num_fields, num_scalars = self.in_type.num_fields, self.in_type.multiplicity(0)
        self.weight = nn.Parameter(torch.ones(num_fields)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_scalars)) if affine and num_scalars else None
        self.register_buffer("running_mean", torch.zeros(num_scalars))
        self.register_buffer("running_var", torch.ones(num_fields))
        dims = torch.tensor([1.0 if n == 0 else 2.0 for n in self.in_type.irreps])
        self.register_buffer("_field_dim", dims, persistent=False)
        self.register_buffer("_field", self.in_type.field_index(), persistent=False)
        self.register_buffer("_scalar_index", self.in_type.indices(0), persistent=False)
        self.register_buffer("_scalar_field", torch.nonzero(dims == 1).flatten(), persistent=False)
        self.register_buffer("_scalar_component", self.in_type.scalar_mask().float(), persistent=False)

    def _statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean per component ``[D]`` (zero on higher orders) and variance per field ``[F]``
        (higher orders: ``E|f|^2 / 2``), without gradient; in training, the running ones move."""
        if not self.training:
            mean = x.new_zeros(self.in_type.dim).index_copy(0, self._scalar_index, self.running_mean.to(x.dtype))
            return mean, self.running_var.to(x.dtype)
        if x.size(0) < 2 and self.in_type.multiplicity(0):
            raise ValueError("BatchNorm in training mode needs more than one vertex.")
        with torch.no_grad():
            scalar = self._scalar_component.to(x.dtype)
            mean = x.mean(0) * scalar
            second = torch.linalg.vector_norm(x, dim=0) ** 2 / x.size(0) - mean * mean  # Var; E f^2 above
            var = second.new_zeros(self.in_type.num_fields).index_add(0, self._field, second) / self._field_dim.to(x.dtype)
            n = x.size(0)
            unbiased = var.clone()
            unbiased[self._scalar_field] *= n / max(n - 1, 1)
            self.running_mean.lerp_(mean[self._scalar_index].to(self.running_mean.dtype), self.momentum)
            self.running_var.lerp_(unbiased.to(self.running_var.dtype), self.momentum)
        return mean, var

    def forward(self, x: Tensor) -> Tensor:
        self.in_type.check(x)
        # Statistics sum over every vertex: float32 at least (gaugemesh.nn.precision).
        out_dtype = result_dtype(x)
        return self._normalise(x.to(working_dtype(x))).to(out_dtype)

    def _normalise(self, x: Tensor) -> Tensor:
        mean, var = self._statistics(x)
        inv_std = torch.rsqrt(var + self.eps)
        weight = None if self.weight is None else self.weight.to(x.dtype)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        if self.training:  # the statistics depend on x: their gradient is in the backward pass
            return _TrainBatchNorm.apply(x, weight, bias, mean, inv_std, self)
        scale = inv_std if weight is None else inv_std * weight
        return _affine(x, scale[self._field], mean, bias, self._scalar_index)

    def extra_repr(self) -> str:
        return f"{self.in_type}, eps={self.eps}, momentum={self.momentum}"


def _affine(x: Tensor, scale: Tensor, mean: Tensor, bias: Tensor | None, scalar_index: Tensor) -> Tensor:
    """``(x - mean) * scale + bias`` with the bias on the scalar components."""
    shift = -mean * scale
    if bias is not None:
        shift = shift.index_add(0, scalar_index, bias)
    return torch.addcmul(shift, x, scale)


class _TrainBatchNorm(torch.autograd.Function):
    """Training-mode batch norm with the gradient through the batch statistics written out:
    one pass over the features forward and two backward, where autograd recorded six.

    Per component, with ``s`` the inverse standard deviation of its field, ``w`` its weight,
    ``d`` the field's dimension (1 or 2) and ``M = sum_v g (x - mean)`` summed over the field:
    ``grad_x = w s g - w s^3 M (x - mean) / (d N) - [scalar] w s mean(g)``.
    """

    @staticmethod
    @without_autocast
    def forward(ctx, x, weight, bias, mean, inv_std, layer: BatchNorm):
        scale = inv_std if weight is None else inv_std * weight
        ctx.layer, ctx.has_weight, ctx.has_bias = layer, weight is not None, bias is not None
        ctx.save_for_backward(x, scale, mean, inv_std)
        return _affine(x, scale[layer._field], mean, bias, layer._scalar_index)

    @staticmethod
    @once_differentiable
    @without_autocast
    def backward(ctx, grad: Tensor):
        x, scale, mean, inv_std = ctx.saved_tensors
        layer, n = ctx.layer, x.size(0)
        field = layer._field
        sum_g = grad.sum(0)
        moment = (grad * x).sum(0) - mean * sum_g  # sum_v g (x - mean), per component
        moment_field = moment.new_zeros(scale.numel()).index_add(0, field, moment)
        x_coeff = -(scale * inv_std * inv_std * moment_field / (layer._field_dim.to(x.dtype) * n))[field]
        g_coeff = scale[field]
        constant = -g_coeff * layer._scalar_component.to(x.dtype) * sum_g / n - x_coeff * mean
        grad_x = torch.addcmul(constant, grad, g_coeff).addcmul_(x, x_coeff)
        grad_w = inv_std * moment_field if ctx.has_weight else None
        grad_b = sum_g[layer._scalar_index] if ctx.has_bias else None
        return grad_x, grad_w, grad_b, None, None, None
