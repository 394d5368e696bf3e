"""Measured SO(3) equivariance of a network on a sphere mesh.

On the sphere ``S2 = SO(3)/SO(2)`` the Levi-Civita connection is invariant under every
rotation, so a gauge-equivariant network on it is rotation equivariant (Gerken et al.
2021): ``Phi(R f) = R Phi(f)`` with ``(R g)(x) = g(R^T x)``. A mesh is not invariant under
rotations, so a network on one is equivariant only up to discretization error. This module
measures that error by rotating the *signal* on a fixed mesh, which is what moves the
signal relative to the discretization:

* per-vertex scalar outputs: ``|Phi(R f) - I[Phi(f)](R^T x)| / |Phi(f)|``, with ``I`` the
  barycentric interpolation of :mod:`gaugemesh.sphere.interpolate` and norms weighted by
  the lumped mass (an L2 norm over the sphere);
* invariant outputs (one vector per mesh, e.g. pooled logits): ``|Phi(R f) - Phi(f)| / |Phi(f)|``.

Rotating the mesh together with the signal measures nothing about the sphere: every
quantity a gaugemesh network reads is intrinsic or rotates with the mesh, so the outputs
agree to rounding (``tests/test_sphere.py`` checks it).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from gaugemesh.geometry.laplacian import lumped_mass
from gaugemesh.graph import mesh_to_data
from gaugemesh.mesh import validate_mesh
from gaugemesh.sphere.harmonics import sh_signal
from gaugemesh.sphere.interpolate import locate_on_sphere
from gaugemesh.sphere.meshes import sphere_mesh

__all__ = ["OUTPUTS", "one_ring_moments", "rotation_equivariance_errors", "sphere_data"]

#: What :func:`rotation_equivariance_errors` compares: per-vertex scalars or invariants.
OUTPUTS = ("vertex", "invariant")


def sphere_data(family: str, level: int, connection: str = "levi-civita", seed: int = 0,
                dtype: torch.dtype = torch.float64) -> Data:
    """The frame field of :func:`~gaugemesh.sphere.sphere_mesh` as a PyG ``Data``
    (:func:`~gaugemesh.mesh_to_data`), geometry in ``dtype``.

    Shapes:
        ``Data`` of :func:`~gaugemesh.mesh_to_data`; ``pos [V, 3]`` on the unit sphere.
    """
    pos, faces = sphere_mesh(family, level, seed=seed)
    return mesh_to_data(validate_mesh(pos, faces), connection=connection, dtype=dtype)


@torch.no_grad()
def rotation_equivariance_errors(
    func: Callable[[Tensor], Tensor],
    pos: np.ndarray,
    faces: np.ndarray,
    coefficients: np.ndarray,
    rotations: np.ndarray,
    output: str = "vertex",
    dtype: torch.dtype = torch.float64,
) -> np.ndarray:
    """Relative SO(3) equivariance error of ``func`` for each rotation.

    ``func`` maps the input signal sampled at the vertices to the outputs: per-vertex
    scalars (``output="vertex"``) or one invariant vector (``output="invariant"``). The
    input is the band-limited signal of ``coefficients`` (:func:`~gaugemesh.sphere.sh_signal`),
    rotated exactly for each rotation. ``func = lambda x: x`` gives the error of the
    interpolation alone: the floor of the per-vertex measurement.

    Args:
        func: Called as ``func(x)`` with ``x`` ``[V, C]`` in ``dtype``.
        pos: Vertices on the unit sphere, as passed to the network's ``Data``.
        faces: Triangles of the mesh.
        coefficients: Real-SH coefficients of the ``C`` input channels.
        rotations: The rotations ``R``.
        output: ``"vertex"`` or ``"invariant"``.
        dtype: dtype of the input tensor.

    Shapes:
        pos: ``[V, 3]``; faces: ``[F, 3]``; coefficients: ``[(L + 1)**2, C]``;
        rotations: ``[R, 3, 3]``; ``func`` returns ``[V, K]`` (vertex) or ``[K]``
        (invariant); returns ``[R]``.

    Raises:
        ValueError: unknown ``output``, outputs of the wrong shape, or unrotated outputs of
            norm zero or not finite (a relative error of a network that returns zeros would
            say nothing).
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}.")
    pos, faces = np.asarray(pos, dtype=np.float64), np.asarray(faces, dtype=np.int64)
    coefficients = np.asarray(coefficients, dtype=np.float64).reshape(len(coefficients), -1)
    mass = lumped_mass(pos, faces)

    def run(rotation: np.ndarray | None) -> np.ndarray:
        x = torch.from_numpy(sh_signal(coefficients, pos, rotation)).to(dtype)
        out = func(x).detach().double().cpu().numpy()
        expected = (len(pos), out.shape[-1]) if output == "vertex" else out.shape[-1:]
        if out.ndim != (2 if output == "vertex" else 1) or out.shape != expected:
            raise ValueError(f"func must return [V, K] = [{len(pos)}, K] for output='vertex' or [K] for "
                             f"output='invariant', got shape {list(out.shape)}.")
        return out

    reference = run(None)
    norm = _norm(reference, mass if output == "vertex" else None)
    if not norm > 0:  # also catches NaN
        raise ValueError("func returned all zeros (or non-finite values) on the unrotated signal: "
                         "a relative error would be meaningless.")
    errors = []
    for rotation in np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3):
        rotated = run(rotation)
        if output == "vertex":
            face, weights = locate_on_sphere(pos, faces, pos @ rotation)  # the points R^T x_v
            expected = np.einsum("nk,nkc->nc", weights, reference[faces[face]])
            errors.append(_norm(rotated - expected, mass) / norm)
        else:
            errors.append(_norm(rotated - reference, None) / norm)
    return np.asarray(errors)


def _norm(values: np.ndarray, mass: np.ndarray | None) -> float:
    """L2 norm over the sphere (lumped mass) of per-vertex values, or the plain norm."""
    if mass is None:
        return float(np.linalg.norm(values))
    return float(np.sqrt((mass[:, None] * values**2).sum()))


def one_ring_moments(data: Data, orders: tuple[int, ...] = (1, 2)) -> np.ndarray:
    """Angular moments of the one-rings: for each order ``k``, the root mean square over the
    surface (lumped mass) of ``|sum_j w_ij exp(i k theta_ij)|``.

    A kernel of order ``k`` applied to a constant field returns the field times this
    moment. In the continuum it vanishes (a disc is isotropic); on a mesh it is a fixed
    pattern of the triangulation that does not rotate with the signal, and it does not
    shrink as the mesh is refined when the triangles keep their shapes. Gauge invariant
    (a modulus), so the frames do not matter.

    Args:
        data: ``Data`` of :func:`~gaugemesh.mesh_to_data` (reads ``edge_index``, ``theta``,
            ``edge_weight``, ``area``).
        orders: The orders ``k``.

    Shapes:
        returns ``[len(orders)]``.
    """
    source, target = data.edge_index.cpu().numpy()
    theta = data.theta.detach().double().cpu().numpy()
    weight = data.edge_weight.detach().double().cpu().numpy().reshape(len(theta), -1)[:, 0]
    area = data.area.detach().double().cpu().numpy()
    moments = []
    for k in orders:
        total = np.zeros(data.num_nodes, dtype=np.complex128)
        np.add.at(total, target, weight * np.exp(1j * k * theta))
        moments.append(np.sqrt((area * np.abs(total) ** 2).sum() / area.sum()))
    return np.asarray(moments)
