"""SO(2) irreducible representations and feature types (``FieldType("16x0 + 16x1 + 8x2")``).

Conventions (``docs/CONVENTIONS.md``): ``rho_0(a) = 1``; for ``n >= 1`` ``rho_n(a)`` is the
2x2 rotation by ``n a``, acting on the pair ``(cos, sin)`` read as the complex number
``w = f[0] + i f[1]``, which it multiplies by ``exp(i n a)``. A feature tensor is ``[..., dim]``
with the blocks in the order written, each block's copies one after the other.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from typing import Iterable, Sequence

import torch

__all__ = ["FieldType", "complex_matrix", "irrep_dim", "rho_irrep"]

_BLOCK = re.compile(r"^\s*(?:(\d+)\s*x\s*)?(\d+)\s*$")


def irrep_dim(order: int) -> int:
    """Dimension of the real irrep of ``order``: 1 for order 0, else 2."""
    return 1 if order == 0 else 2


def rho_irrep(order: int, angle: torch.Tensor) -> torch.Tensor:
    """The matrix ``rho_order(angle)``, shape ``[..., d, d]`` with ``d = irrep_dim(order)``."""
    angle = torch.as_tensor(angle)
    if order == 0:
        return torch.ones(*angle.shape, 1, 1, dtype=angle.dtype, device=angle.device)
    c, s = torch.cos(order * angle), torch.sin(order * angle)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def complex_matrix(re: torch.Tensor, im: torch.Tensor, conjugate: bool = False) -> torch.Tensor:
    """The real matrix of ``z -> (re + i im) z`` (or ``conj(z)``) between channels of pairs.

    Args:
        re, im: ``[C_out, C_in]``.

    Returns:
        ``[C_in, 2, C_out, 2]``: input channel and ``(cos, sin)`` part, output channel and
        part, for ``f_out = f_in @ matrix.flatten(2).flatten(0, 1)`` on the pair layout.
    """
    re, im = re.t(), im.t()
    from_re = torch.stack([re, im], -1)
    from_im = torch.stack([im, -re], -1) if conjugate else torch.stack([-im, re], -1)
    return torch.stack([from_re, from_im], 1)


def _parse(spec: str) -> list[tuple[int, int]]:
    blocks = []
    for part in spec.split("+"):
        match = _BLOCK.match(part)
        if match is None:
            raise ValueError(
                f"Cannot parse field type block {part.strip()!r} in {spec!r}: "
                "write blocks as 'MULTxORDER' joined by '+', e.g. '16x0 + 16x1 + 8x2'."
            )
        mult = 1 if match.group(1) is None else int(match.group(1))
        blocks.append((mult, int(match.group(2))))
    return blocks


def _normalise(blocks: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Drop empty blocks and merge neighbours of equal order (the layout is unchanged)."""
    out: list[tuple[int, int]] = []
    for mult, order in blocks:
        mult, order = int(mult), int(order)
        if mult < 0 or order < 0:
            raise ValueError(f"Multiplicity and order must be >= 0, got {mult}x{order}.")
        if mult == 0:
            continue
        if out and out[-1][1] == order:
            out[-1] = (out[-1][0] + mult, order)
        else:
            out.append((mult, order))
    return tuple(out)


