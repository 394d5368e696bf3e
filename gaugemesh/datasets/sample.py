"""One mesh becomes one sample: the frame field, input features and labels of one mesh item.

(The pooled, cached run over a whole dataset is :mod:`~gaugemesh.datasets.preprocess`.)
:func:`process_item` is the pure pipeline that the cache stores the result of:
``layout.read`` (validated mesh + labels) -> :func:`mesh_sample` (frame field, input features
and the coarse levels of a multi-scale model, float64) -> labels -> ``pre_transform`` -> cast
to ``dtype``. :class:`ProcessOptions` holds every option, and :meth:`ProcessOptions.key` is
what goes into the cache key.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

import numpy as np
import torch
from torch_geometric.data import Data

from gaugemesh.datasets.layouts import Layout, MeshItem
from gaugemesh.datasets.layouts.labels import vote
from gaugemesh.features import DEFAULT_FEATURES, STRUCTURE_GROUPS, FeatureOptions, feature_names, feature_type_string
from gaugemesh.geodesic_graph import with_geodesic_discs
from gaugemesh.graph import mesh_to_data
from gaugemesh.hierarchy.data import add_hierarchy
from gaugemesh.hierarchy.resample import needs_resampling, resample_mesh
from gaugemesh.mesh import Mesh

__all__ = ["ProcessOptions", "process_item", "mesh_sample", "labels_to_resampled", "cast_floats",
           "check_feature_options", "DTYPES"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class ProcessOptions:
    """Every option of the preprocessing pipeline (all of them enter the cache key).

    Attributes:
        features: Input feature names (see :data:`gaugemesh.features.FEATURES`).
        feature_options: Their parameters.
        connection: ``"levi-civita"`` or ``"projection"``.
        frames: ``"default"`` or ``"potpourri3d"``.
        repair: Repair meshes on load; ``None`` takes the layout's default.
        dtype: ``"float32"`` or ``"float64"``: the dtype of the stored floating tensors
            (geometry and features are computed in float64 either way).
        structure_group: ``"SO2"`` or ``"O2"`` (:func:`~gaugemesh.mesh_to_data`); in the cache
            key only when it is ``"O2"``, so that the caches of SO(2) runs stay valid.
        hierarchy_levels: Levels of the mesh hierarchy to store (the mesh itself counts as
            one; 1 stores none), for multi-scale models (:mod:`gaugemesh.hierarchy.data`).
        coarse_vertices: About how many vertices each coarse level has, whatever the mesh's
            resolution (see :func:`~gaugemesh.hierarchy.data.add_hierarchy`); empty: each
            level 4x fewer than the one before.
        input_vertices: ``0`` (off), or about how many vertices the network runs on: a mesh
            with more than twice as many is resampled to this density first
            (:mod:`gaugemesh.hierarchy.resample`), the sample is the resampled mesh's, and
            ``input_index`` carries its outputs back to every vertex of the mesh. What a model
            trained on meshes of one density needs to segment finer meshes of the same kind.
        kernel_radius: ``0`` (off: one-ring kernels), or the radius of geodesic-disc kernels
            as a share of ``sqrt(surface area)``, twice as wide per coarse level
            (:func:`~gaugemesh.geodesic_graph.with_geodesic_discs`): a kernel support measured
            on the surface, the same patch at any resolution. SO(2) only.
        radial_basis: Radial hat functions per disc edge (``edge_weight [E, R]``, for models
            with ``num_radial = R``); more than 1 needs ``kernel_radius``.
    """

    features: tuple[str, ...] = DEFAULT_FEATURES
    feature_options: FeatureOptions = FeatureOptions()
    connection: str = "levi-civita"
    frames: str = "default"
    repair: bool | None = None
    dtype: str = "float32"
    structure_group: str = "SO2"
    hierarchy_levels: int = 1
    coarse_vertices: tuple[int, ...] = ()
    input_vertices: int = 0
    kernel_radius: float = 0.0
    radial_basis: int = 1

    def __post_init__(self):
        object.__setattr__(self, "features", feature_names(self.features))
        feature_type_string(self.features, self.feature_options)  # unknown or repeated names fail here
        check_feature_options(self.feature_options)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}.")
        _positive_integer("hierarchy_levels", self.hierarchy_levels)
        object.__setattr__(self, "coarse_vertices", tuple(self.coarse_vertices))
        for count in self.coarse_vertices:
            _positive_integer("coarse_vertices", count)
        if self.coarse_vertices and len(self.coarse_vertices) != self.hierarchy_levels - 1:
            raise ValueError(f"coarse_vertices needs one count per coarse level ({self.hierarchy_levels - 1}), "
                             f"got {list(self.coarse_vertices)}.")
        count = self.input_vertices
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or not (count == 0 or count >= 4):
            raise ValueError(f"input_vertices must be 0 (off) or an integer >= 4, got {self.input_vertices!r}.")
        if self.input_vertices and self.structure_group != "SO2":
            raise ValueError("input_vertices (resampling) is for SO(2) meshes only; set it to 0 for O(2).")
        self._check_discs()
        if self.frames not in ("default", "potpourri3d"):
            raise ValueError(f"cached frames must be 'default' or 'potpourri3d' (got {self.frames!r}); "
                             "use the RandomGauge transform for random gauges.")
        if self.structure_group not in STRUCTURE_GROUPS:
            raise ValueError(f"structure_group must be one of {STRUCTURE_GROUPS}, got {self.structure_group!r}.")
        if self.structure_group == "O2" and (self.connection, self.frames) != ("levi-civita", "default"):
            raise ValueError("structure_group 'O2' takes connection 'levi-civita' and frames 'default' only, got "
                             f"connection {self.connection!r} and frames {self.frames!r}.")

    def _check_discs(self) -> None:
        radius = self.kernel_radius
        if isinstance(radius, bool) or not isinstance(radius, numbers.Real) or not (radius == 0 or 0 < radius < math.inf):
            raise ValueError(f"kernel_radius must be 0 (off) or a positive share of sqrt(area), got {radius!r}.")
        _positive_integer("radial_basis", self.radial_basis)
        if self.radial_basis > 1 and not self.kernel_radius:
            raise ValueError(f"radial_basis = {self.radial_basis} needs kernel_radius > 0 (a radial profile over "
                             "geodesic discs), e.g. kernel_radius = 0.05.")
        if self.kernel_radius and self.structure_group != "SO2":
            raise ValueError("kernel_radius (geodesic discs) is for SO(2) meshes only; set it to 0 for O(2).")

    def for_layout(self, layout: Layout) -> "ProcessOptions":
        """These options with ``repair`` resolved to the layout's default where unset."""
        return self if self.repair is not None else replace(self, repair=layout.default_repair)

    def key(self, layout: Layout, pre_transform: Callable | None = None) -> dict[str, Any]:
        """The JSON-able description of the options, layout and pre-transform (cache key)."""
        options = asdict(self.for_layout(layout))
        if options["structure_group"] == "SO2":  # keyed only when O(2): SO(2) caches from before stay valid
            del options["structure_group"]
        for name, unused in (("hierarchy_levels", 1), ("coarse_vertices", ()), ("input_vertices", 0),
                             ("kernel_radius", 0.0), ("radial_basis", 1)):
            if options[name] == unused:  # keyed only when used: caches from before stay valid
                del options[name]
        return {"options": options, "layout": layout.key(), "pre_transform": repr(pre_transform)}


