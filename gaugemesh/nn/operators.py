"""Geometry-only sparse operators that :class:`~gaugemesh.nn.GemConv` aggregates with.

For an input field of order ``n`` and a relative frequency ``k`` the aggregation is

    B_k(i) = sum_j w_ij exp(i (k theta_ij + n g_ij)) w_j          (w_j = f_j[0] + i f_j[1])

a sparse matrix with complex entries ``s_ij = w_ij exp(i (k theta_ij + n g_ij))``, applied to
the vertex features. The entries depend on the geometry only, so they are built once per
mesh (per order and frequency set) and reused by every layer and every forward pass.

Layout: the operator has ``V * K * R * 2`` rows ``(i, k, r, re/im)``. For order 0 it has
``V`` columns and holds ``Re s`` and ``Im s``; for ``n >= 1`` it has ``2 V`` columns
``(j, a/b)`` and holds the real 2x2 block ``[[Re s, -Im s], [Im s, Re s]]`` of ``z -> s z``,
applied to the input laid out ``[2 V, C]``. Either way ``S @ x`` is ``B_k`` in the layout
``[V, K, R, re/im, C]``. (Measured on 2 CPU threads, this beats a complex CSR matrix by 3x
and a ``[V R K 2, V]`` real matrix with a separate complex recombination by 2x.)
The transpose is stored too, because the backward pass through a transposed CSR view is
an order of magnitude slower on CPU than a second CSR matrix.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import torch
from torch import Tensor

__all__ = ["ConvGeometry", "GeometryCache", "SparseMatmul"]


class SparseMatmul(torch.autograd.Function):
    """``S @ x`` for a constant CSR matrix ``S`` whose transpose ``S_t`` is precomputed."""

    @staticmethod
    def forward(ctx, x: Tensor, matrix: Tensor, matrix_t: Tensor) -> Tensor:
        ctx.matrix_t = matrix_t
        return matrix @ x

    @staticmethod
    def backward(ctx, grad: Tensor):
        grad_x = ctx.matrix_t @ grad.contiguous() if ctx.needs_input_grad[0] else None
        return grad_x, None, None


def _csr(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    # int32 indices halve the index memory and are what MKL / cuSPARSE prefer.
    index_dtype = torch.int32 if max(values.numel(), max(shape)) < 2**31 - 1 else torch.int64
    with warnings.catch_warnings():  # torch calls its CSR support "beta" on every construction
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            crow.to(index_dtype), col.to(index_dtype), values, shape, check_invariants=False
        )


class ConvGeometry:
    """The connection of one mesh (or a PyG batch of meshes), prepared for :class:`GemConv`.

    Holds ``edge_index``, ``theta``, ``transport`` and ``edge_weight`` and builds, on first
    use, the sparse operators for each ``(input order, frequencies, dtype, device)``; later
    layers and forward passes reuse them. Build one per mesh or batch
    (:meth:`from_data`) and pass it to every layer as ``geometry=``; a :class:`GemConv`
    called with plain tensors keeps one of these cached itself.

    Args:
        edge_index: ``[2, E]`` long, row 0 source ``j``, row 1 target ``i``.
        theta: ``[E]`` angle of ``j`` seen from ``i`` in the frame of ``i``.
        transport: ``[E]`` parallel transport angle ``g_ij`` from ``j`` to ``i``.
        edge_weight: ``[E]``, or ``[E, R]`` for ``R`` radial basis weights; defaults to
            ``1 / in-degree`` (the mean over neighbours).
        num_nodes: Number of vertices; defaults to ``edge_index.max() + 1``.

    Gradients do not flow into the geometry tensors: they are data, not parameters.
    """

    def __init__(
        self,
        edge_index: Tensor,
        theta: Tensor,
        transport: Tensor,
        edge_weight: Tensor | None = None,
        num_nodes: int | None = None,
    ):
        if edge_index.dim() != 2 or edge_index.size(0) != 2 or edge_index.is_floating_point():
            raise ValueError(f"edge_index must be an integer tensor [2, E], got {tuple(edge_index.shape)}.")
        num_edges = edge_index.size(1)
        for name, value in (("theta", theta), ("transport", transport)):
            if value.shape != (num_edges,):
                raise ValueError(f"{name} must have shape [E] = [{num_edges}], got {tuple(value.shape)}.")
        if num_nodes is None:
            num_nodes = int(edge_index.max()) + 1 if num_edges else 0
        self.num_nodes = int(num_nodes)
        self.edge_index = edge_index.long()
        self.theta, self.transport = theta.detach(), transport.detach()
        target = self.edge_index[1]
        self.in_degree = torch.bincount(target, minlength=self.num_nodes)
        if edge_weight is None:
            edge_weight = 1.0 / self.in_degree.clamp(min=1)[target].to(theta.dtype)
        if edge_weight.dim() == 1:
            edge_weight = edge_weight[:, None]
        if edge_weight.dim() != 2 or edge_weight.size(0) != num_edges:
            raise ValueError(f"edge_weight must be [E] or [E, R] with E = {num_edges}, got {tuple(edge_weight.shape)}.")
        self.edge_weight = edge_weight.detach()
        self._operators: dict[tuple, tuple[Tensor, Tensor]] = {}

    @classmethod
    def from_data(cls, data) -> ConvGeometry:
        """From a PyG ``Data``/``Batch`` with ``edge_index``, ``theta``, ``transport`` (and
        optionally ``edge_weight``)."""
        return cls(data.edge_index, data.theta, data.transport, getattr(data, "edge_weight", None), data.num_nodes)

    @property
    def num_radial(self) -> int:
        """``R``, the number of radial weights per edge."""
        return self.edge_weight.size(1)

    def operator(self, order: int, freqs: Sequence[int], dtype: torch.dtype, device) -> tuple[Tensor, Tensor]:
        """The CSR operator ``S`` ``[V R K 2, V P]`` for input ``order`` and ``freqs``, and ``S^T``.

        Rows ``(i, k, r, re/im)``; columns ``(j, p)`` with ``P = 1`` for order 0 and ``P = 2``
        (the ``a, b`` of each pair) above.
        """
        key = (order, tuple(freqs), dtype, torch.device(device))
        if key not in self._operators:
            self._operators[key] = self._build(order, freqs, dtype, torch.device(device))
        return self._operators[key]

    def _build(self, order: int, freqs: Sequence[int], dtype, device) -> tuple[Tensor, Tensor]:
        # Phases in the more precise of the two dtypes, so float64 features get float64 operators.
        work = torch.promote_types(self.theta.dtype, dtype)
        source, target = self.edge_index.to(device)
        by_target = torch.argsort(target * self.num_nodes + source)  # CSR order, columns sorted
        source, target = source[by_target], target[by_target]
        theta, transport = self.theta.to(device, work)[by_target], self.transport.to(device, work)[by_target]
        weight = self.edge_weight.to(device, work)[by_target]
        k = torch.tensor(list(freqs), dtype=work, device=device)
        phase = k * theta[:, None] + order * transport[:, None]  # [E, K]
        c, s = torch.cos(phase), torch.sin(phase)
        if order == 0:  # one input column per vertex; rows Re s, Im s
            unit = torch.stack([c, s], -1)[..., None]  # [E, K, 2, 1]
        else:  # the 2x2 real block of z -> s z on the (a, b) columns
            unit = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # [E, K, 2, 2]
        blocks = (weight[:, None, :, None, None] * unit[:, :, None]).to(dtype)  # [E, K, R, 2, P]
        return _block_csr(blocks.flatten(1, 3), source, target, self.num_nodes)


def _block_csr(blocks: Tensor, source: Tensor, target: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """CSR matrix ``[V S, V P]`` with block ``blocks[e]`` ``[S, P]`` at rows ``(i, :)``, columns
    ``(j, :)`` of edge ``e = (j -> i)``, and its transpose. Edges must be sorted by ``(i, j)``.

    Each entry is written straight to its CSR position (no sort of the ``E S P`` entries).
    """
    num_edges, slots, width = blocks.shape
    device, v = blocks.device, num_nodes
    s = torch.arange(slots, device=device)[None, :, None]
    p = torch.arange(width, device=device)[None, None, :]
    in_degree = torch.bincount(target, minlength=v)
    out_degree = torch.bincount(source, minlength=v)
    ptr = torch.cat([in_degree.new_zeros(1), torch.cumsum(in_degree, 0)])
    rank = (torch.arange(num_edges, device=device) - ptr[target])[:, None, None]
    # Row (i, s) holds the deg(i) incoming edges of i, each with its `width` columns.
    position = slots * width * ptr[target, None, None] + s * in_degree[target, None, None] * width + rank * width + p
    values = torch.empty(blocks.numel(), dtype=blocks.dtype, device=device)
    values[position.flatten()] = blocks.flatten()
    cols = torch.empty(blocks.numel(), dtype=torch.long, device=device)
    cols[position.flatten()] = (source[:, None, None] * width + p).expand_as(position).flatten()
    crow = slots * width * ptr[:-1, None] + torch.arange(slots, device=device) * in_degree[:, None] * width
    matrix = _csr(torch.cat([crow.flatten(), ptr[-1:] * slots * width]), cols, values, (v * slots, v * width))
    # Transpose: row (j, p) holds the out-edges of j (in (j, i) order), each with its slots.
    by_source = torch.argsort(source * v + target)
    src, tgt, blk = source[by_source], target[by_source], blocks[by_source]
    t_ptr = torch.cat([out_degree.new_zeros(1), torch.cumsum(out_degree, 0)])
    t_rank = (torch.arange(num_edges, device=device) - t_ptr[src])[:, None, None]
    t_position = slots * width * t_ptr[src, None, None] + p * out_degree[src, None, None] * slots + t_rank * slots + s
    t_values = torch.empty_like(values)
    t_values[t_position.flatten()] = blk.flatten()
    t_cols = torch.empty_like(cols)
    t_cols[t_position.flatten()] = (tgt[:, None, None] * slots + s).expand_as(t_position).flatten()
    t_crow = slots * width * t_ptr[:-1, None] + torch.arange(width, device=device) * out_degree[:, None] * slots
    matrix_t = _csr(torch.cat([t_crow.flatten(), t_ptr[-1:] * slots * width]), t_cols, t_values, (v * width, v * slots))
    return matrix, matrix_t

class GeometryCache:
    """Remembers the :class:`ConvGeometry` of the last geometry tensors it was given.

    A hit needs the very same tensor objects at the same version (in-place edits bump the
    version). The cache holds the tensors, so their identity cannot be reused by new ones.
    """

    def __init__(self):
        self._key: tuple | None = None
        self._geometry: ConvGeometry | None = None

    def get(self, edge_index, theta, transport, edge_weight=None, num_nodes=None) -> ConvGeometry:
        tensors = (edge_index, theta, transport, edge_weight)
        key = tuple(t if t is None else (t, t._version) for t in tensors) + (num_nodes,)
        if self._key is None or not _same_key(self._key, key):
            self._geometry = ConvGeometry(edge_index, theta, transport, edge_weight, num_nodes)
            self._key = key
        return self._geometry

    def clear(self) -> None:
        self._key = self._geometry = None


def _same_key(a: tuple, b: tuple) -> bool:
    for u, w in zip(a, b):
        if isinstance(u, tuple) and isinstance(w, tuple):
            if u[0] is not w[0] or u[1] != w[1]:
                return False
        elif isinstance(u, tuple) or isinstance(w, tuple) or u != w:
            return False
    return len(a) == len(b)
