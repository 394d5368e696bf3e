"""What a dataset layout is: the :class:`Layout` protocol and the :class:`MeshItem` it lists.

A *layout* knows where a dataset keeps its meshes and labels. It lists :class:`MeshItem`\\ s
(``items(split)``) and turns one into a validated mesh plus label arrays (``read(item,
repair, structure_group)``); everything after that (frame field, features, cache) is layout
independent. ``structure_group`` is the group the mesh is validated for
(:func:`~gaugemesh.validate_mesh`): ``"SO2"`` (default) refuses a non-orientable mesh,
``"O2"`` accepts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gaugemesh.mesh import Mesh

__all__ = ["MeshItem", "Layout"]


@dataclass(frozen=True)
class MeshItem:
    """One mesh of a dataset and the files its sample is made from.

    Attributes:
        name: Unique name within the dataset (the file stem).
        split: ``"train"``, ``"test"``, ...
        mesh: Path of the mesh file.
        labels: Paths of its label files (part of the cache key).
    """

    name: str
    split: str
    mesh: str
    labels: tuple[str, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        return (self.mesh,) + self.labels


class Layout(Protocol):
    """The interface of a dataset layout (see :mod:`gaugemesh.datasets.layouts.meshcnn` for one).

    ``matches(root)`` (a static method) says whether a folder looks like this layout, for
    :func:`~gaugemesh.datasets.layouts.open_layout`'s ``"auto"``; ``key()`` is the JSON-able
    description that enters the cache key.
    """

    root: Path
    default_repair: bool

    @staticmethod
    def matches(root: Path) -> bool: ...

    def items(self, split: str) -> list[MeshItem]: ...

    def read(self, item: MeshItem, repair: bool | None = None,
             structure_group: str = "SO2") -> tuple[Mesh, dict[str, Any]]: ...

    def key(self) -> dict[str, Any]: ...
