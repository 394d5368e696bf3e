"""Gauge-equivariant nonlinearities: regular (sampled), norm, and gated."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from gaugemesh.nn.precision import result_dtype, without_autocast, working_dtype
from gaugemesh.so2 import FieldType

__all__ = ["NONLINEARITIES", "GatedNonlinearity", "NormNonlinearity", "RegularNonlinearity", "make_nonlinearity"]


class RegularNonlinearity(nn.Module):
    r"""Pointwise nonlinearity on the band-limited function that the features describe.

    Channel ``c`` gathers copy ``c`` of every order ``n`` (missing copies count as zero) into
    ``f_c(t) = a_0 + \sum_n a_n \cos nt + b_n \sin nt``. The layer samples ``f_c`` at
    ``t_s = 2 \pi s / N``, applies ``activation`` to the samples and projects back onto
    orders ``0..M`` with the discrete Fourier transform. A gauge change by ``phi`` shifts
    ``f_c`` by ``phi``: for ``phi`` a multiple of ``2 pi / N`` the samples are permuted and
    the layer is exactly equivariant; for other angles the error is that of sampling a
    function that ``activation`` made non-band-limited, and it falls as ``N`` grows (for
    ReLU on unit-variance band-2 features, relative to the output: about 4e-1 at ``N = 5``,
    1e-1 at 8, 2e-2 at 16, 6e-3 at 32 and 1e-3 at 64; ``tests/nn/test_nonlinearity.py``
    prints the figures).

    ``gauge`` evaluates the layer in frames rotated by ``gauge`` (``rho(gauge) act(rho(-gauge)
    x)``): what the layer computes when the whole mesh is given that gauge, since every other
    layer is exactly equivariant. A random ``gauge`` in training is thus the random gauge
    augmentation of a whole network, with the geometry and its operators left untouched.

    Args:
        in_type: Feature type (the output type is the same).
        activation: Pointwise function of the samples (default ReLU).
        num_samples: ``N``; must exceed ``2 M``. Default ``4 M + 4``.

    Shapes:
        - input: ``[V, in_type.dim]``
        - gauge: ``[V]``, optional
        - output: ``[V, in_type.dim]``
    """

    def __init__(self, in_type: FieldType | str, activation: Callable | None = None, num_samples: int | None = None):
        super().__init__()
        self.in_type = self.out_type = FieldType(in_type)
        self.activation = nn.ReLU() if activation is None else activation
        m = self.in_type.max_order
        self.num_samples = 4 * m + 4 if num_samples is None else int(num_samples)
        if self.num_samples <= 2 * m:
            raise ValueError(f"num_samples must exceed 2 * max_order = {2 * m} (else orders alias), got {self.num_samples}.")
        self.num_channels = max((mult for mult, _ in self.in_type.blocks), default=0)
        slot = self._slots()
        self.register_buffer("_slot", slot, persistent=False)
        self.register_buffer("_component", torch.argsort(slot), persistent=False)  # inverse, when full
        sample, project = self._fourier(m, self.num_samples)
        self.register_buffer("_sample", sample, persistent=False)
        self.register_buffer("_project", project, persistent=False)

    def _slots(self) -> Tensor:
        """For every component, its flat slot in ``[C, 2M + 1]``: channel ``c`` (the copy
        index within its order), then ``0`` for order 0 and ``2n - 1``, ``2n`` for ``(cos, sin)``."""
        width = 2 * self.in_type.max_order + 1
        slot = torch.empty(self.in_type.dim, dtype=torch.long)
        for n in self.in_type.orders:
            index = self.in_type.indices(n).view(-1, 1 if n == 0 else 2)  # [copies, d]
            first = 0 if n == 0 else 2 * n - 1
            channel = torch.arange(index.size(0))[:, None]
            slot[index] = channel * width + first + torch.arange(index.size(1))
        return slot

    @staticmethod
    def _fourier(max_order: int, num_samples: int) -> tuple[Tensor, Tensor]:
        t = torch.arange(num_samples, dtype=torch.float64) * (2 * math.pi / num_samples)
        rows = [torch.ones_like(t)]
        for n in range(1, max_order + 1):
            rows += [torch.cos(n * t), torch.sin(n * t)]
        sample = torch.stack(rows)  # [2M + 1, N]
        weight = torch.full((2 * max_order + 1, 1), 2.0 / num_samples, dtype=torch.float64)
        weight[0] = 1.0 / num_samples  # DFT: a_0 is the mean, a_n and b_n twice the correlation
        return sample, (sample * weight).t()

    def forward(self, x: Tensor, gauge: Tensor | None = None) -> Tensor:
        self.in_type.check(x)
        width = self.num_channels * self._sample.size(0)
        if width == self.in_type.dim:  # every slot filled: a permutation of the components
            coefficients = x.index_select(-1, self._component)
        else:  # missing copies of an order stay zero
            coefficients = x.new_zeros(*x.shape[:-1], width).index_copy_(-1, self._slot, x)
        coefficients = coefficients.unflatten(-1, (self.num_channels, -1))  # [..., C, 2M + 1]
        # Scalars alone (max order 0) do not turn with the gauge: nothing to rotate.
        turn = None if gauge is None or self.in_type.max_order == 0 else self._turn(gauge, coefficients)
        if type(self.activation) is nn.ReLU:  # fused: float32 at least (gaugemesh.nn.precision)
            dtype = working_dtype(x)
            sample, project = self._sample.to(dtype), self._project.to(dtype)
            turn = None if turn is None else tuple(t.to(dtype) for t in turn)
            out = _SampledReLU.apply(coefficients.to(dtype), sample, project, turn).to(result_dtype(x))
        else:  # any activation: plain products, which follow autocast
            sample, project = self._sample.to(x.dtype), self._project.to(x.dtype)
            if turn is not None:
                coefficients = _rotate(coefficients, *turn, back=True)
            out = self.activation(coefficients @ sample) @ project
            if turn is not None:
                out = _rotate(out, *turn)
        return out.flatten(-2).index_select(-1, self._slot)

    def _turn(self, gauge: Tensor, coefficients: Tensor) -> tuple[Tensor, Tensor]:
        """The rotation by ``gauge`` of every row of ``coefficients`` ``[..., C, 2M + 1]``, as
        :func:`_rotate` takes it: ``[..., C, 2M + 1]`` cosines ``(1, c_1, c_1, c_2, ...)`` and
        signed sines ``(0, -s_1, s_1, -s_2, ...)`` of ``n gauge``."""
        m = self.in_type.max_order
        order = torch.arange(1, m + 1, device=gauge.device, dtype=gauge.dtype).repeat_interleave(2)
        angle = gauge[..., None] * order  # [..., 2M]
        sign = torch.tensor([-1.0, 1.0], device=gauge.device, dtype=gauge.dtype).repeat(m)
        cos = torch.cat([torch.ones_like(angle[..., :1]), torch.cos(angle)], -1)
        sin = torch.cat([torch.zeros_like(angle[..., :1]), torch.sin(angle) * sign], -1)
        shape = coefficients.shape
        return tuple(t[..., None, :].expand(shape).to(coefficients.dtype) for t in (cos, sin))

    def extra_repr(self) -> str:
        return f"{self.in_type}, N={self.num_samples}"


def _rotate(coefficients: Tensor, cos: Tensor, sin: Tensor, back: bool = False, out: Tensor | None = None) -> Tensor:
    """``rho(a)`` (``rho(-a)`` with ``back``) on Fourier coefficients ``[..., 2M + 1]`` (slots
    ``a_0, a_1, b_1, a_2, ...``) given the cosines and signed sines of
    :meth:`RegularNonlinearity._turn`: ``a_n' = c a_n - s b_n``, ``b_n' = s a_n + c b_n``."""
    partner = coefficients.index_select(-1, _partners(coefficients.size(-1), coefficients.device))
    out = torch.mul(coefficients, cos, out=out)
    return out.addcmul_(partner, sin, value=-1 if back else 1)


def _partners(width: int, device) -> Tensor:
    """Slot ``k``'s partner in its ``(a_n, b_n)`` pair (itself for ``a_0``): ``0, 2, 1, 4, 3, ...``."""
    k = torch.arange(width, device=device)
    return torch.where(k == 0, k, k - 1 + 2 * (k % 2))


