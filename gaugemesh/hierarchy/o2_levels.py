"""O(2) maps between the levels of a mesh hierarchy: transport angle and reflection flag.

With O(2) frames (:mod:`gaugemesh.geometry.o2_frame_field`) a fine vertex's frame, carried to
its coarse vertex, may arrive with the other handedness than the coarse frame: its normal
points along the fine vertex's local orientation, the coarse normal along the coarse vertex's,
and on a non-orientable surface (or in a reflected gauge) the two need not agree. The map from
fine vertex ``f`` to coarse vertex ``c`` is therefore an element of O(2),
``(angle[f], reflection[f])``: a tangent vector with coordinate ``z`` in ``f``'s frame has
coordinate ``exp(i angle) z`` (no reflection) or ``exp(i angle) conj(z)`` (reflection) in
``c``'s frame, as for the O(2) ``transport`` of an edge (``docs/conventions.md``).

The rules are :mod:`~gaugemesh.hierarchy.levels`' ones, composed in O(2):

* ``"path"``: the fine transporters ``(transport, reflection)`` composed along the shortest
  edge path from ``f`` to the sample ``s`` of ``c`` (last step leftmost), then the step from
  ``s``'s fine frame to ``c``'s coarse frame at the same point.
* ``"projection"``: that step taken directly from ``f``'s frame to ``c``'s.

The step between two frames at (about) one point: ``sigma = sign(n_from . n_to)``; the
smallest rotation taking ``n_from`` onto ``sigma n_to`` carries ``e1_from`` to a vector of
polar angle ``a`` in the target frame; the step is ``(a, sigma < 0)``. Both rules are exactly
gauge covariant: for O(2) gauge changes ``h_f`` (fine) and ``h_c`` (coarse) the map becomes
``h_c^-1 g h_f``. On a consistently oriented mesh in frames along its orientation no flag is
set and the angles are the SO(2) rule's.

Pure float64 numpy; no torch.
"""

from __future__ import annotations

import numpy as np

from gaugemesh.geometry.connection import rotate_normal_onto
from gaugemesh.geometry.measures import wrap_angle
from gaugemesh.geometry.o2_frame_field import O2FrameField

__all__ = ["o2_map_transport", "o2_path_compose", "o2_frame_step"]


def o2_path_compose(angle: np.ndarray, reflection: np.ndarray, parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The O(2) elements of the steps composed along the parent chain of every vertex to its root.

    ``(angle[v], reflection[v])`` is the step from ``v`` to ``parent[v]`` (the identity at a
    root, ``parent[v] == v``). Returns the element from ``v`` to its root, the later steps
    leftmost: ``(a, s)(b, t) = (a + (-1)^s b, s xor t)``. Pointer jumping: ``log`` of the
    depth rounds.

    Shapes:
        angle, reflection, parent: ``[V]``; returns two ``[V]`` arrays.
    """
    total_a, total_r, jump = angle.astype(np.float64), reflection.astype(bool), parent.copy()
    while True:
        nxt = jump[jump]
        if np.array_equal(nxt, jump):
            return total_a, total_r
        # element v -> jump[jump[v]] = (jump[v] -> its jump) o (v -> jump[v])
        a_j, r_j = total_a[jump], total_r[jump]
        total_a, total_r, jump = a_j + np.where(r_j, -total_a, total_a), r_j ^ total_r, nxt


def o2_frame_step(frame_from: np.ndarray, frame_to: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The O(2) element taking coordinates in ``frame_from`` to coordinates in ``frame_to``,
    two frames at (about) one point: ``(a, sigma < 0)`` of the module docstring.

    Shapes:
        frame_from, frame_to: ``[N, 3, 3]`` (rows ``e1, e2, n``); returns two ``[N]`` arrays.
    """
    n_from, n_to = frame_from[:, 2], frame_to[:, 2]
    flipped = np.einsum("vd,vd->v", n_from, n_to) < 0
    target = np.where(flipped[:, None], -n_to, n_to)
    carried = rotate_normal_onto(frame_from[:, 0], n_from, target)
    angle = np.arctan2(np.einsum("vd,vd->v", carried, frame_to[:, 1]), np.einsum("vd,vd->v", carried, frame_to[:, 0]))
    return angle, flipped


def o2_map_transport(fine: O2FrameField, coarse_frame: np.ndarray, coarse: np.ndarray, sample: np.ndarray,
                     parent: np.ndarray, parent_edge: np.ndarray, rule: str = "path") -> tuple[np.ndarray, np.ndarray]:
    """``(angle, reflection)`` of the map from every fine vertex into its coarse vertex's frame.

    Args:
        fine: The fine level's O(2) frame field.
        coarse_frame: Frames of the coarse level.
        coarse: The coarse vertex of every fine vertex.
        sample: The fine vertex every coarse vertex sits on.
        parent, parent_edge: The next vertex on the shortest path to the sample, and the fine
            edge ``f -> parent[f]`` (``-1`` at a sample), as in :class:`~gaugemesh.hierarchy.levels.LevelMap`.
        rule: ``"path"`` or ``"projection"`` (module docstring).

    Shapes:
        coarse_frame: ``[Vc, 3, 3]``; coarse, parent, parent_edge: ``[Vf]``; sample: ``[Vc]``;
        returns two ``[Vf]`` arrays.
    """
    if rule == "projection":
        angle, flipped = o2_frame_step(fine.frame, coarse_frame[coarse])
        return wrap_angle(angle), flipped
    if rule != "path":
        raise ValueError(f"unknown transport rule {rule!r}; use 'path' or 'projection'.")
    has_edge = parent_edge >= 0
    edge = np.maximum(parent_edge, 0)
    path_a, path_r = o2_path_compose(np.where(has_edge, fine.transport[edge], 0.0),
                                     has_edge & fine.reflection[edge], parent)
    s = sample[coarse]
    step_a, step_r = o2_frame_step(fine.frame[s], coarse_frame[coarse])
    return wrap_angle(step_a + np.where(step_r, -path_a, path_a)), step_r ^ path_r