class FieldType:
    """A direct sum of SO(2) irreps: the type of a feature tensor ``[..., dim]``.

    Args:
        spec: A string ``"16x0 + 16x1 + 8x2"`` (``"1"`` means ``"1x1"``), another
            ``FieldType``, or a sequence of ``(multiplicity, order)`` pairs.

    Two types are equal when their layouts are: ``"8x0 + 8x0" == "16x0"``, but
    ``"1x0 + 1x1" != "1x1 + 1x0"``. The empty type (``str`` gives ``"0x0"``) is spelled out as
    ``"0x0"``, ``[]`` or ``scalars(0)``; an empty string is refused as a likely mistake.

    Raises:
        ValueError: ``spec`` is an empty string, cannot be parsed, or has a negative
            multiplicity or order.
    """

    def __init__(self, spec: str | FieldType | Sequence[tuple[int, int]]):
        if isinstance(spec, FieldType):
            blocks = spec.blocks
        elif isinstance(spec, str):
            if not spec.strip():  # usually a type string built from an empty list by mistake
                raise ValueError(f"Empty field type string {spec!r}: write blocks as 'MULTxORDER' joined by '+', "
                                 "e.g. '16x0 + 16x1'; write '0x0' for a type that is meant to be empty.")
            blocks = _parse(spec)
        else:
            blocks = list(spec)
        self.blocks: tuple[tuple[int, int], ...] = _normalise(blocks)

    @classmethod
    def band(cls, channels: int, max_order: int) -> FieldType:
        """``channels`` copies of every order ``0..max_order``: ``band(16, 2) = 16x0 + 16x1 + 16x2``.

        Raises:
            ValueError: ``channels`` or ``max_order`` is negative (``range`` would otherwise
                turn ``max_order=-1`` into an empty type without a word).
        """
        if channels < 0 or max_order < 0:
            raise ValueError(f"FieldType.band needs channels >= 0 and max_order >= 0, "
                             f"got band({channels}, {max_order}); max_order=0 gives scalars only.")
        return cls([(channels, n) for n in range(max_order + 1)])

    @classmethod
    def scalars(cls, channels: int) -> FieldType:
        """``channels`` gauge-invariant scalars (order 0)."""
        return cls([(channels, 0)])

    # -- structure ------------------------------------------------------------------------

    @cached_property
    def dim(self) -> int:
        """Length of the feature vector."""
        return sum(m * irrep_dim(n) for m, n in self.blocks)

    @cached_property
    def orders(self) -> tuple[int, ...]:
        """The distinct orders present, sorted."""
        return tuple(sorted({n for _, n in self.blocks}))

    @cached_property
    def irreps(self) -> tuple[int, ...]:
        """The order of every field (copy), in layout order."""
        return tuple(n for m, n in self.blocks for _ in range(m))

    @property
    def num_fields(self) -> int:
        """Number of irreducible fields (copies)."""
        return len(self.irreps)

    @property
    def max_order(self) -> int:
        """Largest order present (0 for an empty type)."""
        return max(self.orders, default=0)

    def multiplicity(self, order: int) -> int:
        """Number of fields of ``order``."""
        return sum(m for m, n in self.blocks if n == order)

    @cached_property
    def _dim_layout(self) -> tuple[list[int], list[int], list[int], list[float]]:
        """Per component: its order, its field index, its partner component, and the sign
        of the partner in ``rho`` (so ``rho(a) f = cos(n a) f + sign sin(n a) f[partner]``)."""
        order, field, partner, sign = [], [], [], []
        for k, n in enumerate(self.irreps):
            start = len(order)
            if n == 0:
                order += [0]
                field += [k]
                partner += [start]
                sign += [0.0]
            else:
                order += [n, n]
                field += [k, k]
                partner += [start + 1, start]
                sign += [-1.0, 1.0]
        return order, field, partner, sign

    def component_orders(self, device=None, dtype=None) -> torch.Tensor:
        """The order of each of the ``dim`` components, ``[dim]``."""
        return torch.tensor(self._dim_layout[0], device=device, dtype=dtype or torch.long)

    def field_index(self, device=None) -> torch.Tensor:
        """The field each of the ``dim`` components belongs to, ``[dim]`` (long)."""
        return torch.tensor(self._dim_layout[1], device=device, dtype=torch.long)

    def scalar_mask(self, device=None) -> torch.Tensor:
        """``[dim]`` bool, true on the order-0 components."""
        return self.component_orders(device) == 0

    def indices(self, order: int, device=None) -> torch.Tensor:
        """Components of the fields of ``order``, ``[mult * irrep_dim(order)]`` (long), layout order."""
        return torch.nonzero(self.component_orders(device) == order).flatten()

    @cached_property
    def _order_ranges(self) -> dict[int, tuple[int, int] | None]:
        """``(start, stop)`` of each order's components when they are contiguous, else ``None``."""
        ranges = {}
        for n in self.orders:
            index = self._dim_layout[0]
            positions = [d for d, o in enumerate(index) if o == n]
            contiguous = positions[-1] - positions[0] + 1 == len(positions)
            ranges[n] = (positions[0], positions[-1] + 1) if contiguous else None
        return ranges

    @cached_property
    def _unsorting(self) -> list[int]:
        """The permutation that takes the sorted layout back to this one (see :meth:`sorted`)."""
        return torch.argsort(self.sorted()[1]).tolist()

    @property
    def is_sorted(self) -> bool:
        """True when each order is one block and the blocks are in increasing order."""
        return list(self.orders) == [n for _, n in self.blocks]

    def sorted(self) -> tuple[FieldType, torch.Tensor]:
        """The sorted type (orders ascending, one block each) and the permutation of
        components that takes a feature there: ``x[..., perm]`` has the sorted type, and
        ``y[..., argsort(perm)]`` takes a sorted feature back.

        Shapes:
            perm: ``[dim]`` (long).
        """
        ordered = FieldType([(self.multiplicity(n), n) for n in self.orders])
        return ordered, torch.cat([self.indices(n) for n in self.orders]) if self.dim else torch.zeros(0, dtype=torch.long)

    def slices(self) -> dict[int, slice]:
        """``{order: slice}`` of each order's components in the *sorted* layout."""
        out, start = {}, 0
        for n in self.orders:
            stop = start + self.multiplicity(n) * irrep_dim(n)
            out[n], start = slice(start, stop), stop
        return out

    def vector_field_index(self) -> torch.Tensor:
        """For every field, its position among the fields of order ``>= 1`` (0 for scalars):
        where a per-vector-field parameter (a threshold, a gate) of each field is.

        Shapes:
            ``[num_fields]`` (long).
        """
        vector = torch.tensor([n > 0 for n in self.irreps], dtype=torch.long)
        return (torch.cumsum(vector, 0) - 1).clamp(min=0)

    def randn(self, *batch: int, generator: torch.Generator | None = None, dtype=None, device=None) -> torch.Tensor:
        """Random features of this type, ``[*batch, dim]``, standard normal components."""
        return torch.randn(*batch, self.dim, generator=generator, dtype=dtype, device=device)

    def part(self, x: torch.Tensor, order: int) -> torch.Tensor:
        """The components of the fields of ``order``, ``[..., mult * irrep_dim]`` (a view when contiguous)."""
        span = self._order_ranges.get(order)
        if span is None:  # index_select: its backward is an index_add, ~4x faster than x[..., idx]'s
            return x.index_select(-1, self.indices(order, x.device))
        return x[..., span[0] : span[1]]

    def split(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """``{order: part(x, order)}``; one ``torch.split`` for sorted types (its backward is a
        single cat, where separate slices each allocate a full-size gradient)."""
        if not self.is_sorted:
            return {n: self.part(x, n) for n in self.orders}
        sizes = [m * irrep_dim(n) for m, n in self.blocks]
        return dict(zip(self.orders, torch.split(x, sizes, -1)))

    def join(self, parts: dict[int, torch.Tensor]) -> torch.Tensor:
        """Inverse of :meth:`part`: a feature ``[..., dim]`` from ``{order: [..., mult * irrep_dim]}``."""
        joined = torch.cat([parts[n] for n in self.orders], -1)  # the sorted layout
        if self.is_sorted:
            return joined
        return joined.index_select(-1, torch.tensor(self._unsorting, device=joined.device))

    # -- action -----------------------------------------------------------------------------

    def rho(self, angle: torch.Tensor | float) -> torch.Tensor:
        """Block-diagonal ``rho(angle)``, shape ``[..., dim, dim]`` for ``angle`` ``[...]``."""
        angle = torch.as_tensor(angle)
        if not angle.is_floating_point():
            angle = angle.to(torch.get_default_dtype())
        order, _, partner, sign = self._dim_layout
        n = torch.tensor(order, dtype=angle.dtype, device=angle.device)
        na = angle[..., None] * n
        out = torch.zeros(*angle.shape, self.dim, self.dim, dtype=angle.dtype, device=angle.device)
        rows = torch.arange(self.dim, device=angle.device)
        cols = torch.tensor(partner, device=angle.device)
        sgn = torch.tensor(sign, dtype=angle.dtype, device=angle.device)
        out[..., rows, rows] = torch.cos(na)
        # Order-0 components have partner == self and sign 0: this adds zero.
        out[..., rows, cols] = out[..., rows, cols] + sgn * torch.sin(na)
        return out

    def transform(self, x: torch.Tensor, angle: torch.Tensor | float) -> torch.Tensor:
        """Apply ``rho(angle)`` to a feature tensor without building the matrix.

        Args:
            x: Features ``[..., dim]``.
            angle: Angles broadcastable to ``x.shape[:-1]`` (e.g. ``[V]`` per vertex, or a float).

        Returns:
            ``rho(angle) x``, shape of ``x``.
        """
        self.check(x)
        angle = torch.as_tensor(angle, dtype=x.dtype, device=x.device)
        order, _, partner, sign = self._dim_layout
        n = torch.tensor(order, dtype=x.dtype, device=x.device)
        sgn = torch.tensor(sign, dtype=x.dtype, device=x.device)
        na = angle[..., None] * n
        partners = x.index_select(-1, torch.tensor(partner, device=x.device))
        return torch.cos(na) * x + sgn * torch.sin(na) * partners

    def squared_norms(self, x: torch.Tensor) -> torch.Tensor:
        """The gauge-invariant squared norm of every field, ``[..., num_fields]``."""
        if not self.is_sorted:
            out = x.new_zeros(*x.shape[:-1], self.num_fields)
            return out.index_add(-1, self.field_index(x.device), x * x)
        parts = []
        for n, p in self.split(x).items():  # fields are in order of increasing order here
            parts.append(p * p if n == 0 else (p * p).unflatten(-1, (-1, 2)).sum(-1))
        return torch.cat(parts, -1)

    def check_declared(self, declared: str | FieldType | Sequence[str] | None, name: str = "data.x_type") -> None:
        """Raise ``ValueError`` unless a declared type names this very type.

        ``declared`` is what a ``Data`` carries beside its features (``x_type``), a list of
        them for a PyG ``Batch``, or ``None`` (nothing declared, nothing to check). Widths
        alone do not tell types apart: ``"4x0"`` and ``"2x1"`` are both 4 wide.
        """
        if declared is None:
            return
        tags = [declared] if isinstance(declared, (str, FieldType)) else list(declared)
        for tag in dict.fromkeys(map(str, tags)):
            if _declared_type(tag) != self:
                raise ValueError(f"{name} is {tag!r}, but this model reads {self}: the features were computed "
                                 "for another model (check [features] against the checkpoint's).")

    def check(self, x: torch.Tensor, name: str = "input") -> None:
        """Raise ``ValueError`` unless ``x`` is a floating tensor ``[..., dim]`` of this type."""
        if not torch.is_tensor(x) or not x.is_floating_point():
            raise ValueError(f"{name} must be a floating point tensor of type {self}, got {type(x).__name__}.")
        if x.dim() < 1 or x.shape[-1] != self.dim:
            raise ValueError(
                f"{name} has shape {tuple(x.shape)}, but type {self} needs [..., {self.dim}] "
                "(check that the layer's in_type matches the previous layer's out_type)."
            )

    # -- algebra and dunder -----------------------------------------------------------------

    def __add__(self, other: FieldType | str) -> FieldType:
        """Direct sum: the layouts concatenated."""
        return FieldType(self.blocks + FieldType(other).blocks)

    def __eq__(self, other: object) -> bool:
        # Not equal to strings: equal objects must hash equal. Compare FieldType(s) instead.
        return isinstance(other, FieldType) and self.blocks == other.blocks

    def __hash__(self) -> int:
        return hash(self.blocks)

    def __len__(self) -> int:
        return self.num_fields

    def __str__(self) -> str:
        return " + ".join(f"{m}x{n}" for m, n in self.blocks) or "0x0"

    def __repr__(self) -> str:
        return f"FieldType({str(self)!r})"


@lru_cache(maxsize=256)
def _declared_type(tag: str) -> FieldType:
    """A declared type string, parsed once (models check it on every forward pass)."""
    return FieldType(tag)
