"""The one numpy -> torch boundary: a :class:`~gaugemesh.Mesh` becomes a PyG ``Data``.

Also the gauge change on a ``Data`` and the PyG transforms that wrap both.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from gaugemesh.geometry import frame_field
from gaugemesh.mesh import Mesh, validate_mesh

__all__ = ["mesh_to_data", "gauge_transform", "Geometry", "RandomGauge", "GEOMETRY_KEYS"]

#: Attributes :func:`mesh_to_data` writes besides ``pos`` and ``face``.
GEOMETRY_KEYS = ("frame", "edge_index", "theta", "transport", "edge_weight", "area")


def _wrap(angle: torch.Tensor) -> torch.Tensor:
    """Wrap to ``(-pi, pi]`` (see :func:`gaugemesh.geometry.wrap_angle`)."""
    wrapped = torch.pi - torch.remainder(torch.pi - angle, 2 * torch.pi)
    return torch.where(wrapped <= -torch.pi, wrapped + 2 * torch.pi, wrapped)


def mesh_to_data(
    mesh: Mesh,
    connection: str = "levi-civita",
    frames: str | np.ndarray = "default",
    seed: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Data:
    """Compute the frame field of ``mesh`` and return it as a PyG ``Data``.

    Args:
        mesh: A validated mesh (:func:`~gaugemesh.load_mesh`, :func:`~gaugemesh.validate_mesh`).
        connection: ``"levi-civita"`` (default) or ``"projection"``.
        frames: ``"default"``, ``"potpourri3d"``, ``"random"`` or an array ``[V, 3, 3]``.
        seed: Seed for ``frames="random"``.
        dtype: Floating dtype of the geometry tensors (computed in float64 either way).

    Returns:
        ``Data`` with ``pos [V, 3]``, ``face [3, F]``, ``frame [V, 3, 3]`` (rows e1, e2, n),
        ``edge_index [2, E]`` (row 0 source ``j``, row 1 target ``i``, sorted by target),
        ``theta [E]``, ``transport [E]``, ``edge_weight [E]``, ``area [V]``, and
        ``vertex_map [V]`` (each vertex's index in the source file).
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh_to_data needs a gaugemesh.Mesh (see load_mesh), got {type(mesh).__name__}.")
    field = frame_field(mesh.pos, mesh.faces, connection=connection, frames=frames, seed=seed)

    def real(a):
        return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)

    return Data(
        pos=real(mesh.pos),
        face=torch.from_numpy(np.ascontiguousarray(mesh.faces.T)),
        frame=real(field.frame),
        edge_index=torch.from_numpy(field.edge_index),
        theta=real(field.theta),
        transport=real(field.transport),
        edge_weight=real(field.edge_weight),
        area=real(field.area),
        vertex_map=torch.from_numpy(mesh.vertex_map),
        num_nodes=mesh.num_vertices,
    )


def gauge_transform(data: Data, phi: torch.Tensor) -> Data:
    """Rotate every frame by ``+phi`` about its normal and update the connection to match.

    ``theta' = theta - phi_i``, ``transport' = transport - phi_i + phi_j`` (edge ``j -> i``),
    ``e1' = cos(phi) e1 + sin(phi) e2``. Features are not touched: transform them with their
    ``FieldType`` by ``rho(-phi)``. Reads ``frame``, ``edge_index``, ``theta``, ``transport``;
    returns a shallow copy with those three replaced.

    Shapes:
        phi: ``[V]``.
    """
    phi = torch.as_tensor(phi).to(device=data.theta.device, dtype=data.theta.dtype)
    j, i = data.edge_index
    out = data.clone()
    out.theta = _wrap(data.theta - phi[i])
    out.transport = _wrap(data.transport - phi[i] + phi[j])
    if getattr(data, "frame", None) is not None:
        c, s = torch.cos(phi)[:, None], torch.sin(phi)[:, None]
        e1, e2, n = data.frame.unbind(1)
        out.frame = torch.stack([c * e1 + s * e2, -s * e1 + c * e2, n], dim=1)
    return out


class Geometry(BaseTransform):
    """Compute the frame field of a ``Data`` holding ``pos [V, 3]`` and ``face [3, F]``.

    Use as a ``pre_transform`` (it is the expensive step). Reads ``pos``, ``face``; writes
    ``pos``, ``face`` (validated, possibly repaired) and the keys of :func:`mesh_to_data`.
    Other per-vertex attributes are carried along ``vertex_map`` when ``repair`` changes
    the vertices.
    """

    def __init__(self, connection: str = "levi-civita", frames: str = "default", repair: bool = False):
        self.connection, self.frames, self.repair = connection, frames, repair

    def forward(self, data: Data) -> Data:
        dtype = data.pos.dtype if data.pos.is_floating_point() else torch.float32
        mesh = validate_mesh(data.pos.detach().cpu().double().numpy(), data.face.T.cpu().numpy(), repair=self.repair)
        geometry = mesh_to_data(mesh, self.connection, self.frames, dtype=dtype)
        out = data.clone()
        num = data.num_nodes
        vertex_map = geometry.vertex_map
        for key, value in data.items():
            if torch.is_tensor(value) and value.dim() > 0 and value.size(0) == num and key not in ("pos",):
                out[key] = value[vertex_map]
        for key, value in geometry.items():
            out[key] = value
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(connection={self.connection!r}, frames={self.frames!r}, repair={self.repair})"


class RandomGauge(BaseTransform):
    """Apply a uniformly random gauge change (an augmentation, or a test of equivariance).

    Reads ``frame``, ``edge_index``, ``theta``, ``transport``; writes them. Features ``x``
    are transformed too when ``x_type`` (a :class:`~gaugemesh.FieldType` or its string) is
    given, so that the sample stays the same field in the new gauge.
    """

    def __init__(self, x_type=None, generator: torch.Generator | None = None):
        self.x_type, self.generator = x_type, generator

    def forward(self, data: Data) -> Data:
        phi = (torch.rand(data.num_nodes, generator=self.generator, dtype=torch.float64) * 2 - 1) * torch.pi
        out = gauge_transform(data, phi)
        if self.x_type is not None and getattr(data, "x", None) is not None:
            from gaugemesh.so2 import FieldType

            ftype = self.x_type if isinstance(self.x_type, FieldType) else FieldType(str(self.x_type))
            out.x = ftype.transform(data.x, -phi.to(data.x.dtype))
        return out
