"""The one numpy -> torch boundary: a :class:`~gaugemesh.Mesh` becomes a PyG ``Data``.

Everything a sample holds (the frame field and, when asked for, the input features) is
computed in float64 numpy first and crosses into torch once, in :func:`mesh_to_data`. Also
the gauge change on a ``Data`` and the PyG transforms that wrap both, for users who build
their own pipelines on ``Data`` objects.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from gaugemesh.features import DEFAULT_FEATURES, FeatureOptions, compute_features, feature_names, resolve_features
from gaugemesh.geometry import frame_field
from gaugemesh.geometry.o2_frame_field import o2_frame_field
from gaugemesh.mesh import Mesh, MeshError, validate_mesh

__all__ = ["mesh_to_data", "gauge_transform", "random_gauge", "add_features", "ComputeFrameField", "InputFeatures",
           "RandomGauge", "FRAME_FIELD_KEYS"]

#: Attributes :func:`mesh_to_data` writes besides ``pos`` and ``face``.
FRAME_FIELD_KEYS = ("frame", "edge_index", "theta", "transport", "edge_weight", "area")


def _wrap(angle: torch.Tensor) -> torch.Tensor:
    """Wrap to ``(-pi, pi]`` (see :func:`gaugemesh.geometry.wrap_angle`)."""
    wrapped = torch.pi - torch.remainder(torch.pi - angle, 2 * torch.pi)
    return torch.where(wrapped <= -torch.pi, wrapped + 2 * torch.pi, wrapped)


def _check_dtype(dtype: object) -> None:
    """Refuse a ``dtype`` that is not a real floating dtype: the angles would be truncated."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"mesh_to_data: dtype must be a real floating torch dtype (e.g. torch.float32 or "
                        f"torch.float64), got {dtype!r}; angles, frames and areas are not integers.")


def _check_representable(arrays: dict[str, np.ndarray], dtype: torch.dtype) -> None:
    """Refuse float64 geometry that is not finite, or that the cast to ``dtype`` would overflow.

    Refused rather than rescaled: ``pos`` and ``area`` are in the caller's units, and every
    length-dependent feature and prediction depends on them, so only the caller can choose
    another unit (or a wider dtype).
    """
    largest = torch.finfo(dtype).max
    for key, array in arrays.items():
        if not np.isfinite(array).all():
            raise MeshError(f"mesh_to_data: {key} is not finite even in float64; build the mesh with "
                            "validate_mesh or load_mesh, which refuse non-finite and out-of-range coordinates.")
        peak = float(np.abs(array).max(initial=0.0))
        if peak > largest:
            raise MeshError(f"mesh_to_data: {key} reaches {peak:.3g}, beyond the largest {dtype} ({largest:.3g}); "
                            "rescale the mesh (e.g. divide pos by its bounding-box diagonal) "
                            "or pass dtype=torch.float64.")


