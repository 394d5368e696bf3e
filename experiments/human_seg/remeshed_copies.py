"""Remeshed copies of the human_seg training bodies, labelled, for ``data.extra_train``.

Every body of a config's training split (never one of its validation bodies: the split is
recomputed from the config's ``[data]`` table exactly as ``gaugemesh train`` draws it) is meshed
again by the grid meshers of :mod:`experiments.human_seg.remeshing` (``--meshers``; by default
marching cubes of the filled voxelisation and of the signed distance) at about ``--factor``
times its vertex count. Each new face takes the label of the original face nearest to its
centroid. The copies are written as a generic dataset with face labels::

    out/<name>__<mesher>.off   out/labels/<name>__<mesher>.txt   out/classes.txt   out/dataset.toml

A config lists the folder in ``data.extra_train`` to train on the copies beside the originals:
a network that has seen a staircase during training need not take one for a new shape.

    python -m experiments.human_seg.remeshed_copies --config experiments/human_seg/discs09.toml \\
        --out ../data/human_seg_remeshed [--factor 1] [--limit 10]

Needs the ``remesh`` extra (``pip install -e .[remesh]``).
"""

from __future__ import annotations

import argparse
import time
import tomllib
from pathlib import Path

import numpy as np

from experiments.human_seg.remeshing import REMESHERS, nearest_face
from experiments.human_seg.resolution_transfer import face_labels, write_off
from gaugemesh.datasets import train_val_split
from gaugemesh.datasets.layouts import MeshCNNLayout
from gaugemesh.io import read_mesh_arrays

GRID_MESHERS = ("marching_cubes", "signed_distance")


def training_bodies(data: dict) -> tuple[MeshCNNLayout, list, list[str]]:
    """The layout of a ``[data]`` table, its training items, and the names ``gaugemesh train``
    trains on (the split without its validation bodies)."""
    layout = MeshCNNLayout(Path(data["root"]))
    items = layout.items("train")
    names = sorted(item.name for item in items)
    train_idx, _ = train_val_split(names, data.get("val_fraction", 0.1), data.get("split_seed", 0),
                                   data.get("val_group_pattern") or None)
    return layout, items, [names[i] for i in train_idx]


def carried_labels(pos, faces, labels, new_pos, new_faces, rng) -> np.ndarray:
    """The label of the original face nearest to each new face's centroid, ``[F_new]``."""
    return labels[nearest_face(new_pos[new_faces].mean(axis=1), pos, faces, rng)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, type=Path, help="the training config whose split to respect")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--meshers", nargs="+", default=list(GRID_MESHERS), choices=sorted(REMESHERS))
    p.add_argument("--factor", type=float, default=1.0, help="each copy's vertices: this times the original's")
    p.add_argument("--limit", type=int, default=None, help="at most this many bodies")
    args = p.parse_args(argv)
    layout, items, names = training_bodies(tomllib.loads(args.config.read_text())["data"])
    files = {item.name: item.mesh for item in items}
    names = names[: args.limit]
    (args.out / "labels").mkdir(parents=True, exist_ok=True)
    (args.out / "classes.txt").write_text("".join(f"{i}\n" for i in range(layout.num_classes)))
    (args.out / "dataset.toml").write_text('labels = "files"\nlabel_kind = "face"\n')
    rng, start = np.random.default_rng(0), time.perf_counter()
    for count, name in enumerate(names, 1):
        pos, faces = read_mesh_arrays(files[name])
        labels = face_labels(layout, name, faces)
        for mesher in args.meshers:
            new_pos, new_faces = REMESHERS[mesher](pos, faces, int(args.factor * len(pos)), rng)
            new_pos, new_faces = np.asarray(new_pos, np.float64), np.asarray(new_faces, np.int64)
            write_off(args.out / f"{name}__{mesher}.off", new_pos, new_faces)
            new_labels = carried_labels(pos, faces, labels, new_pos, new_faces, rng)
            np.savetxt(args.out / "labels" / f"{name}__{mesher}.txt", new_labels, fmt="%d")
        print(f"{count}/{len(names)} {name} ({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