def _positive_integer(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def check_feature_options(options: FeatureOptions) -> None:
    """Refuse feature options no mesh can be processed with, before any mesh is.

    Checked here, once, because every mesh would fail on them alone (``eigs=0`` gives no
    spectrum), and a run of nothing but skipped meshes looks like a dataset problem.

    Raises:
        ValueError: a count below 1 or not an integer, or a time range not ``0 < t_min <= t_max``.
    """
    for name in ("hks_count", "grad_count", "eigs"):
        _positive_integer(name, getattr(options, name))
    try:
        low, high = (float(t) for t in options.t_range)
    except (TypeError, ValueError):
        low = high = math.nan
    if not (0 < low <= high < math.inf):
        raise ValueError(f"t_range must be two finite times 0 < t_min <= t_max, got {options.t_range!r}.")


def _tensor(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    return value


def process_item(layout: Layout, item: MeshItem, options: ProcessOptions = ProcessOptions(),
                 pre_transform: Callable[[Data], Data] | None = None) -> Data:
    """Build the sample of one mesh.

    Returns:
        The ``Data`` of :func:`~gaugemesh.mesh_to_data` plus ``x``, ``x_type``, ``y``,
        ``name`` and the layout's evaluation attributes.

    Raises:
        MeshError: the mesh or its labels cannot be used (a non-orientable mesh unless
            ``options.structure_group`` is ``"O2"``); the message names the mesh.
    """
    options = options.for_layout(layout)
    mesh, labels = layout.read(item, repair=options.repair, structure_group=options.structure_group)
    data = mesh_sample(mesh, options)
    for name, value in labels.items():
        data[name] = _tensor(value)
    if "input_index" in data:
        data = labels_to_resampled(data)
    data.name = item.name
    if pre_transform is not None:
        data = pre_transform(data)
    return cast_floats(data, DTYPES[options.dtype])


def mesh_sample(mesh: Mesh, options: ProcessOptions = ProcessOptions()) -> Data:
    """The unlabelled sample of a validated mesh, in float64: frame field, input features and,
    with ``options.hierarchy_levels > 1``, the coarse levels. ``predict`` builds a new mesh's
    sample with this, so that it is the sample training saw.

    With ``options.input_vertices`` and a mesh more than twice that dense, the sample is that
    of the resampled mesh (:func:`~gaugemesh.hierarchy.resample.resample_mesh`), with
    ``vertex_map`` (each sample vertex's file vertex), ``input_index [V_mesh]`` (the sample
    vertex that stands for each vertex of ``mesh``) and ``input_vertex_map`` (``mesh``'s own
    ``vertex_map``)."""
    if needs_resampling(mesh, options.input_vertices):
        resampled = resample_mesh(mesh, options.input_vertices)
        data = mesh_sample(resampled.mesh, replace(options, input_vertices=0))
        data.vertex_map = torch.from_numpy(mesh.vertex_map[resampled.mesh.vertex_map])
        data.input_index = torch.from_numpy(resampled.index)
        data.input_vertex_map = torch.from_numpy(mesh.vertex_map)
        return data
    # The features cross into torch with the frames; float64 until the caller casts.
    data = mesh_to_data(mesh, connection=options.connection, frames=options.frames, dtype=torch.float64,
                        features=options.features, feature_options=options.feature_options,
                        structure_group=options.structure_group)
    if options.hierarchy_levels > 1:
        data = add_hierarchy(data, options.hierarchy_levels, connection=options.connection,
                             coarse_vertices=options.coarse_vertices or None)
    if options.kernel_radius:  # after the hierarchy: its maps follow the mesh's own edges
        data = with_geodesic_discs(data, float(options.kernel_radius), options.radial_basis)
    return data


#: Label keys that index the input mesh's vertices (``[k, N]``): a resampled sample reads its
#: predictions for those elements through ``input_index``.
_VERTEX_INDEX_KEYS = ("seg_edge_index", "seg_face_index")


def labels_to_resampled(data: Data) -> Data:
    """The labels of a resampled sample (see :func:`mesh_sample`), given on the input mesh,
    carried to what the network sees: ``y`` becomes the vote of the input vertices each sample
    vertex stands for (what the loss trains on); edges and faces keep their labels and have
    their vertex indices sent through ``input_index``, so that they are scored on the input
    mesh's elements as they are. In place; returns ``data``."""
    index = data.input_index
    if getattr(data, "y", None) is not None and data.y.dim() == 1:
        y = data.y.numpy()
        classes = int(y.max()) + 1 if y.size else 1
        data.y = torch.from_numpy(vote(index.numpy()[:, None], y, data.num_nodes, max(classes, 1)))
    for key in _VERTEX_INDEX_KEYS:
        if getattr(data, key, None) is not None:
            data[key] = index[data[key]]
    return data


def cast_floats(data: Data, dtype: torch.dtype) -> Data:
    """Every floating tensor of ``data`` cast to ``dtype``, in place; integer ones untouched."""
    for name, value in data.items():
        if torch.is_tensor(value) and value.is_floating_point():
            data[name] = value.to(dtype)
    return data
