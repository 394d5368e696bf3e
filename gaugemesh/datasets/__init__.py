"""Datasets: mesh folder layouts, the preprocessing cache, synthetic data, downloads.

Reading order: :mod:`~gaugemesh.datasets.base` (items, labels) -> the layouts
(:mod:`~gaugemesh.datasets.meshcnn`, :mod:`~gaugemesh.datasets.vertex_labels`,
:mod:`~gaugemesh.datasets.generic`) -> :mod:`~gaugemesh.datasets.process` (one sample)
-> :mod:`~gaugemesh.datasets.cache` and :mod:`~gaugemesh.datasets.preprocess` ->
:class:`MeshDataset`.
"""

from gaugemesh.datasets.base import MeshItem
from gaugemesh.datasets.cache import CACHE_FORMAT, CacheError, load_entry
from gaugemesh.datasets.dataset import MeshDataset, train_val_split
from gaugemesh.datasets.download import SOURCES, DownloadError, download
from gaugemesh.datasets.generic import GenericLayout
from gaugemesh.datasets.layouts import LAYOUTS, open_layout
from gaugemesh.datasets.meshcnn import MeshCNNLayout, meshcnn_edges
from gaugemesh.datasets.preprocess import Summary, parse_shard, preprocess
from gaugemesh.datasets.process import ProcessOptions, process_item
from gaugemesh.datasets.synthetic import CLASSES as SYNTHETIC_CLASSES
from gaugemesh.datasets.synthetic import make_synthetic
from gaugemesh.datasets.vertex_labels import VertexLabelLayout

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