def mesh_to_data(
    mesh: Mesh,
    connection: str = "levi-civita",
    frames: str | np.ndarray = "default",
    seed: int | None = None,
    dtype: torch.dtype = torch.float32,
    features: Sequence[str] | None = None,
    feature_options: FeatureOptions = FeatureOptions(),
    structure_group: str = "SO2",
) -> Data:
    """Compute the frame field of ``mesh`` (and its input features) and return a PyG ``Data``.

    Args:
        mesh: A validated mesh (:func:`~gaugemesh.load_mesh`, :func:`~gaugemesh.validate_mesh`).
        connection: ``"levi-civita"`` (default) or ``"projection"``.
        frames: ``"default"``, ``"potpourri3d"``, ``"random"`` or an array ``[V, 3, 3]``.
        seed: Seed for ``frames="random"``.
        dtype: Real floating dtype of the geometry tensors (computed in float64 either way).
        features: Input features to compute (see :data:`gaugemesh.features.FEATURES`), in
            float64 from the same frame field, written as ``x`` and ``x_type``; ``None``
            writes neither.
        feature_options: Their parameters.
        structure_group: ``"SO2"`` (default), or ``"O2"`` for the O(2) frame field of any
            surface, orientable or not (``docs/conventions.md``): it adds ``reflection [E]``
            (bool), the transporters' reflections; ``"levi-civita"`` only. Features are then
            expressed in its frames and ``x_type`` is an :class:`~gaugemesh.o2.O2FieldType`
            string (see :mod:`gaugemesh.features`).

    Returns:
        ``Data`` with ``pos [V, 3]``, ``face [3, F]``, ``frame [V, 3, 3]`` (rows e1, e2, n),
        ``edge_index [2, E]`` (row 0 source ``j``, row 1 target ``i``, sorted by target),
        ``theta [E]``, ``transport [E]``, ``edge_weight [E]``, ``area [V]``,
        ``vertex_map [V]`` (each vertex's index in the source file) and, with ``features``,
        ``x [V, dim]`` and ``x_type`` (a field type string).

    Raises:
        TypeError: ``mesh`` is not a :class:`~gaugemesh.Mesh`, or ``dtype`` is not a real
            floating dtype.
        MeshError: a geometry tensor would not be finite in ``dtype`` (e.g. ``area`` of a mesh
            with coordinates of 1e20 in float32): rescale the mesh or use a wider dtype.
        ValueError: an unknown or repeated feature name, or options ``"O2"`` does not take.
        MeshError: an SO(2) frame field asked of a non-orientable mesh.
    """
    if features is not None:
        resolve_features(features)  # unknown names fail before the frame field is computed
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh_to_data needs a gaugemesh.Mesh (see load_mesh), got {type(mesh).__name__}.")
    _check_dtype(dtype)
    # Checked before the cast, which would turn overflow into inf without a word; pos first,
    # so a Mesh built without validate_mesh fails before the frame field is computed from it.
    _check_representable({"pos": mesh.pos}, dtype)
    field = _frame_field(mesh, structure_group, connection, frames, seed)
    real = {"pos": mesh.pos, "frame": field.frame, "theta": field.theta, "transport": field.transport,
            "edge_weight": field.edge_weight, "area": field.area}
    extra = {} if structure_group == "SO2" else {"reflection": torch.from_numpy(field.reflection.copy())}
    if features is not None:
        real["x"], extra["x_type"] = compute_features(mesh.pos, mesh.faces, field.frame, features, feature_options,
                                                      structure_group)
    _check_representable({key: a for key, a in real.items() if key != "pos"}, dtype)

    def cast(key: str) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(real[key])).to(dtype)

    if features is not None:
        extra["x"] = cast("x")
    return Data(
        pos=cast("pos"),
        face=torch.from_numpy(np.ascontiguousarray(mesh.faces.T)),
        frame=cast("frame"),
        edge_index=torch.from_numpy(field.edge_index),
        theta=cast("theta"),
        transport=cast("transport"),
        edge_weight=cast("edge_weight"),
        area=cast("area"),
        vertex_map=torch.from_numpy(mesh.vertex_map),
        num_nodes=mesh.num_vertices,
        **extra,
    )


def _frame_field(mesh: Mesh, structure_group: str, connection, frames, seed):
    """The SO(2) frame field, or the O(2) one (:mod:`gaugemesh.geometry.o2_frame_field`)."""
    if structure_group == "SO2":
        if not mesh.orientable:
            raise MeshError("mesh_to_data: the mesh is non-orientable, so it has no SO(2) frame field; pass "
                            "structure_group=\"O2\" for one whose transporters may reflect.")
        return frame_field(mesh.pos, mesh.faces, connection=connection, frames=frames, seed=seed)
    if structure_group != "O2":
        raise ValueError(f"structure_group must be 'SO2' or 'O2', got {structure_group!r}.")
    if connection != "levi-civita":
        raise ValueError(f"structure_group='O2' supports connection='levi-civita' only, got connection={connection!r}.")
    return o2_frame_field(mesh.pos, mesh.faces, frames=frames, seed=seed)


def _checked_gauge(data: Data, phi: torch.Tensor) -> torch.Tensor:
    """``phi`` on the device and in the dtype of ``theta``, after checking it and the angles.

    NaN would otherwise spread through every layer without an error. All three finiteness
    tests are reduced to one flag, so a GPU batch pays one synchronisation, not three.
    """
    phi = torch.as_tensor(phi)
    if phi.is_complex():
        raise TypeError(f"gauge_transform: phi must be real angles in radians, got {phi.dtype}.")
    phi = phi.to(device=data.theta.device, dtype=data.theta.dtype)
    if tuple(phi.shape) != (data.num_nodes,):
        raise ValueError(f"gauge_transform: phi must have shape [V] = [{data.num_nodes}] (one angle per vertex), "
                         f"got {list(phi.shape)}.")
    angles = {"phi": phi, "theta": data.theta, "transport": data.transport}
    if not bool(torch.stack([torch.isfinite(a).all() for a in angles.values()]).all()):
        bad = [f"{key} ({int((~torch.isfinite(a)).sum())} of {a.numel()})" for key, a in angles.items()
               if not torch.isfinite(a).all()]
        raise ValueError(f"gauge_transform: NaN or infinite angles in {', '.join(bad)}; recompute theta and "
                         "transport with mesh_to_data, and pass a finite phi.")
    return phi


