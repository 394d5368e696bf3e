"""O2GemResNet: the GemResNet for the structure group O(2), on any surface, orientable or not."""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from gaugemesh.models.o2_block import O2GemResBlock
from gaugemesh.nn.o2_conv import O2ConvOperators
from gaugemesh.nn.o2_layers import O2InvariantReadout
from gaugemesh.o2 import O2FieldType, O2Irrep

__all__ = ["O2GemResNet"]


class O2GemResNet(nn.Module):
    """Residual blocks of :class:`~gaugemesh.nn.o2_conv.O2GemConv` on a ``Data``/``Batch`` of
    ``mesh_to_data(..., structure_group="O2")``, then an O(2)-invariant readout (trivial
    scalars and the norms of every other field) and a per-vertex linear classifier.

    Logits are invariant under rotations *and* reflections of the frames, so the network runs
    on non-orientable surfaces, and it gives a mesh and its mirror image the same logits: it
    cannot tell mirror-image classes apart (``docs/o2.md``).

    Args:
        in_type: O(2) type of ``data.x`` (``data.x_type``, e.g. ``"16x0 + 1x0- + 1x0 + 4x1"``).
        num_classes: Number of output logits per vertex.
        width: Hidden fields per order: one number for every order, or one per order ``0..M``
            (order 0: the trivial scalars).
        max_order: ``M``, the highest order of the hidden features.
        num_blocks: Number of :class:`~gaugemesh.models.o2_block.O2GemResBlock`.
        dropout: Field dropout probability inside the blocks.
        nonlinearity: ``"norm"``, the only O(2) nonlinearity so far (the argument keeps a
            ``[model]`` table of :class:`~gaugemesh.models.GemResNet` readable).
        batch_norm: Use :class:`~gaugemesh.nn.o2_layers.O2BatchNorm` after each convolution.
        num_radial: Radial weights per edge in ``data.edge_weight``.
        pseudo_width: Hidden pseudo-scalar (``0-``) fields; default ``width`` of order 0.

    ``data.nonlinearity_gauge`` is ignored: every layer is exactly equivariant, so evaluating
    the nonlinearities in other frames would change nothing.

    Shapes:
        - data.x: ``[V, in_type.dim]``; data.edge_index ``[2, E]``; data.theta,
          data.transport, data.reflection ``[E]``; data.edge_weight ``[E]`` or ``[E, R]`` (optional)
        - output: ``[V, num_classes]``
    """

    def __init__(
        self,
        in_type: O2FieldType | str,
        num_classes: int,
        width: int | Sequence[int] = 16,
        max_order: int = 2,
        num_blocks: int = 4,
        dropout: float = 0.0,
        nonlinearity: str = "norm",
        batch_norm: bool = True,
        num_radial: int = 1,
        pseudo_width: int | None = None,
    ):
        super().__init__()
        if nonlinearity != "norm":
            raise ValueError(f"O2GemResNet has the norm nonlinearity only (a regular or gated O(2) one is not "
                             f"implemented), got nonlinearity={nonlinearity!r}; use 'norm'.")
        widths = [width] * (max_order + 1) if isinstance(width, int) else list(width)
        if len(widths) != max_order + 1:
            raise ValueError(f"width needs one entry per order 0..{max_order}, got {widths}.")
        pseudo = widths[0] if pseudo_width is None else pseudo_width
        self.in_type = O2FieldType(in_type)
        self.hidden_type = O2FieldType([(widths[0], O2Irrep(0)), (pseudo, O2Irrep(0, True))]
                                       + [(w, O2Irrep(n)) for n, w in enumerate(widths) if n > 0])
        types = [self.in_type] + [self.hidden_type] * num_blocks
        self.blocks = nn.ModuleList(O2GemResBlock(a, b, dropout, batch_norm, num_radial) for a, b in zip(types, types[1:]))
        self.readout = O2InvariantReadout(types[-1])
        self.classifier = nn.Linear(self.readout.out_type.dim, num_classes)
        self.out_type = O2FieldType.scalars(num_classes)
        self._key: tuple | None = None
        self._operators: O2ConvOperators | None = None

    def operators(self, data) -> O2ConvOperators:
        """The :class:`O2ConvOperators` of ``data``, kept while the same tensors come back (a
        hit needs the very same tensor objects at the same version)."""
        tensors = [getattr(data, k, None) for k in ("edge_index", "theta", "transport", "reflection", "edge_weight")]
        key = tuple(None if t is None else (id(t), t._version) for t in tensors) + (data.num_nodes,)
        if self._key != key:
            self._operators = O2ConvOperators.from_data(data)
            self._key, self._held = key, tensors  # held: their ids cannot be reused while kept
        return self._operators

    def _check_declared(self, declared) -> None:
        """``data.x_type`` (a string, or a list of them for a ``Batch``) must name ``in_type``."""
        tags = [] if declared is None else [declared] if isinstance(declared, str) else list(declared)
        for tag in dict.fromkeys(map(str, tags)):
            try:
                same = O2FieldType(tag) == self.in_type
            except ValueError:
                same = False
            if not same:
                raise ValueError(f"data.x_type is {tag!r}, but the network reads O(2) type {self.in_type}: "
                                 "features of structure_group='O2' with the options it was built for.")

    def forward(self, data) -> Tensor:
        x = getattr(data, "x", None)
        if x is None:
            raise ValueError(f"O2GemResNet reads data.x of O(2) type {self.in_type}; data has no x.")
        self.in_type.check(x, "data.x")
        self._check_declared(getattr(data, "x_type", None))
        if getattr(data, "reflection", None) is None:
            raise ValueError("O2GemResNet needs data.reflection: build the data with "
                             "mesh_to_data(..., structure_group='O2') (features.structure_group = \"O2\").")
        operators = self.operators(data)
        for block in self.blocks:
            x = block(x, operators)
        return self.classifier(self.readout(x))
