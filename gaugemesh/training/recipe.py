"""From a run's configuration to what its jobs need: the dataset, the feature options, the model
(from a ``[model]`` table, or from a checkpoint, checked before anything is allocated).

``train``, ``eval`` and ``predict`` all read the configuration through these functions, so a
checkpoint's stored configuration rebuilds exactly what training used.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import torch

from gaugemesh.datasets import MeshDataset, ProcessOptions
from gaugemesh.features import STRUCTURE_GROUPS, FeatureOptions
from gaugemesh.models.o2_gem_resnet import O2GemResNet
from gaugemesh.models import GCNBaseline, GemResNet, GemUNet
from gaugemesh.training.checkpoint import CheckpointError, check_model_state, load_checkpoint, load_weights
from gaugemesh.training.config import ConfigError, check_keys
from gaugemesh.training.loop import resolve_device

__all__ = ["MODELS", "feature_options", "process_options", "open_dataset", "model_options", "build_model", "check_structure_group",
           "check_levels", "check_radial_basis", "check_device", "load_model"]


_FEATURE_OPTION_KEYS = ("hks_count", "grad_count", "eigs")


def feature_options(features: dict[str, Any]) -> FeatureOptions:
    return FeatureOptions(**{k: features[k] for k in _FEATURE_OPTION_KEYS if k in features})


def process_options(config: dict[str, Any]) -> ProcessOptions:
    """The preprocessing options of a config: the one mapping from ``[features]`` and
    ``[data]`` to what enters the cache key, used by ``preprocess --config``, ``train``,
    ``eval`` and ``predict`` alike (so that a cache filled by one is found by the others)."""
    data, features = config["data"], config["features"]
    return ProcessOptions(tuple(features["names"]), feature_options(features),
                          features.get("connection", "levi-civita"), repair=data.get("repair"),
                          structure_group=features.get("structure_group", "SO2"),
                          hierarchy_levels=int(features.get("hierarchy_levels", 1)),
                          coarse_vertices=tuple(features.get("coarse_vertices", ())),
                          input_vertices=int(features.get("input_vertices", 0)),
                          kernel_radius=features.get("kernel_radius", 0.0),
                          radial_basis=features.get("radial_basis", 1))


def open_dataset(config: dict[str, Any], split: str, root: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, progress: bool = True) -> MeshDataset:
    """The ``split`` of the dataset a config describes, frame fields and features cached."""
    data, options = config["data"], process_options(config)
    root = Path(root or data["root"])
    cache = cache_dir or data.get("cache") or root / "processed"
    return MeshDataset(root, split, layout=data.get("format", "auto"), cache_dir=cache,
                       features=options.features, feature_options=options.feature_options,
                       connection=options.connection, repair=options.repair, dtype=options.dtype,
                       structure_group=options.structure_group,
                       workers=int(data.get("workers", 2)), strict=bool(data.get("strict", False)), in_memory=True,
                       progress=progress, hierarchy_levels=options.hierarchy_levels,
                       coarse_vertices=options.coarse_vertices, input_vertices=options.input_vertices,
                       kernel_radius=options.kernel_radius, radial_basis=options.radial_basis)


MODELS = {"gem": GemResNet, "gem_unet": GemUNet, "gcn": GCNBaseline, "o2gem": O2GemResNet}


def model_options(model_config: dict[str, Any]) -> tuple[type, dict[str, Any], dict[str, Any]]:
    """The class a ``[model]`` table names, its options as given, and every option with the
    class's defaults filled in.

    Raises:
        ConfigError: an unknown ``kind`` or key (named, with the valid ones).
    """
    if not isinstance(model_config, dict):
        raise ConfigError(f"[model] must be a table of key = value pairs, got {model_config!r}")
    given = dict(model_config)
    kind = given.pop("kind", "gem")
    if not isinstance(kind, str) or kind not in MODELS:
        raise ConfigError(f"unknown model.kind {kind!r}; use one of {', '.join(sorted(MODELS))}")
    model_class = MODELS[kind]
    params = list(inspect.signature(model_class).parameters.values())[2:]  # after in_type, num_classes
    check_keys("model", given, ["kind", *(p.name for p in params)])
    return model_class, given, {**{p.name: p.default for p in params}, **given}


def build_model(model_config: dict[str, Any], in_type: str, num_classes: int) -> torch.nn.Module:
    """The network of the ``[model]`` table: ``kind = "gem"`` (default,
    :class:`~gaugemesh.models.GemResNet`), ``"gem_unet"`` (:class:`~gaugemesh.models.GemUNet`)
    or ``"gcn"`` (:class:`~gaugemesh.models.GCNBaseline`); the other keys are the class's
    arguments.

    Raises:
        ConfigError: an unknown kind or key, or a value the class refuses.
    """
    model_class, given, _ = model_options(model_config)
    try:
        return model_class(in_type, num_classes, **given)
    except (TypeError, ValueError) as exc:  # the class's own argument checks
        raise ConfigError(f"[model] {given} cannot build {model_class.__name__}: {exc}") from exc


def check_levels(config: dict[str, Any]) -> None:
    """A multi-scale model needs its levels in the samples: refuse a config where the model
    pools through more levels than preprocessing stores, before any mesh is processed.

    Raises:
        ConfigError: naming both keys and the value that fixes it.
    """
    model_class, _, options = model_options(config["model"])
    wanted = int(options.get("num_levels", 1)) if model_class is GemUNet else 1
    stored = int(config["features"].get("hierarchy_levels", 1))
    if wanted > stored:
        raise ConfigError(f"model.num_levels = {wanted} needs features.hierarchy_levels >= {wanted} (the samples "
                          f"store {stored}); set features.hierarchy_levels={wanted}")


def check_radial_basis(config: dict[str, Any]) -> None:
    """The model's radial weights per edge must be those the samples store: refuse a mismatch
    of ``model.num_radial`` and ``features.radial_basis`` before any mesh is processed.

    Raises:
        ConfigError: naming both keys and the value that fixes it.
    """
    _, _, options = model_options(config["model"])
    if "num_radial" not in options:  # e.g. the GCN baseline: it reads no kernel weights
        return
    wanted, stored = int(options["num_radial"]), int(config["features"].get("radial_basis", 1))
    if wanted != stored:
        raise ConfigError(f"model.num_radial = {wanted} reads {wanted} radial weights per edge, the samples store "
                          f"features.radial_basis = {stored}; set model.num_radial={stored}")


def check_structure_group(config: dict[str, Any]) -> None:
    """Refuse a model that cannot read the features' structure group, before any mesh is
    processed: ``model.kind = "o2gem"`` reads O(2) features only, every other kind SO(2) ones.

    Raises:
        ConfigError: in one line, naming both keys and a value that fixes it.
    """
    features = config["features"]
    group = features.get("structure_group", "SO2")
    if group not in STRUCTURE_GROUPS:
        raise ConfigError(f"features.structure_group must be one of {', '.join(STRUCTURE_GROUPS)}, got {group!r}; "
                          'e.g. features.structure_group="O2"')
    model_class, given, _ = model_options(config["model"])
    kind = config["model"].get("kind", "gem")
    if group == "O2" and model_class is not O2GemResNet:
        raise ConfigError(f'features.structure_group = "O2" needs model.kind = "o2gem" (model.kind = {kind!r} reads '
                          'SO(2) features); set model.kind="o2gem" or features.structure_group="SO2"')
    if group != "O2" and model_class is O2GemResNet:
        raise ConfigError('model.kind = "o2gem" needs features.structure_group = "O2" (O(2) frames and feature '
                          'types); set features.structure_group="O2"')
    if group == "O2" and features.get("connection", "levi-civita") != "levi-civita":
        raise ConfigError(f'features.structure_group = "O2" takes the Levi-Civita connection only, got '
                          f'features.connection = {features["connection"]!r}; set features.connection="levi-civita"')


def check_device(name: str, key: str) -> None:
    """Refuse a CUDA device torch does not see, before any work, naming the option ``key``."""
    if isinstance(name, str) and name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{key} {name} was asked for, but torch sees no CUDA device; use cpu or auto instead")


def load_model(checkpoint: str | os.PathLike, device: str = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint (weights loaded, eval mode) and return its state dict.

    The stored ``[model]`` table is checked against the stored weights before the model is
    built, so that a forged table (``width = 30000``) cannot take the machine's memory.

    Raises:
        ConfigError: ``device`` is CUDA and torch sees none.
        CheckpointError: an unusable or inconsistent checkpoint, in one line.
    """
    check_device(device, "--device")
    path = Path(checkpoint)
    state = load_checkpoint(path)
    advice = "the checkpoint was edited or is corrupt: use one written by `gaugemesh train`"
    try:
        model_class, given, options = model_options(state["config"].get("model", {}))
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}; {advice}") from exc
    check_model_state(state, model_class, options, str(path), advice)
    try:
        model = model_class(state["in_type"], len(state["class_names"]), **given)
    except (TypeError, ValueError) as exc:  # non-size options the class refuses
        raise CheckpointError(f"{path}: its [model] table cannot build {model_class.__name__} ({exc}); "
                              f"{advice}") from exc
    load_weights(model, state["model_state"], str(path), advice)
    return model.to(resolve_device(device)).eval(), state
