"""The sphere as a homogeneous space ``SO(3)/SO(2)``: meshes, band-limited signals, and the
measured rotation equivariance of networks on it.

* :mod:`~gaugemesh.sphere.meshes`: icospheres, UV spheres and jittered icospheres at
  matching refinement levels (float64 numpy);
* :mod:`~gaugemesh.sphere.harmonics`: real orthonormal spherical harmonics, random
  band-limited signals and their exact rotation ``f(R^T x)``;
* :mod:`~gaugemesh.sphere.interpolate`: per-vertex values read off at any point of the sphere;
* :mod:`~gaugemesh.sphere.equivariance`: ``|Phi(R f) - R Phi(f)| / |Phi(f)|`` for a network
  on a sphere mesh (torch).

``docs/sphere.md`` gives the theory and the measured errors.
"""

from gaugemesh.sphere.equivariance import OUTPUTS, one_ring_moments, rotation_equivariance_errors, sphere_data
from gaugemesh.sphere.harmonics import (
    fit_spherical_harmonics,
    num_harmonics,
    random_rotations,
    random_sh_coefficients,
    real_spherical_harmonics,
    sh_index,
    sh_signal,
)
from gaugemesh.sphere.interpolate import interpolate_on_sphere, locate_on_sphere
from gaugemesh.sphere.meshes import SPHERE_FAMILIES, icosphere, jittered_icosphere, mean_edge_length, sphere_mesh, uv_sphere

__all__ = [
    "OUTPUTS",
    "SPHERE_FAMILIES",
    "fit_spherical_harmonics",
    "icosphere",
    "interpolate_on_sphere",
    "jittered_icosphere",
    "locate_on_sphere",
    "mean_edge_length",
    "num_harmonics",
    "one_ring_moments",
    "random_rotations",
    "random_sh_coefficients",
    "real_spherical_harmonics",
    "rotation_equivariance_errors",
    "sh_index",
    "sh_signal",
    "sphere_data",
    "sphere_mesh",
    "uv_sphere",
]
