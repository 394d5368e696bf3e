"""Where a segmentation checkpoint's errors are, on the meshes it held out for validation.

Three breakdowns of the per-vertex accuracy (the repaired meshes' vertices, ``vertex_acc``):

- by **rings to the nearest label boundary** (0: a vertex with a neighbour of another label);
- by **connected component**: the largest component of each mesh against the others (the
  network's convolutions and pooling stay inside a component, so a small piece sees only
  itself);
- by **mesh**: the worst meshes, with their vertex counts.

    python -m experiments.rna_seg.errors experiments/rna_seg/gem_unet.pt ../data/rna \
        [--cache cache/rna_seg]

The features come from ``--cache`` where the training run left them (the checkpoint's options
key the entries, so a cache of other options is simply not hit) and are computed otherwise.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components

from gaugemesh.training.loop import predict_scores, resolve_device
from gaugemesh.training.recipe import load_model, open_dataset

__all__ = ["rings_to_label_boundary", "in_largest_component", "MeshErrors", "main"]

FAR = np.iinfo(np.int32).max  # rings of a vertex whose component has one label only


def _adjacency(edge_index: np.ndarray, num_vertices: int) -> sp.csr_matrix:
    ones = np.ones(edge_index.shape[1], dtype=np.int8)
    return sp.csr_matrix((ones, (edge_index[0], edge_index[1])), shape=(num_vertices, num_vertices))


def rings_to_label_boundary(edge_index: np.ndarray, labels: np.ndarray, max_rings: int = 8) -> np.ndarray:
    """For every vertex, how many edges away the nearest vertex with a differently labelled
    neighbour is: 0 on a label boundary; ``FAR`` where none is within ``max_rings``.

    Shapes:
        edge_index: ``[2, E]``, both directions of every edge.
        labels: ``[V]``.
        Returns ``[V]`` int32.
    """
    n = len(labels)
    rings = np.full(n, FAR, dtype=np.int32)
    src, dst = edge_index
    front = np.zeros(n, dtype=bool)
    front[src[labels[src] != labels[dst]]] = True
    rings[front] = 0
    adjacency = _adjacency(edge_index, n)
    for ring in range(1, max_rings + 1):
        front = (adjacency @ front.astype(np.int8) > 0) & (rings == FAR)
        if not front.any():
            break
        rings[front] = ring
    return rings


def in_largest_component(edge_index: np.ndarray, num_vertices: int) -> np.ndarray:
    """Whether each vertex lies in the mesh's largest connected component (by vertices).

    Shapes:
        edge_index: ``[2, E]``.
        Returns ``[V]`` bool.
    """
    _, component = connected_components(_adjacency(edge_index, num_vertices), directed=False)
    return component == np.bincount(component).argmax()


@dataclass
class MeshErrors:
    """One mesh's per-vertex correctness and where each vertex sits."""

    name: str
    correct: np.ndarray  # [V] bool
    rings: np.ndarray  # [V] int32, rings_to_label_boundary
    largest: np.ndarray  # [V] bool, in_largest_component

    @classmethod
    def of(cls, name: str, edge_index: np.ndarray, labels: np.ndarray, predicted: np.ndarray) -> MeshErrors:
        keep = labels >= 0  # ignored vertices (none in the RNA data) count nowhere
        rings = rings_to_label_boundary(edge_index, labels)
        largest = in_largest_component(edge_index, len(labels))
        return cls(name, (predicted == labels)[keep], rings[keep], largest[keep])


def _share(mask: np.ndarray, correct: np.ndarray) -> str:
    wrong = ~correct
    return (f"{mask.mean():7.2%} of vertices, accuracy {correct[mask].mean():7.2%}, "
            f"{(wrong & mask).sum() / max(wrong.sum(), 1):7.2%} of the errors")


def report(meshes: list[MeshErrors], worst: int = 8) -> str:
    """The three breakdowns as text."""
    correct = np.concatenate([m.correct for m in meshes])
    rings = np.concatenate([m.rings for m in meshes])
    largest = np.concatenate([m.largest for m in meshes])
    lines = [f"{len(meshes)} meshes, {len(correct):,} vertices, accuracy {correct.mean():.2%}", "",
             "rings to the nearest label boundary:"]
    for ring in range(4):
        lines.append(f"  {ring}:  {_share(rings == ring, correct)}")
    lines += [f"  4+ (or none in the component): {_share(rings >= 4, correct)}", "", "connected components:",
              f"  largest of its mesh: {_share(largest, correct)}",
              f"  the others:          {_share(~largest, correct)}", "", "worst meshes:"]
    for m in sorted(meshes, key=lambda m: m.correct.mean())[:worst]:
        lines.append(f"  {m.name:>10}  {len(m.correct):6,} vertices, accuracy {m.correct.mean():7.2%}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("data", help="the dataset folder the checkpoint was trained on")
    p.add_argument("--cache", help="the training run's cache folder (default: a temporary one)")
    p.add_argument("--worst", type=int, default=8, help="how many of the worst meshes to list")
    args = p.parse_args(argv)
    model, state = load_model(args.checkpoint, "cpu")
    held_out = set(state.get("val_names", []))
    if not held_out:
        raise SystemExit(f"{args.checkpoint} held no meshes out for validation")
    device = resolve_device("cpu")
    meshes = []
    with tempfile.TemporaryDirectory() as tmp:
        dataset = open_dataset(state["config"], "train", root=args.data, cache_dir=args.cache or tmp)
        for i, name in enumerate(dataset.names):
            if name not in held_out:
                continue
            sample = dataset[i]
            predicted = predict_scores(model, sample, device).argmax(-1)
            meshes.append(MeshErrors.of(name, sample.edge_index.numpy(), sample.y.numpy(), predicted.numpy()))
    print(report(meshes, args.worst))
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    raise SystemExit(main())
