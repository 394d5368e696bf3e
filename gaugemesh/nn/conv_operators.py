"""Geometry-only sparse operators that :class:`~gaugemesh.nn.GemConv` aggregates with.

For an input field of order ``n``, a relative frequency ``k`` and a radial weight ``r`` (one
:class:`~gaugemesh.nn.conv_terms.Term` of the layer) the aggregation is

    B(i) = sum_j s_ij u_j,    s_ij = w^r_ij exp(i (k theta_ij + n g_ij)),    u_j = f_j[0] + i f_j[1]

a sparse matrix with complex entries applied to complex vertex features. The entries depend
on the geometry only, so they are built once per mesh (or batch) and reused by every layer
and every forward pass. A layer needs ``Q`` such sums per input order, one per ``(k, r)``
term, in the order its :class:`~gaugemesh.nn.conv_terms.OperatorTerms` lists; they are stacked into one real CSR matrix with two entries per edge and term,
``Re s_ij`` and ``Im s_ij``, and one sparse product gives all ``Q`` of them as ``[V, Q 2 C]``
(term-major within a vertex, so the terms that serve one output order are adjacent columns):

- ``n >= 1``: ``[V Q, 2 V]``, row ``(i, q)`` holds columns ``(j, 0)`` and ``(j, 1)``, applied to
  ``[u; i u]`` laid out ``[2 V, 2 C]`` (rows ``(j, 0/1)``): ``Re s u + Im s (i u) = s u``;
  each term keeps the ``(c, re/im)`` layout of the features;
- ``n = 0``: ``[2 V Q, V]``, rows ``(i, q, re/im)``, applied to the real ``[V, C]`` features;
  each term is laid out ``(re/im, c)``.

Stacking the terms row by row, rather than one matrix per term, makes the ``Q`` products
read each neighbour's features while they are in cache, and lets the dense weights of the
terms that share an output order act as one matrix.

The transpose, for the backward pass, is stored in pieces: one CSR matrix per *group* of
terms (the terms that serve one output order), so that the backward pass needs the
gradient of one group's aggregates at a time rather than of all ``Q``. It is stored at
all because on CPU a product with a transposed CSR view is an order of magnitude slower
than with a second CSR matrix.

The index patterns depend on the graph and the number of terms only and are shared by every
operator with as many terms; an operator costs its values, ``4 Q E`` numbers with its
transpose, plus indices for the pattern sizes no other operator used yet.

A batch of meshes is one block-diagonal graph, and every operator of it is block diagonal
too: :meth:`ConvOperators.combine` assembles a batch's operators from those of its meshes
(one concatenation of their indices and values) instead of building them again, so that a
training loop that keeps one :class:`ConvOperators` per mesh builds each mesh's operators
once, not once per step.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import torch
from torch import Tensor

from gaugemesh.nn.conv_terms import OperatorTerms

__all__ = ["ConvOperators", "EdgeOperator", "OperatorCache"]


@dataclass(frozen=True)
class EdgeOperator:
    """The stacked operator ``A`` of one input order and its transpose (CSR), by groups.

    Attributes:
        matrix: ``[V Q, 2 V]`` for order ``n >= 1``, ``[2 V Q, V]`` for order 0.
        transposes: For each group of ``Q_g`` consecutive terms, the transpose of its rows
            of ``A``: ``[2 V, V Q_g]`` for order ``n >= 1``, ``[V, 2 V Q_g]`` for order 0.
        stacked: The terms it was built for, row ``q`` by row.
    """

    matrix: Tensor
    transposes: tuple[Tensor, ...]
    stacked: OperatorTerms

    @property
    def group_terms(self) -> tuple[int, ...]:
        """``Q_g`` of each group."""
        return self.stacked.group_sizes

    @property
    def terms(self) -> int:
        """``Q``, the number of stacked ``(frequency, radial)`` terms."""
        return self.stacked.count

    def tensors(self) -> list[Tensor]:
        """Every index and value tensor of the operator (indices may be shared with others)."""
        return [t for m in (self.matrix, *self.transposes) for t in (m.crow_indices(), m.col_indices(), m.values())]

    @classmethod
    def block_diagonal(cls, parts: Sequence[EdgeOperator]) -> EdgeOperator:
        """The operator of a batch from those of its meshes, in batch order.

        A batch numbers its vertices mesh by mesh, and every row and column index of an
        operator is a vertex index times a fixed count (terms, re/im parts), so each matrix
        of the batch is the block-diagonal matrix of the meshes' matrices.
        """
        stacked = parts[0].stacked
        if any(p.stacked != stacked for p in parts):
            raise ValueError("block_diagonal needs operators with the same terms.")
        matrix = _block_diagonal_csr([p.matrix for p in parts])
        transposes = tuple(_block_diagonal_csr(list(ts)) for ts in zip(*(p.transposes for p in parts)))
        return cls(matrix, transposes, stacked)


@dataclass(frozen=True)
class _Pattern:
    """CSR indices shared by every operator of one layout, and where its values go.

    Values come in *pair order*: for each copy (term) ``q``, the ``2 E`` numbers
    ``(edge, re/im)`` with the edges in the order the layout was built from; flat value
    ``v`` is entry ``position[v]`` of the layout (``None``: pair order is entry order).
    """

    crow: Tensor
    col: Tensor
    shape: tuple[int, int]
    position: Tensor | None

    @property
    def nnz(self) -> int:
        return self.col.numel()

    def arrange(self, pair_values: Tensor) -> Tensor:
        """Entry values from flat pair-ordered values (``[copies 2 E]``)."""
        if self.position is None:
            return pair_values
        out = pair_values.new_empty(pair_values.shape)
        out[self.position] = pair_values
        return out

    def csr(self, values: Tensor) -> Tensor:
        """The CSR matrix with these (arranged) values."""
        with warnings.catch_warnings():  # torch calls its CSR support "beta" on every construction
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(self.crow, self.col, values, self.shape, check_invariants=False)

    def repeat_rows(self, copies: int, group: int) -> _Pattern:
        """Every run of ``group`` rows repeated ``copies`` times, copy ``q`` taking its values
        from copy ``q`` of the pair-ordered values: row ``(b, s)`` becomes rows ``(b, q, s)``."""
        itype = _index_dtype(copies * max(self.nnz, *self.shape))
        crow = self.crow.to(itype)
        runs = self.shape[0] // group
        start, length = crow[:-1:group], crow[group::group] - crow[:-1:group]  # entries of each run
        copy = torch.arange(copies, dtype=itype, device=crow.device)
        within = crow[:-1].view(runs, group) - start[:, None]  # row starts inside their run
        new_crow = copies * start[:, None, None] + copy[:, None] * length[:, None, None] + within[:, None, :]
        new_crow = torch.cat([new_crow.flatten(), crow.new_full((1,), copies * self.nnz)])
        # entry e of run b, copy q: after the earlier runs' copies and this run's earlier copies
        run = torch.repeat_interleave(torch.arange(runs, device=crow.device), length.long())
        start, length = start.long()[run], length.long()[run]
        base = (copies - 1) * start + torch.arange(self.nnz, device=crow.device)
        target = base + copy.long()[:, None] * length  # [copies, nnz]
        col = self.col.expand(copies, -1)
        return self._copied(new_crow, col, (self.shape[0] * copies, self.shape[1]), target)

    def repeat_cols(self, copies: int, group: int) -> _Pattern:
        """Every run of ``group`` columns repeated ``copies`` times: column ``(b, s)`` becomes
        columns ``(b, q, s)``. Each row must hold whole runs, as consecutive entries."""
        itype = _index_dtype(copies * max(self.nnz, *self.shape))
        entry = torch.arange(self.nnz, device=self.col.device)
        copy = torch.arange(copies, device=self.col.device)[:, None]
        part = entry % group
        target = (entry - part) * copies + copy * group + part  # [copies, nnz]
        copy, col = copy.to(itype), self.col.to(itype)
        col = (col // group * copies + copy) * group + col % group
        return self._copied(self.crow.to(itype) * copies, col, (self.shape[0], self.shape[1] * copies), target)

    def _copied(self, crow: Tensor, col: Tensor, shape, target: Tensor) -> _Pattern:
        """The pattern whose copy ``q`` of entry ``e`` of this one is entry ``target[q, e]``
        (long), with column ``col[q, e]``."""
        new_col = torch.empty(target.numel(), dtype=crow.dtype, device=target.device)
        new_col[target.flatten()] = col.flatten()
        if self.position is not None:  # pair value v was entry position[v]
            target = target[:, self.position.long()]
        return _Pattern(crow, new_col, shape, target.flatten())


def _index_dtype(count: int) -> torch.dtype:
    # int32 halves the index memory and is what MKL and cuSPARSE prefer.
    return torch.int32 if count < 2**31 - 1 else torch.int64


def _block_diagonal_csr(matrices: Sequence[Tensor]) -> Tensor:
    """The block-diagonal CSR matrix of ``matrices``, first at the top left."""
    if len(matrices) == 1:
        return matrices[0]
    rows = sum(m.size(0) for m in matrices)
    cols = sum(m.size(1) for m in matrices)
    nnz = sum(m.values().numel() for m in matrices)
    itype = _index_dtype(max(nnz, rows, cols))
    crows, col_parts, entries, columns = [], [], 0, 0
    for k, m in enumerate(matrices):
        crow = m.crow_indices().to(itype)
        crows.append(crow[(0 if k == 0 else 1):] + entries)  # each block's leading 0 is the last block's end
        col_parts.append(m.col_indices().to(itype) + columns)
        entries, columns = entries + m.values().numel(), columns + m.size(1)
    values = torch.cat([m.values() for m in matrices])
    return _Pattern(torch.cat(crows), torch.cat(col_parts), (rows, cols), None).csr(values)


def _patterns(rows: Tensor, cols: Tensor, num_nodes: int) -> tuple[Tensor, _Pattern, _Pattern]:
    """The two layouts of a graph whose edge ``e`` writes to row vertex ``rows[e]`` from
    column vertex ``cols[e]``: ``pairs`` ``[V, 2V]`` (entries ``(row, 2 col + p)``) and
    ``rows`` ``[2V, V]`` (entries ``(2 row + p, col)``), with ``p`` the re/im part. Returns
    the edge order (sorted by ``(row, col)``) that the pair-ordered values follow, and both."""
    v, device = num_nodes, rows.device
    order = torch.argsort(rows * v + cols)
    row, col = rows[order], cols[order]
    count = row.numel()
    degree = torch.bincount(row, minlength=v)
    ptr = torch.cat([degree.new_zeros(1), torch.cumsum(degree, 0)])
    itype = _index_dtype(2 * count + 2 * v)
    part = torch.arange(2, device=device)
    pair_col = (2 * col[:, None] + part).flatten()
    pairs = _Pattern((2 * ptr).to(itype), pair_col.to(itype), (v, 2 * v), None)
    # rows layout: row (i, p) holds the deg(i) edges of i in order, all with part p.
    rank = torch.arange(count, device=device) - ptr[row]
    position = (2 * ptr[row] + rank)[:, None] + part * degree[row][:, None]  # [edges, 2]
    position = position.flatten()
    row_col = torch.empty_like(pair_col)
    row_col[position] = pair_col // 2
    crow = torch.cat([(2 * ptr[:-1, None] + part * degree[:, None]).flatten(), ptr[-1:] * 2])
    rows_layout = _Pattern(crow.to(itype), row_col.to(itype), (2 * v, v), position.to(itype))
    return order, pairs, rows_layout


class ConvOperators:
    """The connection of one mesh (or a PyG batch of meshes), prepared for :class:`GemConv`.

    Holds ``edge_index``, ``theta``, ``transport`` and ``edge_weight`` and builds, on first
    use, the sparse operator for each ``(input order, frequencies, dtype, device)``; later
    layers and forward passes reuse them. Build one per mesh or batch
    (:meth:`from_data`) and pass it to every layer as ``operators=``; a :class:`GemConv`
    called with plain tensors keeps one of these cached itself.

    Args:
        edge_index: ``[2, E]`` long, row 0 source ``j``, row 1 target ``i``.
        theta: ``[E]`` angle of ``j`` seen from ``i`` in the frame of ``i``.
        transport: ``[E]`` parallel transport angle ``g_ij`` from ``j`` to ``i``.
        edge_weight: ``[E]``, or ``[E, R]`` for ``R`` radial basis weights; defaults to
            ``1 / in-degree`` (the mean over neighbours).
        num_nodes: Number of vertices; defaults to ``edge_index.max() + 1``.
        parts: For a batch, the operators of its meshes in batch order (the graph must be
            theirs, concatenated as PyG batches them): operators are then assembled from
            theirs (:meth:`EdgeOperator.block_diagonal`), which build and keep their own on
            first use, so a mesh seen again in another batch costs only the assembly.

    Gradients do not flow into the geometry tensors: they are data, not parameters.
    """

    def __init__(
        self,
        edge_index: Tensor,
        theta: Tensor,
        transport: Tensor,
        edge_weight: Tensor | None = None,
        num_nodes: int | None = None,
        parts: Sequence[ConvOperators] | None = None,
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
        if not parts:  # a batch of checked meshes is checked by its counts: no host sync per step
            _check_indices(self.edge_index, self.num_nodes)
        self.theta, self.transport = theta.detach(), transport.detach()
        if edge_weight is None:
            target = self.edge_index[1]
            in_degree = torch.bincount(target, minlength=self.num_nodes)
            edge_weight = 1.0 / in_degree.clamp(min=1)[target].to(theta.dtype)
        if edge_weight.dim() == 1:
            edge_weight = edge_weight[:, None]
        if edge_weight.dim() != 2 or edge_weight.size(0) != num_edges:
            raise ValueError(f"edge_weight must be [E] or [E, R] with E = {num_edges}, got {tuple(edge_weight.shape)}.")
        self.edge_weight = edge_weight.detach()
        self.parts = tuple(parts) if parts else None
        if self.parts is not None:
            self._check_parts(num_edges)
        self._indices: dict[tuple, list[tuple[Tensor, Tensor]]] = {}
        self._operators: dict[tuple, EdgeOperator] = {}

    def _check_parts(self, num_edges: int) -> None:
        nodes = sum(p.num_nodes for p in self.parts)
        edges = sum(p.edge_index.size(1) for p in self.parts)
        if (nodes, edges) != (self.num_nodes, num_edges) or any(p.num_radial != self.num_radial for p in self.parts):
            raise ValueError(
                f"parts describe {nodes} vertices and {edges} edges, the batch {self.num_nodes} and {num_edges}"
                " (or their radial weights differ): pass the meshes' operators in batch order."
            )

    @classmethod
    def from_data(cls, data, parts: Sequence[ConvOperators] | None = None) -> ConvOperators:
        """From a PyG ``Data``/``Batch`` with ``edge_index``, ``theta``, ``transport`` (and
        optionally ``edge_weight``); ``parts`` as in the constructor."""
        weight = getattr(data, "edge_weight", None)
        return cls(data.edge_index, data.theta, data.transport, weight, data.num_nodes, parts)

    def nbytes(self) -> int:
        """Bytes held by the operators built so far (shared indices counted once)."""
        seen = {t.data_ptr(): t.numel() * t.element_size() for op in self._operators.values() for t in op.tensors()}
        return sum(seen.values())

    @property
    def num_radial(self) -> int:
        """``R``, the number of radial weights per edge."""
        return self.edge_weight.size(1)

    def edge_operator(self, order: int, groups: Sequence[Sequence[int]], dtype: torch.dtype, device) -> EdgeOperator:
        """The stacked operator of input ``order``: one term per frequency of ``groups``
        (flattened) and radial weight, frequency-major (``q = (k0, r0), (k0, r1), ...,
        (k1, r0), ...``); its transpose is split by ``groups``.

        Shapes:
            - order 0: ``matrix`` ``[2 V Q, V]`` (rows ``(i, q, re/im)``); transposes
              ``[V, 2 V Q_g]``
            - order >= 1: ``matrix`` ``[V Q, 2 V]`` (rows ``(i, q)``); transposes
              ``[2 V, V Q_g]``
        """
        return self.edge_operators([OperatorTerms.frequency_major(order, groups, self.num_radial)], dtype, device)[order]

    @torch.compiler.disable
    def edge_operators(self, stacked: Iterable[OperatorTerms], dtype: torch.dtype, device) -> dict[int, EdgeOperator]:
        """The operator of each input order with the terms ``stacked`` lists (a layer's
        :attr:`ConvTerms.operators <gaugemesh.nn.conv_terms.ConvTerms.operators>`), row ``q``
        holding the ``q``-th ``(frequency, radial)`` term; built together, kept for reuse."""
        device = torch.device(device)
        keys = {s.order: (s, dtype, device) for s in stacked}
        missing = [key[0] for key in keys.values() if key not in self._operators]
        if missing and self.parts is not None:  # a batch: assemble from its meshes' operators
            built = [p.edge_operators(missing, dtype, device) for p in self.parts]
            for s in missing:
                self._operators[keys[s.order]] = EdgeOperator.block_diagonal([b[s.order] for b in built])
        elif missing:
            # The single-term layouts are needed only while building; kept, they would cost
            # about a third as much as the operators themselves.
            layout = _Layout.of(self.edge_index.to(device), self.num_nodes)
            for s in missing:
                self._operators[keys[s.order]] = self._build(s, dtype, device, layout)
        return {n: self._operators[key] for n, key in keys.items()}

    def _shared(self, pattern: _Pattern, key: tuple) -> _Pattern:
        """``pattern`` with the index tensors of the first pattern built under ``key``.

        The value positions are needed only while building and are recomputed with the
        pattern rather than kept (they would take as much memory again as the indices)."""
        crow, col = self._indices.setdefault(key, (pattern.crow, pattern.col))
        return replace(pattern, crow=crow, col=col)

    def _build(self, stacked: OperatorTerms, dtype, device, layout: _Layout) -> EdgeOperator:
        order, terms = stacked.order, stacked.count
        values = self._values(stacked, dtype, device)  # [Q, E, re/im]
        values_in, values_out = values[:, layout.by_target], values[:, layout.by_source]
        forward = self._shared(layout.forward(order == 0, terms), ("rows", order == 0, terms, device))
        matrix = forward.csr(forward.arrange(values_in.flatten()))
        transposes, start = [], 0
        for count in stacked.group_sizes:
            backward = self._shared(layout.backward(order == 0, count), ("cols", order == 0, count, device))
            transposes.append(backward.csr(backward.arrange(values_out[start : start + count].flatten())))
            start += count
        return EdgeOperator(matrix, tuple(transposes), stacked)

    def _values(self, stacked: OperatorTerms, dtype, device) -> Tensor:
        """``w^r exp(i (k theta + n g))`` for every ``(k, r)`` term and edge: ``[Q, E, re/im]``."""
        if any(not 0 <= r < self.num_radial for r in stacked.radials):
            raise ValueError(f"Terms use radial weights {sorted(set(stacked.radials))}, the geometry has {self.num_radial}.")
        # Phases in the more precise of the two dtypes, so float64 features get float64 operators.
        work = torch.promote_types(self.theta.dtype, dtype)
        theta, transport = self.theta.to(device, work), self.transport.to(device, work)
        weight = self.edge_weight.to(device, work)
        k = torch.tensor(stacked.frequencies, dtype=work, device=device)
        phase = k[:, None] * theta + stacked.order * transport  # [Q, E]
        unit = torch.stack([torch.cos(phase), torch.sin(phase)], -1)  # [Q, E, re/im]
        return (unit * weight.t()[list(stacked.radials), :, None]).to(dtype)


def _check_indices(edge_index: Tensor, num_nodes: int) -> None:
    """Refuse vertex indices outside ``[0, num_nodes)``: out of range they do not fail in the
    sparse build, they silently make a larger graph. Once per geometry, not per layer."""
    if edge_index.numel() == 0:
        return
    low, high = int(edge_index.min()), int(edge_index.max())
    if low < 0 or high >= num_nodes:
        raise ValueError(f"edge_index holds vertex indices from {low} to {high}, but the graph has {num_nodes} "
                         f"vertices (x has that many rows): indices must lie in [0, {num_nodes}).")


@dataclass
class _Layout:
    """The edge orders of a graph, its single-term index patterns (see :func:`_patterns`) and
    the many-term patterns made from them so far.

    One build asks for the same many-term pattern several times: input orders 1 and 2 stack as
    many terms, and the groups of one operator often have as many terms as one another (orders
    0-2: 3 groups of 1 term, 2 x (1, 2, 2)). Each is made once per layout, which took about a
    third off building an RNA mesh's operators; the layout, and with it the patterns' value
    positions, is dropped once the operators are built.
    """

    by_target: Tensor
    by_source: Tensor
    pairs_in: _Pattern
    rows_in: _Pattern
    pairs_out: _Pattern
    rows_out: _Pattern
    made: dict[tuple, _Pattern] = field(default_factory=dict)

    @classmethod
    def of(cls, edge_index: Tensor, num_nodes: int) -> _Layout:
        source, target = edge_index
        by_target, pairs_in, rows_in = _patterns(target, source, num_nodes)
        by_source, pairs_out, rows_out = _patterns(source, target, num_nodes)
        return cls(by_target, by_source, pairs_in, rows_in, pairs_out, rows_out)

    def forward(self, scalar: bool, terms: int) -> _Pattern:
        """The pattern of a stacked operator of ``terms`` terms: order 0 (``scalar``) rows
        ``(i, re/im) -> (i, q, re/im)``, columns likewise; other orders rows ``i -> (i, q)``."""
        key = ("rows", scalar, terms)
        if key not in self.made:
            self.made[key] = self.rows_in.repeat_rows(terms, 2) if scalar else self.pairs_in.repeat_rows(terms, 1)
        return self.made[key]

    def backward(self, scalar: bool, terms: int) -> _Pattern:
        """The pattern of the transpose of a group of ``terms`` terms (columns repeated)."""
        key = ("cols", scalar, terms)
        if key not in self.made:
            self.made[key] = self.pairs_out.repeat_cols(terms, 2) if scalar else self.rows_out.repeat_cols(terms, 1)
        return self.made[key]


class OperatorCache:
    """Remembers the :class:`ConvOperators` of the last geometry tensors it was given.

    A hit needs the very same tensor objects at the same version (in-place edits bump the
    version). The cache holds the tensors, so their identity cannot be reused by new ones.
    """

    def __init__(self):
        self._key: tuple | None = None
        self._geometry: ConvOperators | None = None

    def get(self, edge_index, theta, transport, edge_weight=None, num_nodes=None) -> ConvOperators:
        tensors = (edge_index, theta, transport, edge_weight)
        key = tuple(t if t is None else (t, t._version) for t in tensors) + (num_nodes,)
        if self._key is None or not _same_key(self._key, key):
            self._geometry = ConvOperators(edge_index, theta, transport, edge_weight, num_nodes)
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
