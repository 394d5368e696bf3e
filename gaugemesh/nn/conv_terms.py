"""The stacked terms of :class:`~gaugemesh.nn.GemConv`: the one list that the kernel, the
sparse operators and the fused function all read.

GemConv's neighbour sum is, per input order ``n``, ``Q`` aggregates

    B_q(i) = sum_j w^r_ij exp(i (k theta_ij + n g_ij)) u_j

(one stacked sparse product, :mod:`gaugemesh.nn.conv_operators`), each mapped to one output
order ``m`` by a dense block of the layer's flat weight (:mod:`gaugemesh.nn.kernel` says which
frequencies ``k`` a pair ``(n, m)`` needs). A :class:`Term` is one such aggregate: the orders
it connects, its frequency and radial weight, its stacked row ``q`` in the operator of order
``n`` and the place of its block in the flat weight. :class:`ConvTerms` holds them all and
refuses any layout the fused function could misread, so the three files cannot disagree on
the order: each reads it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import groupby
from typing import Iterable, Sequence

from gaugemesh.so2 import FieldType, irrep_dim

__all__ = ["ConvTerms", "OperatorTerms", "Term", "neighbour_frequencies"]


def neighbour_frequencies(in_order: int, out_orders: Iterable[int]) -> dict[int, tuple[int, ...]]:
    """The relative frequencies ``k`` that ``B_k`` of one input order is needed at, per output
    order; where there are two, the second is the ``d conj(.)`` term."""
    out = {}
    for m in sorted(set(out_orders)):
        if in_order == 0:
            out[m] = (m,)  # u is real: B_{-m} = conj(B_m)
        elif m == 0:
            out[m] = (-in_order,)
        else:
            out[m] = (m - in_order, -(m + in_order))
    return out


@dataclass(frozen=True)
class Term:
    """One aggregate ``B_q`` and the dense block that maps it to its output order.

    Attributes:
        in_order, out_order: ``n`` and ``m``.
        frequency: ``k``, the relative frequency of the aggregate.
        conjugate: The ``d conj(.)`` part of the block (``n, m >= 1``, ``k = -(m + n)``).
        radial: ``r``, the column of ``edge_weight`` the aggregate is weighted by.
        row: ``q``, its place among the stacked terms of the operator of order ``n``: the
            aggregate's columns ``[q 2 C_n, (q + 1) 2 C_n)``.
        offset: Where its ``[rows, cols]`` block starts in the flat weight.
        rows, cols: ``2 C_n`` and ``C_m d_m``.
    """

    in_order: int
    out_order: int
    frequency: int
    conjugate: bool
    radial: int
    row: int
    offset: int
    rows: int
    cols: int

    @property
    def key(self) -> tuple[int, int, int, int]:
        """``(n, m, k, r)``: what the term is, apart from where it is."""
        return self.in_order, self.out_order, self.frequency, self.radial

    @property
    def size(self) -> int:
        return self.rows * self.cols


@dataclass(frozen=True)
class OperatorTerms:
    """What the stacked operator of one input order holds, row ``q`` by row.

    Attributes:
        order: The input order ``n``.
        frequencies, radials: ``k`` and ``r`` of each stacked term ``q``.
        group_sizes: How many consecutive terms each group (one output order) has; the
            operator's transpose is stored group by group.
    """

    order: int
    frequencies: tuple[int, ...]
    radials: tuple[int, ...]
    group_sizes: tuple[int, ...]

    def __post_init__(self):
        if len(self.frequencies) != len(self.radials) or sum(self.group_sizes) != len(self.frequencies):
            raise ValueError(f"OperatorTerms of order {self.order}: {len(self.frequencies)} frequencies, "
                             f"{len(self.radials)} radial indices and groups of {self.group_sizes} terms disagree.")

    @classmethod
    def frequency_major(cls, order: int, groups: Sequence[Sequence[int]], num_radial: int) -> OperatorTerms:
        """One term per frequency of ``groups`` and radial weight, frequency-major:
        ``q = (k0, r0), (k0, r1), ..., (k1, r0), ...``, one group per entry of ``groups``."""
        freqs = [k for group in groups for k in group]
        return cls(
            order,
            tuple(k for k in freqs for _ in range(num_radial)),
            tuple(r for _ in freqs for r in range(num_radial)),
            tuple(len(group) * num_radial for group in groups),
        )

    @property
    def count(self) -> int:
        """``Q``, the number of stacked terms."""
        return len(self.frequencies)


@dataclass(frozen=True)
class ConvTerms:
    """Every neighbour term of a GemConv, in the order of the flat weight.

    The layout the fused function relies on, checked at construction: the terms are exactly
    those the kernel needs (each ``(n, m, k, r)`` once); blocks follow one another in the
    flat weight from 0; within an input order the stacked rows follow the same order; and
    the terms of one ``(n, m)`` are consecutive, so their blocks stack into one
    ``[Q_nm 2 C_n, C_m d_m]`` matrix over adjacent aggregate columns. Build it with
    :meth:`build` (the canonical order) or :meth:`arrange` (any valid order).

    Attributes:
        in_type, out_type: The layer's feature types.
        num_radial: ``R``, radial weights per edge.
        terms: Every :class:`Term`, in flat-weight order.
    """

    in_type: FieldType
    out_type: FieldType
    num_radial: int
    terms: tuple[Term, ...]

    def __post_init__(self):
        _check_layout(self)

    @classmethod
    def build(cls, in_type: FieldType, out_type: FieldType, num_radial: int = 1) -> ConvTerms:
        """The canonical order: by input order, then output order, frequency, radial weight."""
        return cls.arrange(in_type, out_type, num_radial, _canonical_keys(in_type, out_type, num_radial))

    @classmethod
    def arrange(cls, in_type: FieldType, out_type: FieldType, num_radial: int, keys: Iterable[tuple[int, int, int, int]]) -> ConvTerms:
        """The terms ``(n, m, k, r)`` in the order given: offsets and stacked rows follow it."""
        terms, offset, rows = [], 0, {}
        for n, m, k, r in keys:
            term = Term(n, m, k, _is_conjugate(n, m, k), r, rows.get(n, 0), offset,
                        2 * in_type.multiplicity(n), out_type.multiplicity(m) * irrep_dim(m))
            terms.append(term)
            offset, rows[n] = offset + term.size, rows.get(n, 0) + 1
        return cls(FieldType(in_type), FieldType(out_type), num_radial, tuple(terms))

    @property
    def weight_size(self) -> int:
        """Length of the neighbour part of the flat weight."""
        return sum(t.size for t in self.terms)

    def of_order(self, n: int) -> tuple[Term, ...]:
        """The terms of input order ``n``, in stacked-row order."""
        return self._by_order.get(n, ())

    def groups(self, n: int) -> tuple[tuple[Term, ...], ...]:
        """The terms of input order ``n`` in runs that share an output order, in row order."""
        return tuple(tuple(run) for _, run in groupby(self.of_order(n), key=lambda t: t.out_order))

    @cached_property
    def operators(self) -> tuple[OperatorTerms, ...]:
        """What the stacked operator of each input order must hold, for
        :meth:`ConvOperators.operators <gaugemesh.nn.ConvOperators.operators>`."""
        return tuple(
            OperatorTerms(
                n,
                tuple(t.frequency for t in self.of_order(n)),
                tuple(t.radial for t in self.of_order(n)),
                tuple(len(group) for group in self.groups(n)),
            )
            for n in self.in_type.orders
        )

    @cached_property
    def _by_order(self) -> dict[int, tuple[Term, ...]]:
        return {n: tuple(t for t in self.terms if t.in_order == n) for n in self.in_type.orders}


def _check_layout(layout: ConvTerms) -> None:
    """Refuse a layout the fused function would misread (see :class:`ConvTerms`)."""
    needed = _canonical_keys(layout.in_type, layout.out_type, layout.num_radial)
    keys = [t.key for t in layout.terms]
    if sorted(keys) != sorted(needed):
        raise ValueError(f"ConvTerms must hold each term (n, m, k, r) of {layout.in_type} -> {layout.out_type} "
                         f"with {layout.num_radial} radial weights once; got {keys}.")
    offset, rows, runs = 0, {}, set()
    for index, t in enumerate(layout.terms):
        expected = (offset, rows.get(t.in_order, 0), 2 * layout.in_type.multiplicity(t.in_order),
                    layout.out_type.multiplicity(t.out_order) * irrep_dim(t.out_order),
                    _is_conjugate(t.in_order, t.out_order, t.frequency))
        if (t.offset, t.row, t.rows, t.cols, t.conjugate) != expected:
            raise ValueError(f"Term {index} {t} is out of place: expected (offset, row, rows, cols, conjugate) = {expected}.")
        pair = (t.in_order, t.out_order)
        if pair in runs and layout.terms[index - 1].key[:2] != pair:
            raise ValueError(f"The terms of (n, m) = {pair} must be consecutive, so that their blocks stack.")
        runs.add(pair)
        offset, rows[t.in_order] = offset + t.size, rows.get(t.in_order, 0) + 1


def _is_conjugate(n: int, m: int, k: int) -> bool:
    """Whether the term at ``k`` is the ``d conj(.)`` part of block ``(n, m)`` (the second
    frequency of :func:`neighbour_frequencies`)."""
    return n > 0 and m > 0 and k == -(m + n)


def _canonical_keys(in_type: FieldType, out_type: FieldType, num_radial: int) -> list[tuple[int, int, int, int]]:
    """Every ``(n, m, k, r)`` the kernel needs: by input order, output order, frequency, radial weight."""
    return [
        (n, m, k, r)
        for n in in_type.orders
        for m, ks in neighbour_frequencies(n, out_type.orders).items()
        for k in ks
        for r in range(num_radial)
    ]
