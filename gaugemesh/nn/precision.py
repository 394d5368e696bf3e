"""How gaugemesh's fused layers meet reduced precision: autocast, and bf16/fp16 tensors.

The fused autograd functions (:class:`~gaugemesh.nn.GemConv`'s sparse aggregation, the
sampled ReLU of :class:`~gaugemesh.nn.RegularNonlinearity`, training-mode
:class:`~gaugemesh.nn.BatchNorm`) compute in at least float32, whatever autocast or the
inputs ask for:

- the sparse CSR products have no bfloat16 or float16 kernel on CPU (torch 2.13:
  ``"addmm_out_sparse_csr_impl_mkl" not implemented for 'BFloat16'``);
- each output sums a vertex's neighbours over every kernel term, and batch norm sums over
  every vertex of the batch: sums that lose their last digits in an 8-bit mantissa;
- they write into preallocated buffers (``out=``, ``addmm_``), which must have the dtype
  the products compute in, and autocast would silently choose another.

Reduced-precision inputs are promoted to float32 (float64 stays float64). Under autocast
the result stays float32, as for autocast's own float32 operations (``softmax``,
``layer_norm``): the next autocast-listed operation casts it down again. Outside autocast
the result is cast back to the input's dtype, so a model converted with ``.bfloat16()``
gets bfloat16 features out of every layer. Elementwise layers and dense linear maps need
none of this and follow autocast as they are.
"""

from __future__ import annotations

import functools
from typing import Callable

import torch
from torch import Tensor

__all__ = ["REDUCED_DTYPES", "working_dtype", "result_dtype", "without_autocast"]

#: Floating dtypes the fused layers promote to float32.
REDUCED_DTYPES = (torch.float16, torch.bfloat16)


def working_dtype(x: Tensor) -> torch.dtype:
    """The dtype a fused layer computes in for input ``x``: float32 for bf16/fp16, else ``x.dtype``."""
    return torch.float32 if x.dtype in REDUCED_DTYPES else x.dtype


def result_dtype(x: Tensor) -> torch.dtype:
    """The dtype a fused layer returns for input ``x``: :func:`working_dtype` under autocast
    (on ``x``'s device), else ``x.dtype``."""
    autocast = torch.amp.is_autocast_available(x.device.type) and torch.is_autocast_enabled(x.device.type)
    return working_dtype(x) if autocast else x.dtype


def without_autocast(method: Callable) -> Callable:
    """Run an autograd ``Function``'s ``forward(ctx, ...)`` or ``backward(ctx, ...)`` with
    autocast off on the device of its first tensor argument, so that its products keep the
    dtype of their preallocated outputs. Backward needs it too: ``loss.backward()`` called
    inside an autocast region runs every backward function under autocast."""

    @functools.wraps(method)
    def wrapped(ctx, *args):
        device = next((a.device for a in args if isinstance(a, Tensor)), None)
        if device is None or not torch.amp.is_autocast_available(device.type):
            return method(ctx, *args)
        with torch.autocast(device.type, enabled=False):
            return method(ctx, *args)

    return wrapped