def random_gauge(num_nodes: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """A uniformly random gauge change ``phi`` ``[V]`` in ``[-pi, pi)``: the one draw behind
    :class:`RandomGauge`, the training augmentation and :mod:`gaugemesh.testing`.

    Drawn in float64 on the CPU from ``generator`` (torch's default one if ``None``, whose
    state a training checkpoint keeps), then moved to ``device`` and ``dtype``.
    """
    phi = (torch.rand(num_nodes, generator=generator, dtype=torch.float64) * 2 - 1) * torch.pi
    return phi.to(device=device, dtype=dtype)


def gauge_transform(data: Data, phi: torch.Tensor) -> Data:
    """Rotate every frame by ``+phi`` about its normal and update the connection to match.

    ``theta' = theta - phi_i``, ``transport' = transport - phi_i + phi_j`` (edge ``j -> i``),
    ``e1' = cos(phi) e1 + sin(phi) e2``. Features are not touched: transform them with their
    ``FieldType`` by ``rho(-phi)``. Reads ``frame``, ``edge_index``, ``theta``, ``transport``;
    returns a shallow copy with those three replaced.

    Shapes:
        phi: ``[V]``.

    Raises:
        TypeError: ``phi`` is complex.
        ValueError: ``phi`` is not ``[V]``, or ``phi``, ``theta`` or ``transport`` holds NaN
            or infinite angles.
    """
    phi = _checked_gauge(data, phi)
    j, i = data.edge_index
    out = data.clone()
    out.theta = _wrap(data.theta - phi[i])
    out.transport = _wrap(data.transport - phi[i] + phi[j])
    if getattr(data, "frame", None) is not None:
        c, s = torch.cos(phi)[:, None], torch.sin(phi)[:, None]
        e1, e2, n = data.frame.unbind(1)
        out.frame = torch.stack([c * e1 + s * e2, -s * e1 + c * e2, n], dim=1)
    return out


class ComputeFrameField(BaseTransform):
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
        pos = data.pos.detach().cpu()
        # validate_mesh refuses complex positions; .double() would silently drop the imaginary part.
        pos = pos if pos.is_complex() else pos.double()
        mesh = validate_mesh(pos.numpy(), data.face.T.cpu().numpy(), repair=self.repair)
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
        phi = random_gauge(data.num_nodes, self.generator)
        out = gauge_transform(data, phi)
        if self.x_type is not None and getattr(data, "x", None) is not None:
            from gaugemesh.so2 import FieldType

            ftype = self.x_type if isinstance(self.x_type, FieldType) else FieldType(str(self.x_type))
            out.x = ftype.transform(data.x, -phi.to(data.x.dtype))
        return out


def add_features(data: Data, names: Sequence[str] = DEFAULT_FEATURES, options: FeatureOptions = FeatureOptions()) -> Data:
    """Write ``x`` (dtype of ``data.pos``) and ``x_type`` (a string) into a copy of ``data``.

    For ``Data`` built elsewhere (a PyG pipeline); from a mesh, ask :func:`mesh_to_data` for
    ``features``, which computes them before anything crosses into torch. Reads ``pos``,
    ``face`` and ``frame`` (the frame field of :func:`mesh_to_data` or
    :class:`ComputeFrameField`: vector features are expressed in it, so it is never guessed
    here). Compute in float64 ``Data`` for the most accurate features; they are cast to
    ``pos``'s dtype.

    Shapes:
        pos: ``[V, 3]``; face: ``[3, F]``; frame: ``[V, 3, 3]``; writes x ``[V, dim]``.

    Raises:
        ValueError: ``data`` has no ``frame``; or an unknown or repeated feature name.
    """
    if getattr(data, "frame", None) is None:
        raise ValueError("add_features needs data.frame, the frame field its vector features are expressed in: "
                         "build the Data with mesh_to_data(mesh, features=[...]), or apply ComputeFrameField first.")
    pos = data.pos.detach().cpu().double().numpy()
    faces = data.face.detach().cpu().T.numpy().astype(np.int64)
    frame = data.frame.detach().cpu().double().numpy()
    x, type_string = compute_features(pos, faces, frame, names, options)
    out = data.clone()
    out.x = torch.from_numpy(x).to(dtype=data.pos.dtype, device=data.pos.device)
    out.x_type = type_string
    return out


class InputFeatures(BaseTransform):
    """Compute input features as a (cached) pre-transform after :class:`ComputeFrameField`.
    Reads ``pos``, ``face``, ``frame``; writes ``x`` and ``x_type``. See :func:`add_features`."""

    def __init__(self, names: Sequence[str] = DEFAULT_FEATURES, options: FeatureOptions = FeatureOptions()):
        resolve_features(names)
        self.names, self.options = feature_names(names), options

    def forward(self, data: Data) -> Data:
        return add_features(data, self.names, self.options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(names={self.names!r}, options={self.options!r})"
