"""The two classifiers of the spherical digits: a gauge-equivariant network on a sphere
mesh, and a planar CNN on the equirectangular image of the same signal."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch, Data

from gaugemesh.models import GemResBlock
from gaugemesh.nn import ConvOperators, InvariantReadout
from gaugemesh.so2 import FieldType

__all__ = ["GemSphereClassifier", "PlanarCNN", "batch_geometry", "count_parameters"]


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def batch_geometry(data: Data, copies: int, single: ConvOperators | None = None) -> ConvOperators:
    """The geometry of ``copies`` copies of one mesh, as PyG batches them: the operators
    are assembled from ``single``'s (built once) block by block."""
    single = ConvOperators.from_data(data) if single is None else single
    graph = Data(edge_index=data.edge_index, theta=data.theta, transport=data.transport,
                 edge_weight=data.edge_weight, num_nodes=data.num_nodes)
    return ConvOperators.from_data(Batch.from_data_list([graph] * copies), parts=[single] * copies)


class GemSphereClassifier(nn.Module):
    """:class:`~gaugemesh.models.GemResBlock` s on one sphere mesh, the invariant readout
    (scalars and norms), an area-weighted mean (and a max) over each sphere's vertices, and
    a linear classifier. Every step is gauge equivariant and the pooling is invariant, so the
    logits are rotation invariant up to the discretization error of the mesh.

    Args:
        num_classes: Logits per sphere.
        width: Fields per order ``0..max_order`` in the hidden layers.
        max_order: Highest order of the hidden fields.
        num_blocks: Residual blocks (two convolutions each).
        pooling: ``"mean"`` (area-weighted) or ``"mean+max"`` (both, concatenated).

    Shapes:
        - x: ``[B, V]`` one scalar per vertex
        - mass: ``[V]`` vertex areas (the pooling weights)
        - geometry: of ``B`` copies of the mesh (:func:`batch_geometry`)
        - output: ``[B, num_classes]``
    """

    def __init__(self, num_classes: int = 10, width: int = 8, max_order: int = 2, num_blocks: int = 4,
                 pooling: str = "mean"):
        super().__init__()
        if pooling not in ("mean", "mean+max"):
            raise ValueError(f"pooling must be 'mean' or 'mean+max', got {pooling!r}.")
        self.pooling = pooling
        hidden = FieldType.band(width, max_order)
        types = [FieldType.scalars(1)] + [hidden] * num_blocks
        self.blocks = nn.ModuleList(GemResBlock(a, b) for a, b in zip(types, types[1:]))
        self.readout = InvariantReadout(hidden, mode="norms")
        pools = 2 if pooling == "mean+max" else 1
        self.classifier = nn.Linear(pools * self.readout.out_type.dim, num_classes)

    def forward(self, x: Tensor, geometry: ConvOperators, mass: Tensor) -> Tensor:
        batch, vertices = x.shape
        h = x.reshape(batch * vertices, 1)
        for block in self.blocks:
            h = block(h, geometry)
        h = self.readout(h).view(batch, vertices, -1)
        weights = (mass / mass.sum()).to(h.dtype)
        pooled = torch.einsum("bvc,v->bc", h, weights)
        if self.pooling == "mean+max":
            pooled = torch.cat([pooled, h.amax(1)], -1)
        return self.classifier(pooled)


class PlanarCNN(nn.Module):
    """A plain CNN on the equirectangular (latitude x longitude) image: four 3x3
    convolutions with batch norm and ReLU, a 2x2 max pool after the second, then a global
    mean and max pool and a linear classifier. Longitude wraps around (circular padding),
    latitude is zero padded: the standard way to run a planar CNN on a spherical image.

    Shapes:
        - x: ``[B, rows, columns]``
        - output: ``[B, num_classes]``
    """

    def __init__(self, num_classes: int = 10, channels: int = 16):
        super().__init__()
        widths = [1, channels, channels, 2 * channels, 2 * channels]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=(1, 0)) for a, b in zip(widths, widths[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm2d(b) for b in widths[1:])
        self.classifier = nn.Linear(2 * widths[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = x[:, None]
        for k, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            h = torch.relu(norm(conv(F.pad(h, (1, 1, 0, 0), mode="circular"))))
            if k == 1:
                h = F.max_pool2d(h, 2)
        return self.classifier(torch.cat([h.mean((2, 3)), h.amax((2, 3))], -1))
