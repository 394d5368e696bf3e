"""One mesh item to one training sample: the frame field, input features and labels.

:func:`process_item` is the pure pipeline that the cache stores the result of:
``layout.read`` (validated mesh + labels) -> :func:`~gaugemesh.mesh_to_data` (float64)
-> :func:`~gaugemesh.features.add_features` -> labels -> ``pre_transform`` -> cast to
``dtype``. :class:`ProcessOptions` holds every option, and :meth:`ProcessOptions.key` is
what goes into the cache key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

import numpy as np
import torch
from torch_geometric.data import Data

from gaugemesh.datasets.base import Layout, MeshItem
from gaugemesh.features import DEFAULT_FEATURES, FeatureOptions, add_features, feature_names, feature_type_string
from gaugemesh.graph import mesh_to_data

__all__ = ["ProcessOptions", "process_item", "DTYPES"]

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
    """

    features: tuple[str, ...] = DEFAULT_FEATURES
    feature_options: FeatureOptions = FeatureOptions()
    connection: str = "levi-civita"
    frames: str = "default"
    repair: bool | None = None
    dtype: str = "float32"

    def __post_init__(self):
        object.__setattr__(self, "features", feature_names(self.features))
        feature_type_string(self.features, self.feature_options)  # unknown or repeated names fail here
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}.")
        if self.frames not in ("default", "potpourri3d"):
            raise ValueError(f"cached frames must be 'default' or 'potpourri3d' (got {self.frames!r}); "
                             "use the RandomGauge transform for random gauges.")

    def for_layout(self, layout: Layout) -> "ProcessOptions":
        """These options with ``repair`` resolved to the layout's default where unset."""
        return self if self.repair is not None else replace(self, repair=layout.default_repair)

    def key(self, layout: Layout, pre_transform: Callable | None = None) -> dict[str, Any]:
        """The JSON-able description of the options, layout and pre-transform (cache key)."""
        options = asdict(self.for_layout(layout))
        return {"options": options, "layout": layout.key(), "pre_transform": repr(pre_transform)}


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
        MeshError: the mesh or its labels cannot be used; the message names the mesh.
    """
    options = options.for_layout(layout)
    mesh, labels = layout.read(item, repair=options.repair)
    data = mesh_to_data(mesh, connection=options.connection, frames=options.frames, dtype=torch.float64)
    data = add_features(data, options.features, options.feature_options)
    for name, value in labels.items():
        data[name] = _tensor(value)
    data.name = item.name
    if pre_transform is not None:
        data = pre_transform(data)
    dtype = DTYPES[options.dtype]
    for name, value in data.items():
        if torch.is_tensor(value) and value.is_floating_point():
            data[name] = value.to(dtype)
    return data
