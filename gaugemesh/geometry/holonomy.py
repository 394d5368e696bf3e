"""Holonomy of the discrete connection: the gauge-invariant measure of curvature."""

from __future__ import annotations

import numpy as np

from gaugemesh.geometry.measures import wrap_angle

__all__ = ["loop_holonomy", "face_holonomy"]


def _edge_lookup(edge_index: np.ndarray, num_vertices: int):
    key = edge_index[1] * np.int64(num_vertices) + edge_index[0]
    order = np.argsort(key)
    return key[order], order


def loop_holonomy(edge_index, transport, loops: np.ndarray, num_vertices: int) -> np.ndarray:
    """Holonomy of closed vertex loops ``v0 -> v1 -> ... -> v0``, wrapped to ``(-pi, pi]``.

    The sum of the transports of the steps (``g_{v1 v0} + g_{v2 v1} + ...``).

    Shapes:
        edge_index: ``[2, E]``; transport: ``[E]``; loops: ``[L, K]`` (each row a loop of K
        vertices, the closing step implied); returns ``[L]``.
    """
    loops = np.atleast_2d(loops)
    keys, order = _edge_lookup(edge_index, num_vertices)
    step_from, step_to = loops, np.roll(loops, -1, axis=1)
    where = np.searchsorted(keys, step_to * np.int64(num_vertices) + step_from)
    if np.any(keys[np.minimum(where, keys.size - 1)] != step_to * np.int64(num_vertices) + step_from):
        raise ValueError("a loop step is not an edge of the mesh.")
    return wrap_angle(transport[order[where]].sum(axis=1))


def face_holonomy(edge_index, transport, faces: np.ndarray, num_vertices: int) -> np.ndarray:
    """Holonomy around every face, counter-clockwise; approximates the integrated curvature.

    Shapes:
        faces: ``[F, 3]``; returns ``[F]``.
    """
    return loop_holonomy(edge_index, transport, faces, num_vertices)
