"""Baselines for ablations: a plain PyG GCN on the gauge-invariant part of the input."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv

from gaugemesh.nn import InvariantReadout
from gaugemesh.so2 import FieldType

__all__ = ["GCNBaseline"]


class GCNBaseline(nn.Module):
    """Residual ``GCNConv`` stack with batch norm and ReLU, for comparison with GemResNet.

    A GCN has no notion of direction, so it reads only gauge-invariant inputs: the scalars
    of ``data.x`` and the norms of its higher-order fields.

    Args:
        in_type: Type of ``data.x``.
        num_classes: Logits per vertex.
        hidden: Channels of every hidden layer.
        num_layers: Number of ``GCNConv`` layers.
        dropout: Dropout probability after each layer.

    Shapes:
        - data.x: ``[V, in_type.dim]``; data.edge_index: ``[2, E]``
        - output: ``[V, num_classes]``
    """

    def __init__(self, in_type: FieldType | str, num_classes: int, hidden: int = 64, num_layers: int = 6,
                 dropout: float = 0.0):
        super().__init__()
        self.in_type = FieldType(in_type)
        self.invariants = InvariantReadout(self.in_type, mode="norms")
        self.encode = nn.Linear(self.invariants.out_type.dim, hidden)
        self.convs = nn.ModuleList(GCNConv(hidden, hidden) for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_classes)
        self.out_type = FieldType.scalars(num_classes)

    def forward(self, data, operators=None) -> Tensor:
        """``geometry`` is accepted for a common signature with
        :class:`~gaugemesh.models.GemResNet` and ignored: a GCN reads ``edge_index`` only."""
        self.in_type.check(data.x, "data.x")
        self.in_type.check_declared(getattr(data, "x_type", None))
        h = self.encode(self.invariants(data.x))
        for conv, norm in zip(self.convs, self.norms):
            h = h + self.dropout(torch.relu(norm(conv(h, data.edge_index))))
        return self.classifier(h)
