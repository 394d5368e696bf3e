"""O(2) irreducible representations and feature types (``O2FieldType("2x0 + 1x0- + 3x1")``).

An element of O(2) is written ``(angle, reflection)``: the matrix ``R(angle) F^reflection``
with ``R`` the rotation and ``F = diag(1, -1)`` the reflection of the frame across ``e1``
(``docs/conventions.md``). Products: ``(a, s)(b, t) = (a + (-1)^s b, s xor t)``.

The irreps (escnn's names in brackets):

- ``0``, the trivial representation ``rho(a, s) = 1`` [``(0, 0)``];
- ``0-``, the sign representation ``rho(a, s) = (-1)^s`` [``(1, 0)``]: a pseudo-scalar;
- ``n >= 1``, ``rho_n(a, s) = R(n a) F^s``, two dimensional [``(1, n)``]: on ``w = f[0] + i f[1]``
  a rotation multiplies by ``exp(i n a)`` as for SO(2), and the reflection conjugates.

A feature tensor is ``[..., dim]``, blocks in the written order, each block's copies one after
the other, each copy contiguous: the same layout as the SO(2) :class:`~gaugemesh.FieldType`
that forgets the reflection (:attr:`O2FieldType.so2`, where ``0-`` becomes order 0), so every
SO(2) layer can read an O(2) feature; only the reflection is new.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Iterable, NamedTuple, Sequence

import torch

from gaugemesh.so2 import FieldType

__all__ = ["O2Irrep", "O2FieldType", "o2_compose", "o2_inverse", "o2_matrix"]

_BLOCK = re.compile(r"^\s*(?:(\d+)\s*x\s*)?(\d+)\s*(-?)\s*$")


class O2Irrep(NamedTuple):
    """An irrep of O(2): ``order`` and, for order 0 only, whether it is the sign irrep."""

    order: int
    odd: bool = False

    @property
    def dim(self) -> int:
        return 1 if self.order == 0 else 2

    def __str__(self) -> str:
        return f"{self.order}-" if self.odd else str(self.order)


def o2_compose(a: torch.Tensor, s: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The product ``(a, s)(b, t) = (a + (-1)^s b, s xor t)`` (angles not wrapped).

    Shapes:
        a, b: ``[...]`` angles; s, t: ``[...]`` bool reflections.
    """
    s, t = torch.as_tensor(s, dtype=torch.bool), torch.as_tensor(t, dtype=torch.bool)
    return a + torch.where(s, -b, b), s ^ t


