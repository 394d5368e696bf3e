"""The segmentation job as library functions: train, evaluate a checkpoint, predict a mesh.

The command line (:mod:`gaugemesh.cli.train`) only parses arguments and calls these. A
checkpoint stores the resolved configuration, so evaluation and prediction rebuild the model
and recompute frame fields and features from raw meshes exactly as training did.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Batch

from gaugemesh.datasets import MeshDataset, train_val_split
from gaugemesh.features import FeatureOptions, feature_type_string
from gaugemesh.graph import add_features, mesh_to_data
from gaugemesh.io import read_mesh_arrays
from gaugemesh.mesh import Mesh, validate_mesh
from gaugemesh.models import GCNBaseline, GemResNet
from gaugemesh.so2 import FieldType
from gaugemesh.training.checkpoint import CheckpointError, check_model_state, load_checkpoint, load_weights
from gaugemesh.training.config import ConfigError, check_keys
from gaugemesh.training.loop import Trainer, TrainSettings, predict_scores, resolve_device
from gaugemesh.training.metrics_log import MetricsLog
from gaugemesh.training.precision import Precision

__all__ = ["JobError", "RUN_FILES", "open_dataset", "build_model", "model_options", "make_augment", "train",
           "evaluate_checkpoint", "predict_mesh"]

#: What a run writes to ``output.dir``; a folder holding any of them holds a run.
RUN_FILES = ("best.pt", "last.pt", "metrics.jsonl", "curves.png", "config.json")


class JobError(ValueError):
    """A job that cannot run as asked: an occupied run folder, an output path that is a file,
    a split without usable meshes, a dataset whose classes are not the checkpoint's. The
    message says what to do."""

_FEATURE_OPTION_KEYS = ("hks_count", "grad_count", "eigs")


def _feature_options(features: dict[str, Any]) -> FeatureOptions:
    return FeatureOptions(**{k: features[k] for k in _FEATURE_OPTION_KEYS if k in features})


def open_dataset(config: dict[str, Any], split: str, root: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, progress: bool = True) -> MeshDataset:
    """The ``split`` of the dataset a config describes, frame fields and features cached."""
    data, features = config["data"], config["features"]
    root = Path(root or data["root"])
    cache = cache_dir or data.get("cache") or root / "processed"
    return MeshDataset(root, split, layout=data.get("format", "auto"), cache_dir=cache,
                       features=features["names"], feature_options=_feature_options(features),
                       connection=features.get("connection", "levi-civita"), repair=data.get("repair"),
                       workers=int(data.get("workers", 2)), in_memory=True, progress=progress)


MODELS = {"gem": GemResNet, "gcn": GCNBaseline}


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
    :class:`~gaugemesh.models.GemResNet`) or ``"gcn"`` (:class:`~gaugemesh.models.GCNBaseline`);
    the other keys are the class's arguments.

    Raises:
        ConfigError: an unknown kind or key, or a value the class refuses.
    """
    model_class, given, _ = model_options(model_config)
    try:
        return model_class(in_type, num_classes, **given)
    except (TypeError, ValueError) as exc:  # the class's own argument checks
        raise ConfigError(f"[model] {given} cannot build {model_class.__name__}: {exc}") from exc


def check_device(name: str, key: str) -> None:
    """Refuse a CUDA device torch does not see, before any work, naming the option ``key``."""
    if isinstance(name, str) and name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{key} {name} was asked for, but torch sees no CUDA device; use cpu or auto instead")


def _xyz_slice(names: list[str], options: FeatureOptions) -> slice | None:
    """Where the (not rotation invariant) ``xyz`` channels sit in ``x``, if requested."""
    if "xyz" not in names:
        return None
    scalars_before = [n for n in names[: names.index("xyz")] if FieldType(feature_type_string([n], options)).max_order == 0]
    start = FieldType(feature_type_string(scalars_before, options)).dim if scalars_before else 0
    return slice(start, start + 3)


