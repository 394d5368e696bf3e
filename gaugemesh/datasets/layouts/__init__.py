"""Pick a dataset layout by name, or recognise it from the folder's contents."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gaugemesh.datasets.base import Layout
from gaugemesh.datasets.generic import GenericLayout
from gaugemesh.datasets.meshcnn import MeshCNNLayout
from gaugemesh.datasets.vertex_labels import VertexLabelLayout

__all__ = ["LAYOUTS", "open_layout"]

#: Layout names, in the order ``"auto"`` tries them.
LAYOUTS = {"meshcnn": MeshCNNLayout, "rna": VertexLabelLayout, "generic": GenericLayout}


def open_layout(root: os.PathLike, layout: str = "auto", **options: Any) -> Layout:
    """The layout of the dataset at ``root``.

    Args:
        root: Dataset folder.
        layout: ``"auto"`` (recognise it), ``"meshcnn"``, ``"rna"`` or ``"generic"``.
        **options: Passed to the layout (e.g. ``unlabeled="ignore"``, ``label_kind="face"``).

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: unknown layout name, or nothing recognisable in ``root``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no dataset folder at {root}; download one with `gaugemesh download` "
                                "or make one with `gaugemesh make-synthetic`.")
    if layout != "auto":
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; use 'auto' or one of {sorted(LAYOUTS)}.")
        return LAYOUTS[layout](root, **options)
    for cls in LAYOUTS.values():
        if cls.matches(root):
            return cls(root, **options)
    raise ValueError(f"{root} holds no dataset gaugemesh recognises: expected train/ and seg/ (MeshCNN), "
                     "off/ and labels/ (RNA), or mesh files with label files beside them (see data/README.md).")
