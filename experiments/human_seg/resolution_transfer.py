"""Resolution transfer: a checkpoint's face accuracy on human_seg validation meshes refined 4x and 16x.

Each validation mesh (the ones the checkpoint held out) is refined by midpoint subdivision, 1
or 2 times, every new vertex moved at random within its tangent plane by up to ``--jitter``
of its edge length (so that the refined mesh is not the coarse one with extra points on
straight lines); every child face inherits its parent's label. The checkpoint predicts on
each resolution; reported per resolution: face accuracy over all validation faces, and the
agreement of the refined predictions with the original mesh's on the same surface points
(each child face against its parent face).

    python -m experiments.human_seg.resolution_transfer --checkpoint experiments/human_seg/gem_resnet.pt \\
        --data ../shared/datasets/human_seg [--levels 1 2] [--limit 20]

Validation meshes only: the test split is held back.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gaugemesh.datasets.layouts import MeshCNNLayout
from gaugemesh.datasets.layouts.meshcnn import face_majority, meshcnn_edges
from gaugemesh.geometry.measures import vertex_normals
from gaugemesh.geometry.topology import unique_rows_in_order
from gaugemesh.io import read_mesh_arrays
from gaugemesh.training.predict_job import Predictor


def subdivide(pos: np.ndarray, faces: np.ndarray, jitter: float, rng: np.random.Generator):
    """Midpoint subdivision; children of face ``f`` are faces ``4f .. 4f + 3``. New vertices
    move tangentially by up to ``jitter`` times the length of the edge they split."""
    sides = np.stack([faces, np.roll(faces, -1, axis=1)], axis=2).reshape(-1, 2)
    edges, index = unique_rows_in_order(np.sort(sides, axis=1))
    mid = 0.5 * (pos[edges[:, 0]] + pos[edges[:, 1]])
    normal = vertex_normals(pos, faces)
    n = normal[edges[:, 0]] + normal[edges[:, 1]]
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    step = rng.uniform(-1, 1, mid.shape) * jitter * np.linalg.norm(pos[edges[:, 0]] - pos[edges[:, 1]], axis=1)[:, None]
    mid += step - np.einsum("ed,ed->e", step, n)[:, None] * n  # tangential only
    m = len(pos) + index.reshape(-1, 3)  # midpoints of sides (a b), (b c), (c a)
    a, b, c = faces.T
    ab, bc, ca = m.T
    children = np.stack([np.stack([a, ab, ca], 1), np.stack([ab, b, bc], 1), np.stack([ca, bc, c], 1),
                         np.stack([ab, bc, ca], 1)], axis=1).reshape(-1, 3)
    return np.concatenate([pos, mid]), children


def write_off(path: Path, pos: np.ndarray, faces: np.ndarray) -> None:
    import trimesh

    path.write_text(trimesh.exchange.off.export_off(trimesh.Trimesh(pos, faces, process=False), digits=8))


def face_labels(layout: MeshCNNLayout, name: str, faces: np.ndarray) -> np.ndarray:
    """The class index of every file face (the majority of its MeshCNN edge labels)."""
    _, face_edges = meshcnn_edges(faces)
    ids = np.loadtxt(layout.root / "seg" / f"{name}.eseg", dtype=np.int64).reshape(-1)
    index = {int(c): i for i, c in enumerate(layout.class_ids())}
    return face_majority(face_edges, np.array([index[int(c)] for c in ids]))


def study_arguments(description: str) -> argparse.ArgumentParser:
    """The options every validation-body study takes; a study adds its own."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--limit", type=int, default=None, help="at most this many validation meshes")
    p.add_argument("--input-vertices", type=int, default=None,
                   help="resample meshes over twice this dense to about this many vertices first "
                        "(default: the checkpoint's features.input_vertices)")
    p.add_argument("--json", type=Path, default=None)
    return p


def validation_bodies(args: argparse.Namespace) -> tuple[Predictor, MeshCNNLayout, list[str], dict[str, str]]:
    """The checkpoint's predictor, the dataset, the names of the meshes it held out (at most
    ``--limit``) and every training mesh's file."""
    predictor = Predictor(args.checkpoint, input_vertices=args.input_vertices)
    layout = MeshCNNLayout(Path(args.data))
    names = list(predictor.state["val_names"])[: args.limit]
    return predictor, layout, names, {item.name: item.mesh for item in layout.items("train")}


def report(result: dict, json_path: Path | None) -> None:
    """Print the study's result as JSON, and write it to ``json_path`` when given."""
    print(json.dumps(result, indent=2))
    if json_path:
        json_path.write_text(json.dumps(result, indent=2))


def main(argv=None) -> int:
    p = study_arguments(__doc__.splitlines()[0])
    p.add_argument("--levels", type=int, nargs="+", default=[1, 2], help="subdivision rounds (4^k x the faces)")
    p.add_argument("--jitter", type=float, default=0.1)
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    predictor, layout, names, files = validation_bodies(args)
    rng = np.random.default_rng(0)
    correct = {0: 0, **{k: 0 for k in args.levels}}
    agree = {k: 0 for k in args.levels}
    total = {0: 0, **{k: 0 for k in args.levels}}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            pos, faces = read_mesh_arrays(files[name])
            truth = face_labels(layout, name, faces)
            base = predictor.predict(files[name]).face_labels
            correct[0] += int((base == truth).sum())
            total[0] += len(truth)
            fine_pos, fine_faces, parent = pos, faces, np.arange(len(faces))
            for k in range(1, max(args.levels) + 1):
                fine_pos, fine_faces = subdivide(fine_pos, fine_faces, args.jitter, rng)
                parent = np.repeat(parent, 4)
                if k not in args.levels:
                    continue
                path = Path(tmp) / f"{name}_{k}.off"
                write_off(path, fine_pos, fine_faces)
                pred = predictor.predict(path).face_labels
                correct[k] += int((pred == truth[parent]).sum())
                agree[k] += int((pred == base[parent]).sum())
                total[k] += len(pred)
    result = {"checkpoint": str(args.checkpoint), "input_vertices": predictor.options.input_vertices,
              "meshes": len(names), "seconds": round(time.perf_counter() - start),
              "face_acc": {f"{4 ** k}x": correct[k] / total[k] for k in total},
              "agreement_with_original": {f"{4 ** k}x": agree[k] / total[k] for k in agree}}
    report(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
