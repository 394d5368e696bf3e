"""Geometry: pure float64 numpy functions of ``(pos, faces)``. No torch in here."""

from gaugemesh.geometry.connection import CONNECTIONS, levi_civita_connection, projection_connection
from gaugemesh.geometry.frame_field import FrameField, edge_weights, frame_field
from gaugemesh.geometry.frames import FRAME_KINDS, frames_from_directions, potpourri3d_frames, rotate_frames
from gaugemesh.geometry.halfedges import DirectedEdges, IntrinsicAngles, directed_edges, intrinsic_angles
from gaugemesh.geometry.holonomy import face_holonomy, loop_holonomy
from gaugemesh.geometry.measures import (
    corner_angles,
    face_areas,
    face_normals,
    vertex_areas,
    vertex_normals,
    wrap_angle,
)

__all__ = [
    "CONNECTIONS",
    "FRAME_KINDS",
    "DirectedEdges",
    "FrameField",
    "IntrinsicAngles",
    "corner_angles",
    "directed_edges",
    "edge_weights",
    "face_areas",
    "face_holonomy",
    "face_normals",
    "frame_field",
    "frames_from_directions",
    "intrinsic_angles",
    "levi_civita_connection",
    "loop_holonomy",
    "potpourri3d_frames",
    "projection_connection",
    "rotate_frames",
    "vertex_areas",
    "vertex_normals",
    "wrap_angle",
]