def _random_rotation(generator: torch.Generator | None = None) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return q if torch.det(q) > 0 else -q


def make_augment(config: dict[str, Any], x_type: str):
    """The training-time augmentation of a batch: a random gauge and, where the inputs
    include ``xyz``, a random 3D rotation of those channels (other inputs are rotation
    invariant).

    The random gauge is ``batch.nonlinearity_gauge``: the nonlinearities run in frames
    rotated by it, which is what the network computes on the mesh and its features in that
    gauge (every other layer is exactly equivariant; tested in
    ``tests/models/test_segmentation.py``), while the connection and its cached operators
    stay as they are."""
    augment, features = config["augment"], config["features"]
    xyz = _xyz_slice(list(features["names"]), _feature_options(features)) if augment.get("rotate", True) else None
    use_gauge = augment.get("gauge", True)
    if not use_gauge and xyz is None:
        return None

    def apply(batch: Batch) -> Batch:
        if use_gauge:
            batch = copy.copy(batch)
            # drawn on the CPU: its generator's state is in every checkpoint
            phi = (torch.rand(batch.num_nodes, dtype=torch.float64) * 2 - 1) * torch.pi
            batch.nonlinearity_gauge = phi.to(batch.x.device, batch.x.dtype, non_blocking=True)
        if xyz is not None:
            x = batch.x.clone()
            rotation = _random_rotation().to(x)
            x[:, xyz] = x[:, xyz] @ rotation.T
            batch.x = x
        return batch

    return apply


def _class_names(dataset: MeshDataset) -> list[str]:
    layout = dataset.layout
    names = getattr(layout, "class_names", None)
    names = names() if callable(names) else names
    count = dataset.num_classes or int(max(int(d.y.max()) for d in dataset)) + 1
    return [str(n) for n in names] if names else [str(i) for i in range(count)]


def _init_distributed(settings: TrainSettings) -> None:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1): NCCL with one GPU
    per local rank when training on CUDA, gloo otherwise."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return
    cuda = resolve_device(settings.device).type == "cuda"
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        settings.device = f"cuda:{local}"
    dist.init_process_group("nccl" if cuda else "gloo")


def train(config: dict[str, Any], resume: bool = False, progress: bool = True, until: int | None = None,
          overwrite: bool = False) -> Path:
    """Train the model a config describes; returns the output folder.

    A seeded ``data.val_fraction`` of the training split is held out for validation (the
    test split is never touched). Writes ``best.pt``, ``last.pt``, ``metrics.jsonl``,
    ``curves.png`` and ``config.json`` to ``output.dir``.

    Everything is checked before the run folder changes: the settings, the device, whether
    the folder holds a run already (refused unless ``resume``, which continues it, or
    ``overwrite``, which deletes its files first), and on resume whether ``last.pt`` fits
    the model the config describes.

    Raises:
        ConfigError: an unusable setting.
        JobError: an occupied or unusable output folder, or no usable training mesh.
        CheckpointError: ``last.pt`` is unusable or does not fit the config (on resume).
    """
    settings = TrainSettings.from_table(config["train"])
    model_options(config["model"])  # the kind and keys now; the values when the model is built
    check_device(settings.device, "train.device (--device)")
    _check_data_table(config["data"])
    out_dir = Path(config["output"]["dir"])
    _check_run_folder(out_dir, resume, overwrite)
    checkpoint = _resume_checkpoint(config, out_dir) if resume else None
    # every rank has checked the folder above before any rank joins, and so before rank 0 writes
    _init_distributed(settings)
    torch.manual_seed(settings.seed)
    full = open_dataset(config, "train", progress=progress)
    if len(full) == 0:
        raise JobError(f"no usable training meshes in {config['data']['root']} (skipped: {full.skipped[:5]}); "
                       "check data.root and data.format")
    data = config["data"]
    train_idx, val_idx = train_val_split(full, data.get("val_fraction", 0.1), data.get("split_seed", 0),
                                         data.get("val_group_pattern") or None)
    x_type = full[0].x_type
    class_names = _class_names(full)
    model = build_model(config["model"], x_type, len(class_names))
    if checkpoint is not None:
        _check_resume_data(checkpoint, out_dir, x_type, class_names)
    meta = dict(config=config, class_names=class_names, in_type=x_type, out_type=str(model.out_type),
                val_names=[full.names[i] for i in val_idx])
    trainer = Trainer(model, [full[int(i)] for i in train_idx], [full[int(i)] for i in val_idx], settings, out_dir,
                      meta, augment=make_augment(config, x_type), progress=progress)
    if checkpoint is not None:
        trainer.resume(out_dir / "last.pt", state=checkpoint)  # the first change to the run folder
    if trainer.rank == 0:
        _start_run_folder(out_dir, config, clear=overwrite)
    trainer.fit(until=until)
    return out_dir


