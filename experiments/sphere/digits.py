"""Rotated spherical digits: train on unrotated digits, test on randomly rotated ones.

The protocol of Cohen et al., *Spherical CNNs* (ICLR 2018), with scikit-learn's 1,797
handwritten 8x8 digits instead of MNIST: each image is projected stereographically onto a
cap around the north pole (:mod:`experiments.sphere.data`). Two models see the same
signal: a gauge-equivariant network on an icosphere (:class:`GemSphereClassifier`) and a
planar CNN on a latitude-longitude grid (:class:`PlanarCNN`), with similar parameter
counts. Both train on unrotated digits; the test digits are evaluated unrotated and rotated
by a uniformly random rotation each (seeded).

    python -m experiments.sphere.digits               # both models, about 4 minutes on 2 cores

Needs scikit-learn (``.venv/bin/python -m pip install scikit-learn``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

import gaugemesh
from gaugemesh.nn import ConvOperators
from gaugemesh.sphere import random_rotations, sphere_data

from experiments.sphere.data import equirectangular_grid, image_on_sphere, load_digits, stratified_split
from experiments.sphere.equivariance import moment_free_weights
from experiments.sphere.models import GemSphereClassifier, PlanarCNN, batch_geometry, count_parameters

ROOT = Path(__file__).resolve().parents[2]


class MeshInputs:
    """Feeds :class:`GemSphereClassifier`: the batch geometries, one per batch size, built
    from the single mesh's operators. ``weights="moment-free"`` replaces the area weights by
    :func:`~experiments.sphere.equivariance.moment_free_weights`."""

    def __init__(self, level: int, weights: str = "area"):
        self.data = sphere_data("icosphere", level, dtype=torch.float32)
        if weights == "moment-free":
            self.data.edge_weight = moment_free_weights(sphere_data("icosphere", level)).float()
        self.single = ConvOperators.from_data(self.data)
        self.mass = self.data.area
        self._batches: dict[int, ConvOperators] = {}

    def __call__(self, model: nn.Module, x: Tensor) -> Tensor:
        size = x.size(0)
        if size not in self._batches:
            self._batches[size] = batch_geometry(self.data, size, self.single)
        return model(x, self._batches[size], self.mass)


def signals(images: np.ndarray, points: np.ndarray, extent: float, rotations: np.ndarray | None) -> Tensor:
    """The projected (and rotated) images sampled at ``points``, float32 ``[B, N]``."""
    return torch.from_numpy(image_on_sphere(images, points, extent, rotations)).float()


def train(model: nn.Module, forward, x: Tensor, y: Tensor, epochs: int, batch_size: int, lr: float,
          seed: int) -> list[float]:
    """Adam with a cosine schedule and cross-entropy; returns the mean loss of each epoch."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * -(-len(x) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    losses = []
    for _ in range(epochs):
        model.train()
        order, total = torch.randperm(len(x), generator=generator), 0.0
        for start in range(0, len(x), batch_size):
            index = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(forward(model, x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(index)
        losses.append(total / len(x))
    return losses


@torch.no_grad()
def predict(model: nn.Module, forward, x: Tensor, batch_size: int = 128) -> Tensor:
    """Predicted classes ``[B]`` in eval mode."""
    model.eval()
    return torch.cat([forward(model, x[s:s + batch_size]).argmax(1) for s in range(0, len(x), batch_size)])


def accuracy(model: nn.Module, forward, x: Tensor, y: Tensor) -> float:
    return float((predict(model, forward, x) == y).float().mean())


def confusion(model: nn.Module, forward, x: Tensor, y: Tensor, num_classes: int = 10) -> list[list[int]]:
    """``[true][predicted]`` counts."""
    counts = torch.zeros(num_classes * num_classes, dtype=torch.long)
    counts.index_add_(0, y * num_classes + predict(model, forward, x), torch.ones_like(y))
    return counts.view(num_classes, num_classes).tolist()


def run_model(name: str, model: nn.Module, forward, inputs: dict[str, Tensor], labels: dict[str, Tensor],
              args: argparse.Namespace) -> dict:
    """Train one model on the unrotated training digits and test it unrotated and rotated."""
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    losses = train(model, forward, inputs["train"], labels["train"], args.epochs, args.batch_size, args.lr, args.seed)
    seconds = time.perf_counter() - start
    result = {"model": name, "parameters": count_parameters(model), "train_seconds": seconds,
              "final_train_loss": losses[-1], "losses": losses,
              "train_accuracy": accuracy(model, forward, inputs["train"], labels["train"]),
              "test_unrotated": accuracy(model, forward, inputs["test"], labels["test"]),
              "test_rotated": accuracy(model, forward, inputs["test_rotated"], labels["test"]),
              "rotated_confusion": confusion(model, forward, inputs["test_rotated"], labels["test"])}
    print(f"{name}: {result['parameters']:,} parameters, {seconds:.0f} s, test unrotated "
          f"{100 * result['test_unrotated']:.1f}%, rotated {100 * result['test_rotated']:.1f}%", flush=True)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gem", "cnn"], choices=["gem", "cnn"])
    parser.add_argument("--level", type=int, default=2, help="icosphere refinement level of the GEM network")
    parser.add_argument("--grid", nargs=2, type=int, default=[24, 48], help="latitude x longitude cells of the CNN")
    parser.add_argument("--extent", type=float, default=1.0, help="half side of the image in the stereographic plane")
    parser.add_argument("--width", type=int, default=8, help="GEM fields per order")
    parser.add_argument("--blocks", type=int, default=6, help="GEM residual blocks")
    parser.add_argument("--max-order", type=int, default=2, help="GEM highest field order (0: isotropic)")
    parser.add_argument("--pooling", default="mean", choices=["mean", "mean+max"], help="GEM global pooling")
    parser.add_argument("--weights", default="area", choices=["area", "moment-free"], help="GEM edge weights")
    parser.add_argument("--channels", type=int, default=18, help="CNN channels of the first layers")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=ROOT / "experiments" / "sphere" / "digits.json")
    args = parser.parse_args(argv)
    try:
        images, labels = load_digits()
    except ModuleNotFoundError as error:
        sys.exit(f"error: {error}")
    torch.set_num_threads(args.threads)
    train_index, test_index = stratified_split(labels, args.test_fraction, args.seed)
    rotations = random_rotations(len(test_index), seed=args.seed + 1)
    y = {"train": torch.from_numpy(labels[train_index]), "test": torch.from_numpy(labels[test_index])}

    def inputs(points: np.ndarray, shape: tuple[int, ...]) -> dict[str, Tensor]:
        return {"train": signals(images[train_index], points, args.extent, None).view(-1, *shape),
                "test": signals(images[test_index], points, args.extent, None).view(-1, *shape),
                "test_rotated": signals(images[test_index], points, args.extent, rotations).view(-1, *shape)}

    results = []
    if "gem" in args.models:
        mesh = MeshInputs(args.level, args.weights)
        torch.manual_seed(args.seed)
        model = GemSphereClassifier(width=args.width, max_order=args.max_order, num_blocks=args.blocks,
                                    pooling=args.pooling)
        name = (f"GEM (orders 0-{args.max_order}, {args.pooling} pooling, {args.weights} weights, "
                f"icosphere {args.level}, {mesh.data.num_nodes} vertices)")
        results.append(run_model(name, model, mesh,
                                 inputs(mesh.data.pos.double().numpy(), (mesh.data.num_nodes,)), y, args))
    if "cnn" in args.models:
        torch.manual_seed(args.seed)
        model = PlanarCNN(channels=args.channels)
        results.append(run_model(f"planar CNN ({args.grid[0]}x{args.grid[1]} lat-long)", model, lambda m, x: m(x),
                                 inputs(equirectangular_grid(*args.grid), tuple(args.grid)), y, args))
    report = {"command": " ".join(["python -m experiments.sphere.digits", *(argv if argv is not None else sys.argv[1:])]),
              "args": {k: (str(v.relative_to(ROOT)) if v.is_relative_to(ROOT) else str(v)) if isinstance(v, Path) else v
                       for k, v in vars(args).items()}, "train_digits": len(train_index),
              "test_digits": len(test_index), "gaugemesh": gaugemesh.__version__, "torch": torch.__version__,
              "machine": platform.machine(), "results": results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
