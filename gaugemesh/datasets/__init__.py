"""Datasets: mesh folder layouts, the preprocessing cache, synthetic data, downloads.

Reading order: :mod:`~gaugemesh.datasets.layouts` (what a layout is, the shared label
helpers, one file per layout, and ``open_layout``) -> :mod:`~gaugemesh.datasets.sample` (one
mesh becomes one sample) -> :mod:`~gaugemesh.datasets.cache` and
:mod:`~gaugemesh.datasets.preprocess` (the pooled, cached run over a dataset) ->
:class:`MeshDataset`.
"""

from gaugemesh.datasets.cache import CACHE_FORMAT, CacheError, load_entry
from gaugemesh.datasets.dataset import MeshDataset, train_val_split
from gaugemesh.datasets.download import SOURCES, DownloadError, download
from gaugemesh.datasets.layouts import (LAYOUTS, GenericLayout, MeshCNNLayout, MeshItem, VertexLabelLayout,
                                        open_layout)
from gaugemesh.datasets.layouts.meshcnn import meshcnn_edges
from gaugemesh.datasets.preprocess import Summary, parse_shard, preprocess
from gaugemesh.datasets.sample import ProcessOptions, process_item
from gaugemesh.datasets.synthetic import CLASSES as SYNTHETIC_CLASSES
from gaugemesh.datasets.synthetic import make_synthetic

__all__ = [
    "CACHE_FORMAT",
    "CacheError",
    "DownloadError",
    "GenericLayout",
    "LAYOUTS",
    "MeshCNNLayout",
    "MeshDataset",
    "MeshItem",
    "ProcessOptions",
    "SOURCES",
    "SYNTHETIC_CLASSES",
    "Summary",
    "VertexLabelLayout",
    "download",
    "load_entry",
    "make_synthetic",
    "meshcnn_edges",
    "open_layout",
    "parse_shard",
    "preprocess",
    "process_item",
    "train_val_split",
]