def _check_data_table(data: dict[str, Any]) -> None:
    """The ``[data]`` values the job itself reads, checked before any mesh is processed."""
    fraction = data.get("val_fraction", 0.1)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ConfigError(f"data.val_fraction must be a number in [0, 1), got {fraction!r}; e.g. data.val_fraction=0.1")


def _check_run_folder(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse an output path that is a file, and a folder holding a run unless told what to do with it."""
    if resume and overwrite:
        raise JobError("--resume continues the run and --overwrite deletes it: pass one of them")
    _check_out_dir(out_dir, "output.dir")
    present = [name for name in RUN_FILES if (out_dir / name).exists()]
    if present and not (resume or overwrite):
        raise JobError(f"{out_dir} already holds a run ({', '.join(present)}); pass --resume to continue it, "
                       "--overwrite to replace it, or set another output.dir")


def _check_out_dir(out_dir: Path, option: str) -> None:
    """Refuse an output folder path that names an existing file."""
    if out_dir.exists() and not out_dir.is_dir():
        raise JobError(f"{option} {out_dir} is a file, not a folder; give a folder path (created if missing)")


def _resume_checkpoint(config: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """``last.pt`` of the run to continue, checked against the config's ``[model]`` table
    without building anything, and its metrics log readable."""
    path = out_dir / "last.pt"
    if not path.is_file():
        raise JobError(f"--resume: no {path} to continue; train without --resume to start a run in {out_dir}")
    state = load_checkpoint(path)
    model_class, _, options = model_options(config["model"])
    check_model_state(state, model_class, options, f"--resume: {path}", _RESUME_ADVICE)
    MetricsLog(out_dir / "metrics.jsonl").check()  # a damaged log is refused here, before any change
    return state


_RESUME_ADVICE = ("resume with the run's own [model] table (see its config.json), or start a new run with "
                  "--overwrite or another output.dir")


def _check_resume_data(state: dict[str, Any], out_dir: Path, x_type: str, class_names: list[str]) -> None:
    """The resumed run must see the inputs and classes it was trained on."""
    if state["in_type"] != x_type:
        raise CheckpointError(f"--resume: {out_dir / 'last.pt'} was trained on inputs {state['in_type']}, the config "
                              f"gives {x_type} (another [features] table?); {_RESUME_ADVICE}")
    if state["class_names"] != class_names:
        raise CheckpointError(f"--resume: {out_dir / 'last.pt'} was trained on {len(state['class_names'])} classes "
                              f"{_short_list(state['class_names'])}, the data has {len(class_names)} "
                              f"{_short_list(class_names)}; {_RESUME_ADVICE}")


def _short_list(names: list[str], limit: int = 6) -> str:
    return "[" + ", ".join(names[:limit]) + (", ...]" if len(names) > limit else "]")


def _start_run_folder(out_dir: Path, config: dict[str, Any], clear: bool) -> None:
    """Delete an old run's files (``--overwrite``), then record the config of this one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if clear:
        for name in RUN_FILES:
            (out_dir / name).unlink(missing_ok=True)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))


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


