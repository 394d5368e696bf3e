"""``MeshDataset``: a PyG dataset over any layout, backed by the preprocessing cache.

The expensive part (frame field, features, labels, ``pre_transform``) is computed once per
mesh and cached (:func:`~gaugemesh.datasets.preprocess.preprocess`, the same entries that
``gaugemesh preprocess`` writes); ``transform`` runs on every access (augmentations,
random gauges). Samples are loaded from the cache on access, or kept in memory.
"""

from __future__ import annotations

import logging
import re
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from torch_geometric.data import Data, Dataset

from gaugemesh.datasets.cache import load_entry
from gaugemesh.datasets.layouts import open_layout
from gaugemesh.datasets.preprocess import preprocess
from gaugemesh.datasets.sample import ProcessOptions
from gaugemesh.features import DEFAULT_FEATURES, FeatureOptions
from gaugemesh.hierarchy.data import as_hierarchy_data

__all__ = ["MeshDataset", "train_val_split"]

log = logging.getLogger(__name__)


class MeshDataset(Dataset):
    """Segmentation samples of a mesh dataset folder, one ``Data`` per mesh.

    Each sample has ``pos``, ``face``, the frame field (``frame``, ``edge_index``, ``theta``,
    ``transport``, ``edge_weight``, ``area``), ``x`` with its type string ``x_type``, ``y``
    (per-vertex labels, -1 = ignore), ``vertex_map``, ``name`` and the layout's evaluation
    attributes (``seg_edge_index``, ``edge_y``, ``edge_soft``, ``seg_face_index``, ``face_y``).

    Args:
        root: Dataset folder.
        split: ``"train"``, ``"test"``, ... (``"all"`` for every mesh of the vertex_labels and
            generic layouts).
        layout: ``"auto"``, ``"meshcnn"``, ``"vertex_labels"`` (formerly ``"rna"``, still
            accepted) or ``"generic"``.
        cache_dir: Where processed samples are cached; default ``<root>/processed``.
        features: Input feature names.
        feature_options: Their parameters.
        connection: ``"levi-civita"`` or ``"projection"``.
        repair: Repair meshes on load (``None``: the layout's default).
        dtype: ``"float32"`` or ``"float64"``.
        structure_group: ``"SO2"`` or ``"O2"`` (frames that may be reflected: ``reflection`` per
            edge and O(2) feature types, see :func:`~gaugemesh.mesh_to_data`).
        transform: Applied on every access.
        pre_transform: Applied before caching.
        workers: Processes for the preprocessing of missing entries.
        strict: Fail on the first unusable mesh (bad, or a file that cannot be read) instead
            of skipping it.
        in_memory: Keep the samples in memory after the first load.
        progress: Show a progress bar while preprocessing.
        hierarchy_levels: Levels of the mesh hierarchy each sample holds (1: the mesh only);
            samples with more are :class:`~gaugemesh.hierarchy.data.HierarchyData`, which
            batch their coarse levels correctly.
        coarse_vertices: About how many vertices each coarse level has (see
            :class:`~gaugemesh.datasets.sample.ProcessOptions`).
        input_vertices: ``0``, or the density finer meshes are resampled to (see
            :class:`~gaugemesh.datasets.sample.ProcessOptions`).
        kernel_radius, radial_basis: Geodesic-disc kernels (see
            :class:`~gaugemesh.datasets.sample.ProcessOptions`).
        layout_options: Passed to the layout (e.g. ``unlabeled="ignore"``).

    Attributes:
        skipped: ``(name, reason)`` of the meshes that could not be used.
        summary: The :class:`~gaugemesh.datasets.preprocess.Summary` of the preprocessing.

    Raises:
        ValueError: options no mesh can be processed with (e.g. ``eigs=0``), before any work.
        UnusableMeshError: with ``strict``, the first mesh that could not be used and why.
        CacheWriteError: the cache folder cannot be written (full disk, read-only).
    """

    def __init__(self, root: os.PathLike, split: str = "train", *, layout: str = "auto",
                 cache_dir: os.PathLike | None = None, features: Sequence[str] = DEFAULT_FEATURES,
                 feature_options: FeatureOptions = FeatureOptions(), connection: str = "levi-civita",
                 repair: bool | None = None, dtype: str = "float32", structure_group: str = "SO2",
                 transform: Callable | None = None,
                 pre_transform: Callable | None = None, workers: int = 0, strict: bool = False,
                 in_memory: bool = False, progress: bool = False, layout_options: dict[str, Any] | None = None,
                 hierarchy_levels: int = 1, coarse_vertices: Sequence[int] = (), input_vertices: int = 0,
                 kernel_radius: float = 0.0, radial_basis: int = 1):
        self.layout = open_layout(root, layout, **(layout_options or {}))
        self.split = split
        self.options = ProcessOptions(features, feature_options, connection, repair=repair, dtype=dtype,
                                      structure_group=structure_group,
                                      hierarchy_levels=hierarchy_levels, coarse_vertices=tuple(coarse_vertices),
                                      input_vertices=input_vertices, kernel_radius=kernel_radius,
                                      radial_basis=radial_basis)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else Path(root) / "processed"
        super().__init__(None, transform, pre_transform, log=False)
        items = self.layout.items(split)
        self.summary = preprocess(self.layout, items, self.cache_dir, self.options, workers=workers,
                                  strict=strict, pre_transform=pre_transform, progress=progress)
        self.skipped = self.summary.failed
        for name, reason in self.skipped:
            log.warning("skipped mesh %s: %s", name, reason)
        self.names = list(self.summary.entries)
        self._paths = [self.summary.entries[n] for n in self.names]
        self._memory: dict[int, Data] | None = {} if in_memory else None

    @property
    def num_classes(self) -> int | None:
        """Number of classes the layout declares (``None`` where it declares none)."""
        return getattr(self.layout, "num_classes", None)

    def len(self) -> int:
        return len(self._paths)

    def get(self, idx: int) -> Data:
        if self._memory is not None and idx in self._memory:
            return self._memory[idx].clone()
        data = load_entry(self._paths[idx])
        if self.options.hierarchy_levels > 1:  # the cache stores a plain Data
            data = as_hierarchy_data(data)
        if self._memory is not None:
            self._memory[idx] = data
            return data.clone()
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.layout.root.name}, split={self.split!r}, {len(self)} meshes)"


