"""gaugemesh: gauge-equivariant convolutional networks on triangle meshes.

Data flows top to bottom: a mesh file (:func:`load_mesh`) becomes a validated
:class:`Mesh`, its frame field is computed in float64 numpy (:mod:`gaugemesh.geometry`)
and handed to torch once, as a PyG ``Data`` (:func:`mesh_to_data`). Features are typed
(:class:`FieldType`), layers live in :mod:`gaugemesh.nn`, networks in :mod:`gaugemesh.models`,
and :mod:`gaugemesh.testing` checks any layer's gauge equivariance.
"""

__version__ = "0.1.0"

from gaugemesh.mesh import Mesh, MeshError, validate_mesh  # noqa: E402
from gaugemesh.io import load_mesh  # noqa: E402
from gaugemesh.graph import Geometry, RandomGauge, gauge_transform, mesh_to_data  # noqa: E402
from gaugemesh.so2 import FieldType  # noqa: E402
from gaugemesh.features import FEATURES, FeatureOptions, InputFeatures, add_features, feature_type  # noqa: E402
from gaugemesh.nn import GemConv  # noqa: E402
from gaugemesh.models import GemResNet  # noqa: E402

__all__ = [
    "__version__",
    "Mesh",
    "MeshError",
    "validate_mesh",
    "load_mesh",
    "mesh_to_data",
    "gauge_transform",
    "Geometry",
    "RandomGauge",
    "FieldType",
    "FEATURES",
    "FeatureOptions",
    "InputFeatures",
    "add_features",
    "feature_type",
    "GemConv",
    "GemResNet",
]