def _confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    keep = target >= 0
    return torch.bincount(target[keep] * num_classes + pred[keep], minlength=num_classes**2).view(num_classes, num_classes)


class _RotatedLayout:
    """A dataset layout whose meshes come back rigidly rotated, seeded per mesh name."""

    def __init__(self, layout, seed: int):
        self._layout, self._seed = layout, seed

    def __getattr__(self, name):
        return getattr(self._layout, name)

    def key(self) -> dict[str, Any]:
        return {**self._layout.key(), "rotate_seed": self._seed}

    def read(self, item, repair: bool):
        mesh, labels = self._layout.read(item, repair)
        rng = np.random.default_rng([self._seed, zlib.crc32(item.name.encode())])
        q, r = np.linalg.qr(rng.standard_normal((3, 3)))
        rotation = q * np.sign(np.diag(r)) * np.sign(np.linalg.det(q * np.sign(np.diag(r))))
        return Mesh(mesh.pos @ rotation.T, mesh.faces, mesh.vertex_map, mesh.face_map), labels


def _samples_by_hand(config, state, data_root, split, rotate_seed) -> tuple[list, list]:
    """Samples of ``split`` (``"val"``: the checkpoint's held-out training meshes), computed
    without the cache, optionally rotated; returns ``(samples, skipped)``."""
    from gaugemesh.datasets import open_layout
    from gaugemesh.datasets.process import ProcessOptions, process_item
    from gaugemesh.mesh import MeshError

    data, features = config["data"], config["features"]
    layout = open_layout(data_root, data.get("format", "auto"))
    items = layout.items("train" if split == "val" else split)
    if split == "val":
        items = [item for item in items if item.name in set(state.get("val_names", []))]
    if rotate_seed is not None:
        layout = _RotatedLayout(layout, rotate_seed)
    options = ProcessOptions(tuple(features["names"]), _feature_options(features),
                             features.get("connection", "levi-civita"), repair=data.get("repair"))
    samples, skipped = [], []
    for item in items:
        try:
            samples.append(process_item(layout, item, options))
        except MeshError as exc:
            skipped.append((item.name, str(exc)))
    return samples, skipped


def evaluate_checkpoint(checkpoint, data_root, split: str = "test", device: str = "cpu",
                        cache_dir=None, progress: bool = True, rotate_seed: int | None = None,
                        precision: str = "auto") -> dict[str, Any]:
    """Metrics of a checkpoint on a dataset split, features recomputed from the raw meshes.

    ``split="val"`` evaluates the training meshes the checkpoint held out for validation;
    ``rotate_seed`` rotates every mesh at random in space before anything is computed, to
    measure how invariant the model is to orientation.

    Returns the pooled metrics (``vertex_acc`` and, for the MeshCNN layout,
    ``edge_acc_hard``, ``edge_acc_soft``, ``face_acc``), per-class accuracy and the
    confusion matrix (rows: true class) of the elements the labels live on.

    Raises:
        JobError: the dataset's classes are not the checkpoint's (another count declared,
            or labels beyond it), or the split has no usable mesh.
    """
    from gaugemesh.metrics import segmentation_metrics, vertex_to_edge

    model, state = load_model(checkpoint, device)
    _check_declared_classes(state, data_root)
    if split == "val" or rotate_seed is not None:
        samples, skipped = _samples_by_hand(state["config"], state, data_root, split, rotate_seed)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            dataset = open_dataset(state["config"], split, root=data_root, cache_dir=cache_dir or tmp, progress=progress)
            samples, skipped = [dataset[i] for i in range(len(dataset))], dataset.skipped
    if not samples:
        raise JobError(f"no usable meshes in split {split!r} of {data_root} (skipped: {skipped[:5]}); "
                       "check --data and --split")
    _check_labels(state, samples, data_root, split)
    run_on = resolve_device(device)
    numerics = Precision.resolve(precision, run_on)
    scores = torch.cat([predict_scores(model, d, run_on, numerics) for d in samples])
    everything = Batch.from_data_list(samples)
    metrics: dict[str, Any] = segmentation_metrics(everything, scores)
    num_classes = len(state["class_names"])
    if getattr(everything, "edge_y", None) is not None:
        pred, target, where = vertex_to_edge(scores, everything.seg_edge_index, num_classes), everything.edge_y, "edge"
    else:
        pred, target, where = scores.argmax(1), everything.y, "vertex"
    confusion = _confusion(pred, target, num_classes)
    per_class = confusion.diag().double() / confusion.sum(1).clamp(min=1)
    metrics.update(meshes=len(samples), skipped=[list(s) for s in skipped], confusion_on=where,
                   per_class_acc=dict(zip(state["class_names"], per_class.tolist())),
                   confusion=confusion.tolist(), class_names=state["class_names"])
    return metrics