def o2_inverse(a: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(a, s)^-1``: ``(-a, False)`` for a rotation, ``(a, True)`` for a reflection (an involution)."""
    s = torch.as_tensor(s, dtype=torch.bool)
    return torch.where(s, a, -a), s


def o2_matrix(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``R(a) F^s`` as ``[..., 2, 2]``: the defining representation (the irrep of order 1)."""
    return O2FieldType("1").rho(a, s)


def _parse(spec: str) -> list[tuple[int, O2Irrep]]:
    blocks = []
    for part in spec.split("+"):
        match = _BLOCK.match(part)
        if match is None:
            raise ValueError(f"Cannot parse O(2) field type block {part.strip()!r} in {spec!r}: write blocks as "
                             "'MULTxORDER' joined by '+', with '0-' for the sign irrep, e.g. '2x0 + 1x0- + 3x1'.")
        mult = 1 if match.group(1) is None else int(match.group(1))
        order, sign = int(match.group(2)), match.group(3)
        if order > 0 and sign == "-":
            raise ValueError(f"{part.strip()!r} in {spec!r}: for order n >= 1 there is one O(2) irrep, written "
                             f"'{order}' (the reflection acts as diag(1, -1)); only order 0 has a sign irrep '0-'.")
        blocks.append((mult, O2Irrep(order, sign == "-")))
    return blocks


def _normalise(blocks: Iterable[tuple[int, O2Irrep]]) -> tuple[tuple[int, O2Irrep], ...]:
    out: list[tuple[int, O2Irrep]] = []
    for mult, irrep in blocks:
        irrep = irrep if isinstance(irrep, O2Irrep) else O2Irrep(*irrep) if isinstance(irrep, tuple) else O2Irrep(int(irrep))
        mult = int(mult)
        if mult < 0 or irrep.order < 0:
            raise ValueError(f"Multiplicity and order must be >= 0, got {mult}x{irrep}.")
        if irrep.order > 0 and irrep.odd:
            raise ValueError(f"Only order 0 has a sign irrep; got {irrep.order}- (write {irrep.order}).")
        if mult == 0:
            continue
        if out and out[-1][1] == irrep:
            out[-1] = (out[-1][0] + mult, irrep)
        else:
            out.append((mult, irrep))
    return tuple(out)


class O2FieldType:
    """A direct sum of O(2) irreps: the type of a feature tensor ``[..., dim]``.

    Args:
        spec: A string ``"2x0 + 1x0- + 3x1"`` (``"1"`` means ``"1x1"``), another
            ``O2FieldType``, or a sequence of ``(multiplicity, O2Irrep)`` pairs (an int order
            means the irrep of that order, trivial for 0).

    Equal when the layouts are: ``"1x0 + 1x0" == "2x0"``, ``"1x0 + 1x0-" != "1x0- + 1x0"``.

    Raises:
        ValueError: empty string, a block that cannot be parsed, a negative multiplicity or
            order, or a sign on an order ``n >= 1``.

    Example:
        >>> t = O2FieldType("2x0 + 1x0- + 3x1")
        >>> t.dim, str(t.so2)
        (9, '3x0 + 3x1')
    """

    def __init__(self, spec: str | O2FieldType | Sequence[tuple[int, O2Irrep]]):
        if isinstance(spec, O2FieldType):
            blocks = spec.blocks
        elif isinstance(spec, str):
            if not spec.strip():
                raise ValueError(f"Empty O(2) field type string {spec!r}: write e.g. '2x0 + 1x0- + 3x1', "
                                 "or '0x0' for a type that is meant to be empty.")
            blocks = _parse(spec)
        else:
            blocks = list(spec)
        self.blocks: tuple[tuple[int, O2Irrep], ...] = _normalise(blocks)

    @classmethod
    def scalars(cls, channels: int) -> O2FieldType:
        """``channels`` invariant scalars (the trivial irrep)."""
        return cls([(channels, O2Irrep(0))])

    # -- structure ------------------------------------------------------------------------

    @cached_property
    def dim(self) -> int:
        return sum(m * irrep.dim for m, irrep in self.blocks)

    @cached_property
    def irreps(self) -> tuple[O2Irrep, ...]:
        """The irrep of every field (copy), in layout order."""
        return tuple(irrep for m, irrep in self.blocks for _ in range(m))

    @property
    def num_fields(self) -> int:
        return len(self.irreps)

    def multiplicity(self, irrep: O2Irrep | int | str) -> int:
        """Number of fields of ``irrep`` (``"0-"``, ``O2Irrep(0, True)``, or an order)."""
        irrep = _irrep(irrep)
        return sum(m for m, r in self.blocks if r == irrep)

    @cached_property
    def so2(self) -> FieldType:
        """The SO(2) type with the same layout: the rotations alone (``0-`` becomes order 0)."""
        return FieldType([(m, irrep.order) for m, irrep in self.blocks])

    @cached_property
    def _components(self) -> tuple[list[int], list[bool], list[bool]]:
        """Per component: its field, whether it is a trivial (``0``) scalar, whether the reflection negates it."""
        field, trivial, flipped = [], [], []
        for k, irrep in enumerate(self.irreps):
            if irrep.order == 0:
                field += [k]
                trivial += [not irrep.odd]
                flipped += [irrep.odd]
            else:
                field += [k, k]
                trivial += [False, False]
                flipped += [False, True]
        return field, trivial, flipped

    def field_index(self, device=None) -> torch.Tensor:
        """The field each component belongs to, ``[dim]`` (long)."""
        return torch.tensor(self._components[0], device=device, dtype=torch.long)

    def trivial_mask(self, device=None) -> torch.Tensor:
        """``[dim]`` bool, true on the invariant (trivial, ``0``) components."""
        return torch.tensor(self._components[1], device=device, dtype=torch.bool)

    def reflection_mask(self, device=None) -> torch.Tensor:
        """``[dim]`` bool, true on the components the reflection ``F`` negates (``0-`` and
        the second component of every pair)."""
        return torch.tensor(self._components[2], device=device, dtype=torch.bool)

    def field_mask(self, select) -> torch.Tensor:
        """``[num_fields]`` bool, true on the fields whose irrep satisfies ``select(irrep)``."""
        return torch.tensor([bool(select(r)) for r in self.irreps], dtype=torch.bool)

    def randn(self, *batch: int, generator: torch.Generator | None = None, dtype=None, device=None) -> torch.Tensor:
        """Random features of this type, ``[*batch, dim]``."""
        return torch.randn(*batch, self.dim, generator=generator, dtype=dtype, device=device)

    # -- action -----------------------------------------------------------------------------

    def rho(self, angle, reflection=False) -> torch.Tensor:
        """Block-diagonal ``rho(angle, reflection) = rho(R(angle)) rho(F)^reflection``,
        ``[..., dim, dim]`` for ``angle`` and ``reflection`` broadcastable to ``[...]``."""
        angle = torch.as_tensor(angle)
        if not angle.is_floating_point():
            angle = angle.to(torch.get_default_dtype())
        reflection = torch.as_tensor(reflection, dtype=torch.bool, device=angle.device)
        angle, reflection = torch.broadcast_tensors(angle, reflection)
        sign = self._signs(reflection, angle.dtype)  # [..., dim]
        return self.so2.rho(angle) * sign[..., None, :]

    def _signs(self, reflection: torch.Tensor, dtype) -> torch.Tensor:
        """``[..., dim]``: -1 where ``reflection`` negates the component, else 1."""
        mask = self.reflection_mask(reflection.device)
        return 1 - 2 * (reflection[..., None] & mask).to(dtype)

    def reflect(self, x: torch.Tensor) -> torch.Tensor:
        """``rho(F) x``: the reflection ``diag(1, -1)`` of the frame applied to a feature."""
        self.check(x)
        return torch.where(self.reflection_mask(x.device), -x, x)

    def transform(self, x: torch.Tensor, angle, reflection=False) -> torch.Tensor:
        """``rho(angle, reflection) x`` without building the matrix.

        Args:
            x: ``[..., dim]``.
            angle: Angles broadcastable to ``x.shape[:-1]``.
            reflection: Bools broadcastable to ``x.shape[:-1]``.
        """
        self.check(x)
        reflection = torch.as_tensor(reflection, dtype=torch.bool, device=x.device)
        x = x * self._signs(reflection, x.dtype)
        return self.so2.transform(x, angle)

    def squared_norms(self, x: torch.Tensor) -> torch.Tensor:
        """The invariant squared norm of every field, ``[..., num_fields]``."""
        return self.so2.squared_norms(x)

    def check(self, x: torch.Tensor, name: str = "input") -> None:
        """Raise ``ValueError`` unless ``x`` is a floating tensor ``[..., dim]`` of this type."""
        if not torch.is_tensor(x) or not x.is_floating_point():
            raise ValueError(f"{name} must be a floating point tensor of O(2) type {self}, got {type(x).__name__}.")
        if x.dim() < 1 or x.shape[-1] != self.dim:
            raise ValueError(f"{name} has shape {tuple(x.shape)}, but O(2) type {self} needs [..., {self.dim}] "
                             "(check that the layer's in_type matches the previous layer's out_type).")

    # -- algebra and dunder -----------------------------------------------------------------

    def __add__(self, other: O2FieldType | str) -> O2FieldType:
        return O2FieldType(self.blocks + O2FieldType(other).blocks)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, O2FieldType) and self.blocks == other.blocks

    def __hash__(self) -> int:
        return hash(("O2", self.blocks))

    def __len__(self) -> int:
        return self.num_fields

    def __str__(self) -> str:
        return " + ".join(f"{m}x{irrep}" for m, irrep in self.blocks) or "0x0"

    def __repr__(self) -> str:
        return f"O2FieldType({str(self)!r})"


def _irrep(irrep: O2Irrep | int | str) -> O2Irrep:
    if isinstance(irrep, O2Irrep):
        return irrep
    if isinstance(irrep, str):
        return _parse(irrep)[0][1]
    return O2Irrep(int(irrep))