def train_val_split(names: Sequence[str] | Dataset, fraction: float = 0.1, seed: int = 0,
                    group_pattern: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of a training set into train and validation indices.

    Depends only on the sorted names and the seed, not on their order or on the machine.
    With ``group_pattern``, meshes whose names share the regex's match (its first group if
    it has one) stay together, so a validation set holds out whole subjects or sequences
    rather than near-duplicates of training meshes; names without a match are their own
    group. Groups are drawn in seeded order until the fraction is reached; a group that
    would overshoot it by more than half is skipped.

    Args:
        names: Mesh names, or a :class:`MeshDataset` (its ``names``).
        fraction: Share of the meshes for validation (at least one where there are two).
        seed: Seed of the shuffle.
        group_pattern: Regular expression that names each mesh's group.

    Returns:
        ``(train_idx, val_idx)``, sorted index arrays into ``names``.
    """
    names = list(getattr(names, "names", names))
    if not 0 <= fraction < 1:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}.")
    count = int(round(fraction * len(names)))
    if fraction > 0 and len(names) >= 2:
        count = max(count, 1)
    if group_pattern:
        val = _grouped_validation(names, count, seed, group_pattern)
        return np.flatnonzero(~val), np.flatnonzero(val)
    order = np.argsort(names, kind="stable")
    shuffled = order[np.random.default_rng(seed).permutation(len(order))]
    return np.sort(shuffled[count:]), np.sort(shuffled[:count])


def _grouped_validation(names: list[str], count: int, seed: int, pattern: str) -> np.ndarray:
    regex = re.compile(pattern)

    def group(name: str) -> str:
        match = regex.search(name)
        return name if match is None else (match.group(1) if regex.groups else match.group(0))

    keys = np.array([group(n) for n in names])
    groups = sorted(set(keys.tolist()))
    val = np.zeros(len(names), dtype=bool)
    for g in np.random.default_rng(seed).permutation(len(groups)):
        members = keys == groups[g]
        if val.sum() >= count:
            break
        if val.sum() + members.sum() <= 1.5 * count:
            val |= members
    return val
