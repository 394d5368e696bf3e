"""Remeshing transfer: a checkpoint on human_seg validation bodies meshed five other ways.

Each validation body (the meshes the checkpoint held out, ~750 vertices) is meshed again at
about ``--vertices`` vertices (default 4x the original's count) by five unrelated methods:

- ``subdivided``: midpoint subdivision with a tangential jitter (as ``resolution_transfer``);
- ``isotropic``: MeshLab's isotropic explicit remeshing (pymeshlab), near-equilateral triangles;
- ``quadric``: subdivided 16x, then quadric edge-collapse decimation (fast-simplification)
  down to the target, irregular triangles of every size;
- ``marching_cubes``: the filled voxelisation of the body meshed by marching cubes
  (scikit-image), a staircase surface with its own topology errors;
- ``signed_distance``: marching cubes of the body's signed distance sampled on a grid
  (MeshLab's uniform mesh resampling), the way marching cubes is used on scans and implicit
  surfaces: vertices interpolated along the grid's edges, a smooth surface.

The checkpoint predicts on every meshing. All are compared on the same surface points
(``--points`` per body, uniform by area on the original mesh): a point takes the prediction of
the face of each meshing nearest to it. Reported per meshing: the accuracy at the points
(the truth: the original face's label, so area-weighted face accuracy), its area over the
original's, how many bodies it meshed with another topology (the grid meshers join limbs that
nearly touch), its agreement with the original on the bodies whose topology it kept, and for
every pair of meshings the share of points where their predictions agree.

    python -m experiments.human_seg.remeshing --checkpoint experiments/human_seg/gem_unet.pt \\
        --data ../shared/datasets/human_seg [--limit 10] [--json out.json]

Needs the ``remesh`` extra (``pip install -e .[remesh]``). Validation meshes only.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.spatial import cKDTree

from experiments.human_seg.resolution_transfer import (face_labels, report, study_arguments, subdivide,
                                                      validation_bodies, write_off)
from gaugemesh.geometry.measures import face_areas
from gaugemesh.geometry.topology import undirected_edges, vertex_components
from gaugemesh.io import read_mesh_arrays

Remesher = Callable[[np.ndarray, np.ndarray, int, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _edge_length_for(pos: np.ndarray, faces: np.ndarray, vertices: int) -> float:
    """Edge length of equilateral triangles that tile the surface with about ``vertices``
    vertices (a closed triangle mesh has about twice as many faces as vertices)."""
    return float(np.sqrt(2 * face_areas(pos, faces).sum() / (np.sqrt(3) / 2 * vertices) / 2))


def remesh_subdivided(pos, faces, vertices, rng):
    """Midpoint subdivision (4x the faces per round) until about ``vertices`` vertices."""
    while len(pos) * 2 < vertices:
        pos, faces = subdivide(pos, faces, 0.1, rng)
    return pos, faces


def remesh_isotropic(pos, faces, vertices, rng):
    """MeshLab's isotropic explicit remeshing at the edge length of ``vertices`` vertices."""
    import pymeshlab

    meshes = pymeshlab.MeshSet()
    meshes.add_mesh(pymeshlab.Mesh(pos, faces))
    meshes.meshing_isotropic_explicit_remeshing(iterations=6,
                                                targetlen=pymeshlab.PureValue(_edge_length_for(pos, faces, vertices)))
    out = meshes.current_mesh()
    return out.vertex_matrix(), out.face_matrix()


def remesh_quadric(pos, faces, vertices, rng):
    """Quadric edge-collapse decimation of the 16x subdivided mesh down to ``vertices``."""
    import fast_simplification

    for _ in range(2):
        pos, faces = subdivide(pos, faces, 0.1, rng)
    target = 1 - vertices / len(pos)
    return fast_simplification.simplify(pos.astype(np.float32), faces.astype(np.int32), target_reduction=target)


def _at_size(mesh_at: Callable[[float], tuple[np.ndarray, np.ndarray]], size: float, vertices: int):
    """``mesh_at(size)`` for a grid spacing ``size``, corrected once or twice to land near
    ``vertices`` vertices (a grid mesher's vertex count goes as ``1 / size**2``)."""
    for _ in range(3):
        new_pos, new_faces = mesh_at(size)
        if 0.7 < len(new_pos) / vertices < 1.4:
            break
        size *= np.sqrt(len(new_pos) / vertices)
    return new_pos, new_faces


def remesh_marching_cubes(pos, faces, vertices, rng):
    """Marching cubes of the filled voxelisation, the voxel size chosen for about ``vertices``."""
    import trimesh

    body = trimesh.Trimesh(pos, faces, process=False)

    def mesh_at(pitch):
        grid = body.voxelized(pitch).fill()
        surface = grid.marching_cubes
        surface.apply_transform(grid.transform)
        return np.asarray(surface.vertices, dtype=np.float64), np.asarray(surface.faces, dtype=np.int64)

    # marching cubes puts ~1 vertex per voxel face crossed
    return _at_size(mesh_at, _edge_length_for(pos, faces, vertices) * 1.2, vertices)


def remesh_signed_distance(pos, faces, vertices, rng):
    """Marching cubes of the signed distance to the surface sampled on a grid (MeshLab's
    uniform mesh resampling), the cell size chosen for about ``vertices`` vertices: vertices
    interpolated along the grid's edges, not snapped to voxels, so no staircase."""
    import pymeshlab

    def mesh_at(cell):
        meshes = pymeshlab.MeshSet()
        meshes.add_mesh(pymeshlab.Mesh(pos, faces))
        meshes.generate_resampled_uniform_mesh(cellsize=pymeshlab.PureValue(cell), mergeclosevert=True)
        out = meshes.current_mesh()
        return out.vertex_matrix(), out.face_matrix()

    return _at_size(mesh_at, _edge_length_for(pos, faces, vertices), vertices)


