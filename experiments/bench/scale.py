"""Scale: a training step at 15k and 160k vertices, and preprocessing at 1M, with time and memory.

    python -m experiments.bench.scale                      # all three, on 2 threads
    python -m experiments.bench.scale --only step --vertices 15000

Meshes are bumpy tori (``n x n`` grids closed on themselves, radially jittered), so every
vertex has six neighbours and the counts are exact. A training step is forward + backward +
AdamW on one mesh with random ``4x0 + 2x1`` inputs, for the single-scale GemResNet (6 blocks)
and the multi-scale GemUNet (3 levels); the figure is the median of the steps after the first.
Preprocessing is what ``gaugemesh preprocess`` does to a mesh of a multi-scale config:
validation, frame field, the default input features (HKS with 128 eigenpairs, curvature, HKS
gradients) and a 4-level hierarchy, each timed. Peak memory is the process's resident peak
(``ru_maxrss``), so run one part per process for a clean figure (``--only``).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import numpy as np
import torch


def torus(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An ``n x n`` torus grid, radially jittered: ``n * n`` vertices, ``2 n^2`` faces."""
    u, v = np.meshgrid(np.arange(n) * 2 * np.pi / n, np.arange(n) * 2 * np.pi / n, indexing="ij")
    r = 0.4 * (1 + 0.05 * np.random.default_rng(seed).standard_normal(u.shape))
    pos = np.stack([(1 + r * np.cos(v)) * np.cos(u), (1 + r * np.cos(v)) * np.sin(u), r * np.sin(v)], -1)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    a, b, c, d = i * n + j, ((i + 1) % n) * n + j, ((i + 1) % n) * n + (j + 1) % n, i * n + (j + 1) % n
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    return pos.reshape(-1, 3), faces


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def preprocess(vertices: int) -> dict:
    from gaugemesh.features import DEFAULT_FEATURES, FeatureOptions, compute_features
    from gaugemesh.geometry import frame_field
    from gaugemesh.hierarchy.levels import mesh_hierarchy
    from gaugemesh.mesh import validate_mesh

    pos, faces = torus(int(round(vertices**0.5)))
    times = {}
    t = time.perf_counter()
    mesh = validate_mesh(pos, faces)
    times["validate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    field = frame_field(mesh.pos, mesh.faces)
    times["frame_field_s"] = time.perf_counter() - t
    t = time.perf_counter()
    compute_features(mesh.pos, mesh.faces, field.frame, DEFAULT_FEATURES, FeatureOptions())
    times["features_s"] = time.perf_counter() - t
    t = time.perf_counter()
    hierarchy = mesh_hierarchy(mesh.pos, mesh.faces, 4, field=field)
    times["hierarchy_s"] = time.perf_counter() - t
    return {"part": "preprocess", "vertices": mesh.num_vertices, **{k: round(v, 1) for k, v in times.items()},
            "levels": [len(level.pos) for level in hierarchy.levels], "peak_gib": round(peak_gib(), 2)}


def step(vertices: int, kind: str, repeats: int) -> dict:
    import gaugemesh
    from gaugemesh.hierarchy.data import add_hierarchy
    from gaugemesh.models import GemResNet, GemUNet

    pos, faces = torus(int(round(vertices**0.5)))
    data = gaugemesh.mesh_to_data(gaugemesh.validate_mesh(pos, faces), dtype=torch.float64)
    if kind == "gem_unet":
        data = add_hierarchy(data, 3)
    for key, value in data.items():
        if torch.is_tensor(value) and value.is_floating_point():
            data[key] = value.float()
    rng = np.random.default_rng(0)
    data.x = torch.from_numpy(rng.standard_normal((data.num_nodes, 8))).float()
    data.x_type = "4x0 + 2x1"
    y = torch.from_numpy((pos[:, 2] > 0).astype(np.int64))
    torch.manual_seed(0)
    model = (GemResNet("4x0 + 2x1", 2, width=16, max_order=2, num_blocks=6) if kind == "gem_resnet"
             else GemUNet("4x0 + 2x1", 2, width=16, max_order=2, num_levels=3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    seconds = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(data), y).backward()
        optimizer.step()
        seconds.append(time.perf_counter() - t)
    return {"part": "step", "model": kind, "vertices": data.num_nodes,
            "parameters": sum(p.numel() for p in model.parameters()),
            "first_step_s": round(seconds[0], 2), "step_s": round(statistics.median(seconds[1:]), 3),
            "peak_gib": round(peak_gib(), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["step", "preprocess"], default=None)
    parser.add_argument("--vertices", type=int, default=None)
    parser.add_argument("--model", choices=["gem_resnet", "gem_unet"], default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.only != "preprocess":
        for vertices in [args.vertices] if args.vertices else [15_000, 160_000]:
            for kind in [args.model] if args.model else ["gem_resnet", "gem_unet"]:
                print(json.dumps(step(vertices, kind, args.repeats)), flush=True)
    if args.only != "step":
        print(json.dumps(preprocess(args.vertices or 1_000_000)), flush=True)


if __name__ == "__main__":
    main()
