"""Dataset layouts: where a dataset keeps its meshes and labels, one file per layout.

Reading order: :mod:`~gaugemesh.datasets.layouts.protocol` (what a layout is: ``Layout``,
``MeshItem``) -> :mod:`~gaugemesh.datasets.layouts.labels` (the label and split file helpers
every layout shares) -> the layouts, :mod:`~gaugemesh.datasets.layouts.meshcnn` (labels per
edge), :mod:`~gaugemesh.datasets.layouts.vertex_labels` (a label file per mesh, one label
per vertex) and :mod:`~gaugemesh.datasets.layouts.generic` (mesh files with labels beside
them) -> :func:`open_layout` here, which picks one by name or recognises it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gaugemesh.datasets.layouts.generic import GenericLayout
from gaugemesh.datasets.layouts.meshcnn import MeshCNNLayout
from gaugemesh.datasets.layouts.protocol import Layout, MeshItem
from gaugemesh.datasets.layouts.vertex_labels import VertexLabelLayout

__all__ = ["LAYOUTS", "LAYOUT_ALIASES", "Layout", "MeshItem", "GenericLayout", "MeshCNNLayout", "VertexLabelLayout",
           "open_layout"]

#: Layout names, in the order ``"auto"`` tries them.
LAYOUTS = {"meshcnn": MeshCNNLayout, "vertex_labels": VertexLabelLayout, "generic": GenericLayout}

#: Former names, still accepted wherever a layout is named (configs and scripts use them).
LAYOUT_ALIASES = {"rna": "vertex_labels"}


def open_layout(root: os.PathLike, layout: str = "auto", **options: Any) -> Layout:
    """The layout of the dataset at ``root``.

    Args:
        root: Dataset folder.
        layout: ``"auto"`` (recognise it), ``"meshcnn"``, ``"vertex_labels"`` (formerly
            ``"rna"``, still accepted) or ``"generic"``.
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
        layout = LAYOUT_ALIASES.get(layout, layout)
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; use 'auto' or one of {sorted(LAYOUTS)}.")
        return LAYOUTS[layout](root, **options)
    for cls in LAYOUTS.values():
        if cls.matches(root):
            return cls(root, **options)
    raise ValueError(f"{root} holds no dataset gaugemesh recognises: expected train/ and seg/ (meshcnn), "
                     "off/ and labels/ (vertex_labels), or mesh files with label files beside them (generic; "
                     "see data/README.md).")
