"""The convolution operators of every mesh a training run sees, kept across epochs.

Each step's batch is a new combination of meshes, but each mesh's connection never changes
(random gauge augmentation rotates the nonlinearities' frames, not the operators: see
:class:`~gaugemesh.nn.RegularNonlinearity`). So the trainer keeps one
:class:`~gaugemesh.nn.ConvOperators` per mesh on the training device, whose sparse operators
are built the first time the mesh is seen, and assembles each batch's operators from its
meshes' (a concatenation) instead of building them from the angles every step.

Operators cost memory: about 25 MB per 10k vertices for a max-order-2 network. The meshes
first seen are kept while they fit the budget; a mesh seen once it is spent is built for its
batch and dropped after it. Not least-recently-used eviction: an epoch visits every mesh once,
in a new order, and LRU then drops most meshes just before they come round again (with room
for a share ``f`` of the meshes, about ``f**2 / 2`` of the visits find their operators against
``f`` kept first-come).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Sequence

import torch
from torch_geometric.data import Batch, Data

from gaugemesh.hierarchy.data import level_data
from gaugemesh.nn import ConvOperators

__all__ = ["MESH_ID", "MeshOperatorCache", "default_budget"]

#: The key of the per-sample index that tells the store which mesh a batch entry is.
MESH_ID = "mesh_id"


def default_budget(device: torch.device) -> int:
    """Bytes of operators to keep: a quarter of a GPU's memory, 2 GiB of host memory."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory // 4
    return 2 << 30


class MeshOperatorCache:
    """One :class:`ConvOperators` per mesh (and per level of a multi-scale model), on
    ``device``, within ``budget`` bytes of operators.

    Args:
        meshes: The samples, indexed by their ``mesh_id``.
        device: Where the operators live.
        budget: Bytes of operators kept across batches (default :func:`default_budget`).
        levels: Levels of each mesh's hierarchy the model convolves on
            (:mod:`gaugemesh.hierarchy.data`); with more than one, :meth:`batch` gives one
            :class:`ConvOperators` per level.
    """

    def __init__(self, meshes: Sequence[Data], device: torch.device | str, budget: int | None = None,
                 levels: int = 1):
        self.meshes, self.device, self.levels = list(meshes), torch.device(device), int(levels)
        self.budget = default_budget(self.device) if budget is None else int(budget)
        self._kept: OrderedDict[int, list[ConvOperators]] = OrderedDict()  # least recently used first
        self._bytes: dict[int, int] = {}
        self._last: list[int] = []  # the meshes of the last batch, whose operators may be new
        self._fresh: list[int] = []  # those of them built for it, not kept yet
        self.built = 0  # meshes whose operators was made (again), for tests and logs

    @staticmethod
    def tag(meshes: Sequence[Data], start: int = 0) -> list[Data]:
        """Shallow copies of ``meshes`` carrying their position as ``mesh_id`` (from ``start``)."""
        tagged = []
        for k, data in enumerate(meshes):
            data = copy.copy(data)  # shares the tensors
            setattr(data, MESH_ID, torch.tensor(start + k))
            tagged.append(data)
        return tagged

    def batch(self, batch: Batch, ids: Sequence[int]) -> ConvOperators | list[ConvOperators]:
        """The operators of ``batch`` (already on the device), whose entries are the meshes
        ``ids`` in order; one per level where ``levels > 1``. Their operators are built on
        first use where they were not kept; what the previous batch built is accounted for,
        and meshes beyond the budget dropped."""
        self._settle()
        self._last, self._fresh = list(dict.fromkeys(int(i) for i in ids)), []
        kept = [self._get(int(i)) for i in ids]
        per_level = [ConvOperators.from_data(level_data(batch, k), parts=[mesh[k] for mesh in kept])
                     for k in range(self.levels)]
        return per_level[0] if self.levels == 1 else per_level

    def _settle(self) -> None:
        """Count what the last batch's meshes built; keep its new meshes while they fit the
        budget, drop the others. Should kept meshes outgrow it (operators of another dtype,
        say), drop the least recently used of them (never those of the last batch)."""
        for i in self._last:
            self._bytes[i] = sum(operators.nbytes() for operators in self._kept[i])
        total = sum(size for i, size in self._bytes.items() if i not in self._fresh)
        for i in self._fresh:
            if total + self._bytes[i] <= self.budget:
                total += self._bytes[i]
            else:
                self._drop(i)
        for i in list(self._kept):
            if total <= self.budget:
                break
            if i not in self._last:
                total -= self._bytes[i]
                self._drop(i)

    def _drop(self, i: int) -> None:
        del self._bytes[i], self._kept[i]

    def _get(self, i: int) -> list[ConvOperators]:
        if i in self._kept:
            self._kept.move_to_end(i)
            return self._kept[i]
        self._kept[i] = [self._build(level_data(self.meshes[i], k)) for k in range(self.levels)]
        self._bytes[i] = 0
        self._fresh.append(i)
        self.built += 1
        return self._kept[i]

    def _build(self, level: Data) -> ConvOperators:
        return ConvOperators(level.edge_index.to(self.device), level.theta.to(self.device),
                             level.transport.to(self.device), _to(getattr(level, "edge_weight", None), self.device),
                             level.num_nodes)

    @property
    def nbytes(self) -> int:
        """Bytes of operators kept, as counted when the last batch was asked for."""
        return sum(self._bytes.values())


def _to(tensor: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if tensor is None else tensor.to(device)