class _SampledReLU(torch.autograd.Function):
    """``relu(c @ sample) @ project`` over the last dimension, in blocks of rows small enough
    for the samples to stay in cache (on CPU), keeping only their sign pattern (one byte
    each) for the backward pass. Unfused, the ``N``-fold samples went through memory four
    times forward and three times backward, which took most of the layer's time.

    With ``turn = (cos, sin)`` (``[..., M]`` per row) the layer runs in frames rotated by the
    row's angle: each block's coefficients are turned by ``-angle`` before sampling and its
    output back by ``+angle``, while the block is in cache (unfused, the two rotations cost
    about as much as the layer).
    """

    @staticmethod
    @without_autocast
    def forward(ctx, coefficients: Tensor, sample: Tensor, project: Tensor, turn: tuple[Tensor, Tensor] | None):
        flat = coefficients.reshape(-1, coefficients.size(-1))
        out = flat.new_empty(flat.size(0), project.size(1))
        positive = torch.empty(flat.size(0), sample.size(1), dtype=torch.uint8, device=flat.device)
        cos, sin = (None, None) if turn is None else (t.reshape(flat.shape) for t in turn)
        for rows in _row_blocks(flat, sample.size(1)):
            block = flat[rows] if cos is None else _rotate(flat[rows], cos[rows], sin[rows], back=True)
            samples = block @ sample
            torch.gt(samples, 0, out=positive[rows].view(torch.bool))
            if cos is None:
                torch.mm(samples.clamp_(min=0), project, out=out[rows])
            else:
                _rotate(samples.clamp_(min=0) @ project, cos[rows], sin[rows], out=out[rows])
        ctx.save_for_backward(positive, sample, project, *(() if cos is None else (cos, sin)))
        return out.view(*coefficients.shape[:-1], -1)

    @staticmethod
    @once_differentiable
    @without_autocast
    def backward(ctx, grad: Tensor):
        positive, sample, project, *turn = ctx.saved_tensors
        cos, sin = turn or (None, None)
        flat = grad.reshape(-1, grad.size(-1))
        out = flat.new_empty(flat.size(0), sample.size(0))
        for rows in _row_blocks(flat, sample.size(1)):
            # the transpose of a rotation is the rotation back
            g = flat[rows] if cos is None else _rotate(flat[rows], cos[rows], sin[rows], back=True)
            # uint8, not bool: multiplying by a bool mask runs several times slower on CPU
            grad_samples = (g @ project.t()).mul_(positive[rows])
            if cos is None:
                torch.mm(grad_samples, sample.t(), out=out[rows])
            else:
                _rotate(grad_samples @ sample.t(), cos[rows], sin[rows], out=out[rows])
        return out.view(*grad.shape[:-1], -1), None, None, None


