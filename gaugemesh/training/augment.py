"""Training-time augmentation of a batch: a random gauge, and random rotations of ``xyz`` inputs."""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from scipy.spatial.transform import Rotation
from torch_geometric.data import Batch

from gaugemesh.features import FeatureOptions, feature_type_string
from gaugemesh.graph import random_gauge
from gaugemesh.hierarchy.data import num_levels
from gaugemesh.so2 import FieldType
from gaugemesh.training.recipe import feature_options

__all__ = ["make_augment"]

log = logging.getLogger(__name__)


def _xyz_slice(names: list[str], options: FeatureOptions) -> slice | None:
    """Where the (not rotation invariant) ``xyz`` channels sit in ``x``, if requested."""
    if "xyz" not in names:
        return None
    scalars_before = [n for n in names[: names.index("xyz")] if FieldType(feature_type_string([n], options)).max_order == 0]
    start = FieldType(feature_type_string(scalars_before, options)).dim if scalars_before else 0
    return slice(start, start + 3)


def _random_rotation() -> torch.Tensor:
    """A uniformly random rotation ``[3, 3]``, seeded from torch's generator (whose state is in
    every checkpoint, so that a resumed run draws the same ones)."""
    seed = int(torch.randint(0, 2**31 - 1, ()))
    return torch.from_numpy(Rotation.random(random_state=seed).as_matrix())


def _random_angles(count: int, like: torch.Tensor) -> torch.Tensor:
    """A random gauge of ``count`` vertices on ``like``'s device, in its dtype (drawn on the
    CPU: its generator's state is in every checkpoint)."""
    return random_gauge(count).to(like.device, like.dtype, non_blocking=True)


def make_augment(config: dict[str, Any], x_type: str):
    """The training-time augmentation of a batch: a random gauge and, where the inputs
    include ``xyz``, a random 3D rotation of those channels (other inputs are rotation
    invariant).

    The random gauge is ``batch.nonlinearity_gauge``: the nonlinearities run in frames
    rotated by it, which is what the network computes on the mesh and its features in that
    gauge (every other layer is exactly equivariant; tested in
    ``tests/models/test_gem_resnet.py``), while the connection and its cached operators
    stay as they are."""
    augment, features = config["augment"], config["features"]
    xyz = _xyz_slice(list(features["names"]), feature_options(features)) if augment.get("rotate", True) else None
    use_gauge = augment.get("gauge", True)
    if use_gauge and features.get("structure_group", "SO2") == "O2":
        # An O(2) network's layers are all exactly equivariant (norm nonlinearities), so a random
        # gauge would compute the very same logits: no augmentation, and no cost for it.
        log.info("augment.gauge skipped: an O(2) network is exactly gauge equivariant, a random gauge changes nothing")
        use_gauge = False
    if not use_gauge and xyz is None:
        return None

    def apply(batch: Batch) -> Batch:
        batch = copy.copy(batch)  # shares the tensors; the caller's batch keeps its own
        if use_gauge:
            batch.nonlinearity_gauge = _random_angles(batch.num_nodes, batch.x)
            # A multi-scale sample: every coarse level in a gauge of its own (GemUNet reads them).
            for k in range(1, num_levels(batch)):
                batch[f"level{k}_nonlinearity_gauge"] = _random_angles(batch[f"level{k}_area"].size(0), batch.x)
        if xyz is not None:
            x = batch.x.clone()
            rotation = _random_rotation().to(x)
            x[:, xyz] = x[:, xyz] @ rotation.T
            batch.x = x
        return batch

    return apply