REMESHERS: dict[str, Remesher] = {"subdivided": remesh_subdivided, "isotropic": remesh_isotropic,
                                  "quadric": remesh_quadric, "marching_cubes": remesh_marching_cubes,
                                  "signed_distance": remesh_signed_distance}


def topology(pos: np.ndarray, faces: np.ndarray, min_share: float = 0.01) -> tuple[int, ...]:
    """The Euler characteristics of the mesh's components that hold at least ``min_share`` of
    its vertices, in ascending order (the floating specks of a grid mesher are left out):
    ``(2,)`` for a body meshed as one sphere; a join of two limbs adds a handle (``(0,)``)."""
    count, label = vertex_components(faces, len(pos))
    edges = undirected_edges(faces)
    chi = (np.bincount(label, minlength=count) - np.bincount(label[edges[:, 0]], minlength=count)
           + np.bincount(label[faces[:, 0]], minlength=count))
    big = np.bincount(label, minlength=count) >= min_share * len(pos)
    return tuple(sorted(chi[big].tolist()))


def surface_points(pos: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator):
    """``count`` points uniform by area on the mesh, and the face each lies on."""
    area = face_areas(pos, faces)
    face = rng.choice(len(faces), size=count, p=area / area.sum())
    u, v = rng.random((2, count))
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    a, b, c = (pos[faces[face, k]] for k in range(3))
    return a + u[:, None] * (b - a) + v[:, None] * (c - a), face


def nearest_face(points: np.ndarray, pos: np.ndarray, faces: np.ndarray, rng: np.random.Generator,
                 samples_per_face: int = 24) -> np.ndarray:
    """The face of the mesh nearest to each point, up to the spacing of ``samples_per_face``
    random samples per face (no exact point-triangle distance: the meshings differ by far more)."""
    samples, face = surface_points(pos, faces, samples_per_face * len(faces), rng)
    return face[cKDTree(samples).query(points)[1]]


def main(argv=None) -> int:
    p = study_arguments(__doc__.splitlines()[0])
    p.add_argument("--factor", type=float, default=4.0, help="each meshing's vertices: this times the original's")
    p.add_argument("--points", type=int, default=20000, help="comparison points per body")
    args = p.parse_args(argv)
    predictor, layout, names, files = validation_bodies(args)
    meshings = ["original", *REMESHERS]
    hits = dict.fromkeys(meshings, 0)
    agree = {pair: 0 for pair in itertools.combinations(meshings, 2)}
    sizes = {name: [] for name in meshings}
    areas = {name: [] for name in meshings}
    kept = {name: [0, 0, 0] for name in REMESHERS}  # bodies with the original's topology, their agreeing points, points
    total, start, rng = 0, time.perf_counter(), np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            pos, faces = read_mesh_arrays(files[name])
            truth = face_labels(layout, name, faces)
            points, on_face = surface_points(pos, faces, args.points, rng)
            pred = {"original": predictor.predict(files[name]).face_labels[on_face]}
            sizes["original"].append(len(pos))
            area, shape = face_areas(pos, faces).sum(), topology(pos, faces)
            same_shape = {}
            for remesher, remesh in REMESHERS.items():
                new_pos, new_faces = remesh(pos, faces, int(args.factor * len(pos)), rng)
                path = Path(tmp) / f"{name}_{remesher}.off"
                write_off(path, new_pos, new_faces)
                result = predictor.predict(path)
                sizes[remesher].append(result.mesh.num_vertices)
                areas[remesher].append(face_areas(new_pos, new_faces).sum() / area)
                # as the network saw it: repaired (a decimation's doubled faces removed)
                same_shape[remesher] = topology(result.mesh.pos, result.mesh.faces) == shape
                labelled = result.face_labels >= 0  # faces repair dropped (degenerate slivers) carry no label
                pred[remesher] = result.face_labels[labelled][nearest_face(points, new_pos, new_faces[labelled], rng)]
            for meshing in meshings:
                hits[meshing] += int((pred[meshing] == truth[on_face]).sum())
            for a, b in agree:
                agree[(a, b)] += int((pred[a] == pred[b]).sum())
            for remesher, same in same_shape.items():
                if same:
                    kept[remesher][0] += 1
                    kept[remesher][1] += int((pred[remesher] == pred["original"]).sum())
                    kept[remesher][2] += len(points)
            total += len(points)
            print(f"{name}: " + ", ".join(f"{m} {np.mean(pred[m] == truth[on_face]):.3f}" for m in meshings), flush=True)
    result = {"checkpoint": str(args.checkpoint), "input_vertices": predictor.options.input_vertices,
              "meshes": len(names), "points_per_mesh": args.points,
              "seconds": round(time.perf_counter() - start),
              "mean_vertices": {m: round(float(np.mean(v))) for m, v in sizes.items()},
              "accuracy": {m: hits[m] / total for m in meshings},
              "area_ratio": {m: round(float(np.mean(v)), 3) for m, v in areas.items() if v},
              "topology_kept": {m: k[0] for m, k in kept.items()},
              "agreement_with_original_where_topology_kept": {m: k[1] / k[2] if k[2] else None
                                                              for m, k in kept.items()},
              "agreement": {f"{a} / {b}": n / total for (a, b), n in agree.items()}}
    report(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