def _row_blocks(x: Tensor, width: int, elements: int = 2**17) -> list[slice]:
    """Row slices of ``x`` with about ``elements`` entries at ``width`` columns (one on GPUs)."""
    rows = x.size(0) if x.device.type != "cpu" else max(1, elements // max(width, 1))
    return [slice(start, start + rows) for start in range(0, x.size(0), rows)] or [slice(0, 0)]


class NormNonlinearity(nn.Module):
    """``activation`` on scalars; a field of order ``n >= 1`` is scaled by
    ``activation(|f| - b) / |f|`` with a learned ``b`` per field. Exactly equivariant:
    the norm is gauge invariant and the field keeps its direction.

    A negative ``b`` makes the layer jump at ``f = 0`` (a field of any small size comes
    out with norm ``-b``), smoothed only by ``eps``: near zero it amplifies its input by
    ``-b / eps``. Fields that vanish by an exact symmetry of the mesh (a perfect
    icosphere, constant inputs) are zero only up to rounding, which differs from one gauge
    or pose to the next; with negative thresholds the outputs then depend on that rounding
    (a 42% logit change after a rigid motion of a perfect icosphere with random
    parameters, against 1e-13 for the same network on a radially jittered one).

    Args:
        in_type: Feature type (the output type is the same).
        activation: Pointwise function (default ReLU).
        bias: Learn the per-field threshold ``b`` (initialised to ``0.1``).

    Shapes:
        - input: ``[V, in_type.dim]``
        - output: ``[V, in_type.dim]``
    """

    def __init__(self, in_type: FieldType | str, activation: Callable | None = None, bias: bool = True, eps: float = 1e-6):
        super().__init__()
        self.in_type = self.out_type = FieldType(in_type)
        self.activation = nn.ReLU() if activation is None else activation
        self.eps = eps
        num_vector = sum(1 for n in self.in_type.irreps if n > 0)
        self.bias = nn.Parameter(torch.full((num_vector,), 0.1)) if bias and num_vector else None
        fields = self.in_type.field_index()
        self.register_buffer("_field", fields, persistent=False)
        self.register_buffer("_vector_of_field", self.in_type.vector_field_index(), persistent=False)
        self.register_buffer("_scalar", self.in_type.scalar_mask(), persistent=False)

    def forward(self, x: Tensor, gauge: Tensor | None = None) -> Tensor:
        """``gauge`` is accepted for a common signature with :class:`RegularNonlinearity` and
        ignored: this layer is exactly equivariant, so it computes the same in any frames."""
        self.in_type.check(x)
        # eps inside the root keeps the gradient finite at f = 0; it does not affect equivariance.
        # Norms in float32 at least: in float16, eps^2 underflows and |f|^2 overflows past 256.
        norm = torch.sqrt(self.in_type.squared_norms(x.to(working_dtype(x))) + self.eps**2)
        shifted = norm if self.bias is None else norm - self.bias[self._vector_of_field]
        scale = (self.activation(shifted) / norm).to(x.dtype)[..., self._field]
        return torch.where(self._scalar, self.activation(x), x * scale)

    def extra_repr(self) -> str:
        return str(self.in_type)


class GatedNonlinearity(nn.Module):
    """Scalars go through ``activation``; each field of order ``n >= 1`` is multiplied by
    ``gate(s)`` of its own extra scalar ``s`` (de Haan et al.; Weiler et al. 2018).

    The input carries the gates after the features: ``in_type = out_type + Gx0`` with ``G``
    the number of fields of order ``>= 1`` in ``out_type``. Exactly equivariant: the gates
    are invariant scalars.

    Args:
        out_type: The type of the output (and of the input's first part).
        activation: Pointwise function of the scalars (default ReLU).
        gate: Function of the gate scalars (default sigmoid).

    Shapes:
        - input: ``[V, out_type.dim + G]``
        - output: ``[V, out_type.dim]``
    """

    def __init__(self, out_type: FieldType | str, activation: Callable | None = None, gate: Callable | None = None):
        super().__init__()
        self.out_type = FieldType(out_type)
        self.num_gates = sum(1 for n in self.out_type.irreps if n > 0)
        self.in_type = self.out_type + FieldType.scalars(self.num_gates)
        self.activation = nn.ReLU() if activation is None else activation
        self.gate = nn.Sigmoid() if gate is None else gate
        gate_of_field = self.out_type.vector_field_index()
        self.register_buffer("_gate_of_component", gate_of_field[self.out_type.field_index()], persistent=False)
        self.register_buffer("_scalar", self.out_type.scalar_mask(), persistent=False)

    def forward(self, x: Tensor, gauge: Tensor | None = None) -> Tensor:
        """``gauge`` is accepted for a common signature with :class:`RegularNonlinearity` and
        ignored: this layer is exactly equivariant, so it computes the same in any frames."""
        self.in_type.check(x)
        features, gates = x[..., : self.out_type.dim], x[..., self.out_type.dim :]
        if self.num_gates == 0:
            return self.activation(features)
        gated = features * self.gate(gates)[..., self._gate_of_component]
        return torch.where(self._scalar, self.activation(features), gated)

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}"


NONLINEARITIES = ("regular", "norm", "gated")


def make_nonlinearity(kind: str, out_type: FieldType, **kwargs) -> nn.Module:
    """A nonlinearity producing ``out_type``; its ``in_type`` is ``out_type`` plus gates for ``"gated"``."""
    if kind == "regular":
        return RegularNonlinearity(out_type, **kwargs)
    if kind == "norm":
        return NormNonlinearity(out_type, **kwargs)
    if kind == "gated":
        return GatedNonlinearity(out_type, **kwargs)
    raise ValueError(f"Unknown nonlinearity {kind!r}; choose one of {NONLINEARITIES}.")
