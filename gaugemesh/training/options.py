"""The options schema: one typed dataclass per config table, with the defaults in one place.

``preprocess --config``, ``train``, ``eval`` and ``predict`` read a configuration only after
:func:`resolve_tables` has checked it against these classes (``[train]`` against
:class:`~gaugemesh.training.loop.TrainSettings`, ``[model]`` against the model class it names),
so an unknown key or a wrong type fails before any work, in one line that names the key, its
table and the valid keys or an example value.

Torch-free, so that the command line can check a configuration cheaply.
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from gaugemesh.features import DEFAULT_FEATURES, FeatureOptions

__all__ = ["ConfigError", "DataOptions", "FeaturesOptions", "AugmentOptions", "OutputOptions", "SECTIONS",
           "check_keys", "table_from", "section_defaults", "toml_value"]

_FEATURE_DEFAULTS = FeatureOptions()


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key."""


@dataclass(frozen=True)
class DataOptions:
    """The ``[data]`` table: where the meshes are and how they are split and cached.

    Attributes:
        format: Dataset layout: ``"generic"``, ``"meshcnn"``, ``"vertex_labels"`` or
            ``"auto"`` (recognised from the folder; what ``train --data`` uses), see
            :mod:`gaugemesh.datasets.layouts`.
        root: The dataset folder.
        val_fraction: Share of the training split held out for validation.
        split_seed: Seed of that split.
        cache: Cache folder (default: ``<root>/processed``).
        repair: Repair meshes while loading (``None``: the layout's default).
        workers: Preprocessing processes.
        val_group_pattern: Regex whose first group names a mesh's group (subject, sequence);
            groups stay on one side of the split. Empty: the layout's guess.
        strict: Stop at the first unusable mesh instead of skipping it.
        extra_train: Folders of more training meshes (each read as ``format = "auto"``,
            repaired as the dataset's meshes are, cached in ``cache``) that join the training
            split and never the validation split: remeshed copies of the training meshes,
            say. Their classes must be the dataset's.
    """

    format: str = "generic"
    root: str = ""
    val_fraction: float = 0.1
    split_seed: int = 0
    cache: str = ""
    repair: bool | None = None
    workers: int = 2
    val_group_pattern: str = ""
    strict: bool = False
    extra_train: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FeaturesOptions:
    """The ``[features]`` table: the input features and the connection (all in the cache key).

    Attributes:
        names: Input features (see :data:`gaugemesh.features.FEATURES`).
        connection: ``"levi-civita"`` or ``"projection"``.
        hks_count, grad_count, eigs: As :class:`gaugemesh.features.FeatureOptions`.
        structure_group: ``"SO2"``, or ``"O2"`` for frames that may also be reflected (any
            surface, orientable or not; needs ``model.kind = "o2gem"``; see ``docs/o2.md``).
        hierarchy_levels: Levels of the mesh hierarchy computed and cached with the features
            (the mesh counts as one): what ``model.kind = "gem_unet"`` pools through.
        coarse_vertices: About how many vertices each coarse level has, whatever the mesh's
            resolution (cells of side ``sqrt(area / n)``); empty: 4x fewer per level.
        input_vertices: ``0`` (off), or about how many vertices the network runs on: a mesh
            more than twice as dense is resampled to that density first and the outputs carried
            back to its vertices (:mod:`gaugemesh.hierarchy.resample`); set it near the training
            meshes' vertex count to segment finer meshes as the model learnt.
        kernel_radius: ``0`` (one-ring kernels), or the radius of geodesic-disc kernels as a
            share of ``sqrt(surface area)``, doubled per coarse level (``docs/multiscale.md``).
        radial_basis: Radial hat functions per disc edge; the model's ``num_radial`` must match.
    """

    names: list[str] = field(default_factory=lambda: list(DEFAULT_FEATURES))
    connection: str = "levi-civita"
    hks_count: int = _FEATURE_DEFAULTS.hks_count
    grad_count: int = _FEATURE_DEFAULTS.grad_count
    eigs: int = _FEATURE_DEFAULTS.eigs
    structure_group: str = "SO2"
    hierarchy_levels: int = 1
    coarse_vertices: list[int] = field(default_factory=list)
    input_vertices: int = 0
    kernel_radius: float = 0.0
    radial_basis: int = 1


@dataclass(frozen=True)
class AugmentOptions:
    """The ``[augment]`` table: training-time augmentations.

    Attributes:
        gauge: A random gauge per sample (frames and vector features rotated together); SO(2)
            networks only (an O(2) network is exactly equivariant: nothing to augment).
        rotate: A random rotation in space (changes only the ``xyz`` feature).
        scale: Largest relative random scaling (0: none).
    """

    gauge: bool = True
    rotate: bool = True
    scale: float = 0.0


@dataclass(frozen=True)
class OutputOptions:
    """The ``[output]`` table.

    Attributes:
        dir: The run folder (checkpoints, metrics, curves, the resolved configuration).
    """

    dir: str = "runs/default"


#: The tables read through a dataclass here; ``[model]`` and ``[train]`` are checked by the
#: classes they build.
SECTIONS: dict[str, type] = {"data": DataOptions, "features": FeaturesOptions, "augment": AugmentOptions,
                             "output": OutputOptions}


def check_keys(section: str, table: Any, valid: typing.Iterable[str]) -> None:
    """Refuse a key of ``[section]`` that is not in ``valid``, naming it and the valid ones.

    Raises:
        ConfigError: ``table`` is not a table, or has a key outside ``valid``.
    """
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] must be a table of key = value pairs, got {table!r}")
    valid = sorted(valid)
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise ConfigError(f"unknown key {section}.{unknown[0]}; valid keys of [{section}]: {', '.join(valid)}")


def section_defaults(cls: type) -> dict[str, Any]:
    """The defaults of a section class as a plain table."""
    return asdict(cls())


def table_from(section: str, table: Any) -> dict[str, Any]:
    """``table`` checked against the class of ``[section]`` and completed with its defaults.

    Raises:
        ConfigError: an unknown key, or a value of the wrong type (named with an example).
    """
    cls = SECTIONS[section]
    check_keys(section, table, [f.name for f in fields(cls)])
    hints = typing.get_type_hints(cls)
    for name, value in table.items():
        if not _matches(value, hints[name]):
            raise ConfigError(f"{section}.{name} must be {_describe(hints[name])}, got {value!r}; e.g. "
                              f"{section}.{name}={toml_value(_example(cls, name))}")
    return {**section_defaults(cls), **table}


def _example(cls: type, name: str) -> Any:
    spec = next(f for f in fields(cls) if f.name == name)
    return spec.default_factory() if spec.default is MISSING else spec.default


def _matches(value: Any, hint: Any) -> bool:
    """Whether a TOML value has the declared type (an integer is a float; a bool is no integer)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, (list, tuple)) and all(_matches(v, item) for v in value)
    raise TypeError(f"no check for {hint!r}")  # a new field type: teach _matches about it


def _describe(hint: Any) -> str:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return " or ".join(_describe(h) for h in typing.get_args(hint) if h is not type(None))
    if typing.get_origin(hint) is list:
        return "a list of " + {bool: "booleans", int: "integers", float: "numbers", str: "strings"}[typing.get_args(hint)[0]]
    return {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}[hint]


def toml_value(value: Any) -> str:
    """``value`` written in TOML syntax (what an override or a config file would say)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write {value!r} as TOML")
