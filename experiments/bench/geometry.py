"""Benchmark: frame-field preprocessing speed and peak memory (``make bench-geometry``).

For geodesic spheres of about 10k, 160k and 1M vertices and both connections, prints the
time of ``validate_mesh`` and of ``mesh_to_data``, vertices per second of ``mesh_to_data``,
and the peak resident memory of the process doing it. Each measurement runs in a fresh
process so that peaks do not leak between rows.

Reference (issue): GEM-CNN's preprocessing (projection only) takes about 0.73 s for 164k
vertices on 2 cores of this machine, about 220k vertices/s.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from experiments.bench.fresh_process import in_fresh_process

REFERENCE_VERTICES_PER_S = 220_000


def geodesic_sphere(frequency: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-I geodesic sphere: each icosahedron face cut into frequency^2 triangles.

    Has ``10 f^2 + 2`` vertices (f = 316 gives 998,562).
    """
    import trimesh

    ico = trimesh.creation.icosahedron()
    f = frequency
    i, j = np.meshgrid(np.arange(f + 1), np.arange(f + 1), indexing="ij")
    keep = i + j <= f
    i, j = i[keep], j[keep]
    local = {(a, b): n for n, (a, b) in enumerate(zip(i.tolist(), j.tolist()))}
    tri = []
    for a in range(f):
        for b in range(f - a):
            tri.append((local[a, b], local[a + 1, b], local[a, b + 1]))
            if a + b < f - 1:
                tri.append((local[a + 1, b], local[a + 1, b + 1], local[a, b + 1]))
    tri = np.array(tri)
    corners = ico.vertices[ico.faces]  # [20, 3, 3]
    w = np.stack([f - i - j, i, j], 1) / f
    points = np.einsum("pk,fkd->fpd", w, corners).reshape(-1, 3)
    faces = (tri[None] + (np.arange(20) * len(i))[:, None, None]).reshape(-1, 3)
    _, first, inverse = np.unique(np.round(points, 9), axis=0, return_index=True, return_inverse=True)
    pos = points[first]
    pos /= np.linalg.norm(pos, axis=1, keepdims=True)
    return pos, inverse.ravel()[faces]


def _measure(path: str, connection: str, repeats: int, out) -> None:
    import torch

    import gaugemesh

    torch.set_num_threads(2)
    arrays = np.load(path)
    pos, faces = arrays["pos"], arrays["faces"]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    mesh = gaugemesh.validate_mesh(pos, faces)
    t_validate = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        data = gaugemesh.mesh_to_data(mesh, connection=connection)
        times.append(time.perf_counter() - t0)
        del data
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.put({"validate_s": t_validate, "mesh_to_data_s": min(times), "peak_rss_gb": peak / 2**20,
             "extra_gb": (peak - base) / 2**20})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frequencies", type=int, nargs="+", default=[32, 128, 316],
                        help="geodesic sphere frequencies (V = 10 f^2 + 2)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = []
    print(f"{'vertices':>10} {'connection':>12} {'validate':>9} {'mesh_to_data':>13} {'vertices/s':>11} "
          f"{'vs GEM-CNN':>10} {'peak RSS':>9} {'extra':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for frequency in args.frequencies:
            pos, faces = geodesic_sphere(frequency)
            path = str(Path(tmp) / f"sphere{frequency}.npz")
            np.savez(path, pos=pos, faces=faces)
            for connection in ("levi-civita", "projection"):
                row = in_fresh_process(_measure, path, connection, 3 if len(pos) < 500_000 else 1)
                row.update(vertices=len(pos), connection=connection,
                           vertices_per_s=len(pos) / row["mesh_to_data_s"])
                rows.append(row)
                print(f"{len(pos):>10} {connection:>12} {row['validate_s']:>8.3f}s {row['mesh_to_data_s']:>12.3f}s "
                      f"{row['vertices_per_s']:>11,.0f} {row['vertices_per_s'] / REFERENCE_VERTICES_PER_S:>9.2f}x "
                      f"{row['peak_rss_gb']:>7.2f}GB {row['extra_gb']:>6.2f}GB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
