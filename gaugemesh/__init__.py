"""gaugemesh: gauge-equivariant convolutional networks on triangle meshes.

Data flows top to bottom: a mesh file (:func:`load_mesh`) becomes a validated
:class:`Mesh`, its frame field is computed in float64 numpy (:mod:`gaugemesh.geometry`)
and handed to torch once, as a PyG ``Data`` (:func:`mesh_to_data`). Features are typed
(:class:`FieldType`), layers live in :mod:`gaugemesh.nn`, networks in :mod:`gaugemesh.models`,
and :mod:`gaugemesh.testing` checks any layer's gauge equivariance.

The names below are imported on first use, so that importing a submodule (the command line
answering ``--help``, a numpy-only geometry function) does not pay for torch and PyG.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Each public name and the module that defines it.
_EXPORTS = {
    "Mesh": "gaugemesh.mesh",
    "MeshError": "gaugemesh.mesh",
    "validate_mesh": "gaugemesh.mesh",
    "load_mesh": "gaugemesh.io",
    "mesh_to_data": "gaugemesh.graph",
    "gauge_transform": "gaugemesh.graph",
    "ComputeFrameField": "gaugemesh.graph",
    "RandomGauge": "gaugemesh.graph",
    "FieldType": "gaugemesh.so2",
    "O2FieldType": "gaugemesh.o2",
    "FEATURES": "gaugemesh.features",
    "FeatureOptions": "gaugemesh.features",
    "InputFeatures": "gaugemesh.graph",
    "add_features": "gaugemesh.graph",
    "feature_type": "gaugemesh.features",
    "GemConv": "gaugemesh.nn",
    "GemResNet": "gaugemesh.models",
    "GemUNet": "gaugemesh.models",
    "O2GemResNet": "gaugemesh.models",
    "Predictor": "gaugemesh.training.predict_job",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # static checkers and IDEs see plain imports
    from gaugemesh.features import FEATURES, FeatureOptions, feature_type
    from gaugemesh.graph import ComputeFrameField, InputFeatures, RandomGauge, add_features, gauge_transform, mesh_to_data
    from gaugemesh.io import load_mesh
    from gaugemesh.mesh import Mesh, MeshError, validate_mesh
    from gaugemesh.models import GemResNet, GemUNet, O2GemResNet
    from gaugemesh.nn import GemConv
    from gaugemesh.o2 import O2FieldType
    from gaugemesh.so2 import FieldType
    from gaugemesh.training.predict_job import Predictor


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gaugemesh' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