def _check_declared_classes(state: dict[str, Any], data_root) -> None:
    """Refuse a dataset that declares another number of classes than the checkpoint's."""
    from gaugemesh.datasets import open_layout

    layout = open_layout(data_root, state["config"].get("data", {}).get("format", "auto"))
    declared, trained = getattr(layout, "num_classes", None), len(state["class_names"])
    if declared is not None and declared != trained:
        raise JobError(f"{data_root} declares {declared} classes but the checkpoint was trained on {trained}; "
                       f"evaluate on a dataset with the checkpoint's {trained} classes")


def _check_labels(state: dict[str, Any], samples: list, data_root, split: str) -> None:
    """Refuse labels beyond the checkpoint's classes (they would be scored as always wrong)."""
    trained = len(state["class_names"])
    top = max((int(d[key].max()) for d in samples for key in ("y", "edge_y", "face_y")
               if getattr(d, key, None) is not None and d[key].numel()), default=-1)
    if top >= trained:
        raise JobError(f"split {split!r} of {data_root} has labels up to {top} ({top + 1} classes) but the checkpoint "
                       f"was trained on {trained}; evaluate on data labelled with the checkpoint's classes")


def predict_mesh(mesh_path, checkpoint, out_dir, device: str = "cpu", precision: str = "auto") -> dict[str, Path]:
    """Segment one mesh file; writes ``<name>.labels.txt`` (one label per file vertex, -1
    for vertices a repair dropped), ``<name>.ply`` (colored) and ``<name>.png`` (renders)."""
    from gaugemesh.render import render_segmentation, write_colored_ply

    out_dir = Path(out_dir)
    _check_out_dir(out_dir, "--out")
    model, state = load_model(checkpoint, device)
    config = state["config"]
    file_pos, file_faces = read_mesh_arrays(mesh_path)
    mesh = validate_mesh(file_pos, file_faces, repair=True)
    data = mesh_to_data(mesh, connection=config["features"].get("connection", "levi-civita"), dtype=torch.float64)
    data = add_features(data, config["features"]["names"], _feature_options(config["features"]))
    data.x = data.x.float()
    for key in ("theta", "transport", "edge_weight"):
        data[key] = data[key].float()
    run_on = resolve_device(device)
    labels = predict_scores(model, data, run_on, Precision.resolve(precision, run_on)).argmax(1).numpy()
    file_labels = np.full(len(file_pos), -1)
    file_labels[mesh.vertex_map[::-1]] = labels[::-1]  # first copy of a split vertex wins
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(mesh_path).stem
    paths = {"labels": out_dir / f"{stem}.labels.txt", "ply": out_dir / f"{stem}.ply", "png": out_dir / f"{stem}.png"}
    np.savetxt(paths["labels"], file_labels, fmt="%d")
    write_colored_ply(paths["ply"], mesh.pos, mesh.faces, labels)
    render_segmentation(paths["png"], mesh.pos, mesh.faces, labels, title=f"{stem}: predicted segmentation")
    return paths
