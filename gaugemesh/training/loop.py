"""The training loop: epochs, validation, checkpoints, resume, and data-parallel training.

The loop knows two things about the rest of gaugemesh: a model maps a ``Data``/``Batch`` to
per-vertex logits ``[V, C]``, and :class:`gaugemesh.training.metrics.SegmentationCounts` scores them.
Everything random draws from torch's global generator, whose state goes into every
checkpoint, and shuffling uses a ``DistributedSampler`` seeded per epoch, so a resumed run
continues bit for bit and one process sees the same global batches as several.

A step keeps a GPU busy: each mesh's convolution operators are built once and kept on the
device (:mod:`gaugemesh.training.operator_cache`), batches are collated by loader workers into
pinned memory, and nothing in the step waits for the device (the loss is summed there and
read once per epoch; an fp16 gradient scaler is the exception, checking for overflow).
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader
from torch.utils.data.distributed import DistributedSampler

from gaugemesh.training.checkpoint import CheckpointError, load_checkpoint, load_weights, save_checkpoint
from gaugemesh.training.config import ConfigError, check_keys
from gaugemesh.training.operator_cache import MESH_ID, MeshOperatorCache
from gaugemesh.training.metrics import IGNORE_INDEX, SegmentationCounts
from gaugemesh.training.metrics_log import MetricsLog
from gaugemesh.training.plots import plot_training_curves
from gaugemesh.training.precision import PRECISIONS, Precision

__all__ = ["TrainSettings", "Trainer", "TrainingDiverged", "resolve_device", "evaluate", "predict_scores"]

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The training loss stopped being finite; the message says which epoch and what to do."""


@dataclass
class TrainSettings:
    """Optimisation settings (the ``[train]`` table of a config).

    Attributes:
        epochs: Passes over the training set.
        batch_size: Meshes per step and process.
        lr: Peak learning rate.
        weight_decay: Decoupled weight decay (AdamW) or L2 (Adam).
        optimizer: ``"adamw"`` or ``"adam"``.
        schedule: ``"cosine"`` (with ``warmup_epochs`` linear warm-up), ``"step"`` (x0.1 at
            60% and 85% of training) or ``"none"``.
        warmup_epochs: Linear warm-up length of the cosine schedule.
        label_smoothing: Cross-entropy label smoothing.
        seed: Seeds initialisation, shuffling, augmentation and dropout.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        precision: ``"auto"`` (bf16 on CUDA, fp32 on CPU), ``"fp32"``, ``"bf16"`` or
            ``"fp16"`` (with a gradient scaler); see :mod:`gaugemesh.training.precision`.
        select_metric: Validation metric that picks the best checkpoint.
        loader_workers: ``DataLoader`` worker processes collating batches; ``-1``: none on
            CPU (they would take the cores the step runs on), 4 on CUDA.
        operator_cache_mb: Memory for the meshes' convolution operators, kept across epochs
            (:mod:`gaugemesh.training.operator_cache`); ``-1``: 2 GiB on CPU, a quarter of a GPU.
    """

    epochs: int = 30
    batch_size: int = 4
    lr: float = 5e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    schedule: str = "cosine"
    warmup_epochs: int = 1
    label_smoothing: float = 0.0
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    select_metric: str = "vertex_acc"
    loader_workers: int = -1
    operator_cache_mb: int = -1
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> TrainSettings:
        """Settings from a config's ``[train]`` table; an unknown key is named with the valid ones.

        Raises:
            ConfigError: an unknown key or an unusable value.
        """
        check_keys("train", table, [f.name for f in fields(cls)])
        return cls(**table)

    def validate(self) -> None:
        """Check every value once, before any work, so that a typo fails in one line and not
        an hour into training.

        Raises:
            ConfigError: the first unusable value, named with its key and an example.
        """
        _check(self, "epochs", _is_int(self.epochs) and self.epochs >= 1, "an integer >= 1")
        _check(self, "batch_size", _is_int(self.batch_size) and self.batch_size >= 1, "an integer >= 1")
        _check(self, "lr", _is_real(self.lr) and self.lr > 0, "a number > 0")
        _check(self, "weight_decay", _is_real(self.weight_decay) and self.weight_decay >= 0, "a number >= 0")
        _check(self, "optimizer", self.optimizer in OPTIMIZERS, f"one of {', '.join(OPTIMIZERS)}")
        _check(self, "schedule", self.schedule in SCHEDULES, f"one of {', '.join(SCHEDULES)}")
        _check(self, "warmup_epochs", _is_int(self.warmup_epochs) and self.warmup_epochs >= 0, "an integer >= 0")
        _check(self, "label_smoothing", _is_real(self.label_smoothing) and 0 <= self.label_smoothing < 1,
               "a number in [0, 1)")
        _check(self, "seed", _is_int(self.seed) and self.seed >= 0, "an integer >= 0")
        _check(self, "device", _is_device(self.device), "auto, cpu, cuda or cuda:N")
        _check(self, "precision", self.precision in PRECISIONS, f"one of {', '.join(PRECISIONS)}")
        _check(self, "select_metric", isinstance(self.select_metric, str) and self.select_metric != "",
               "a metric name such as vertex_acc")
        _check(self, "loader_workers", _is_int(self.loader_workers) and self.loader_workers >= -1,
               "an integer >= 0, or -1 for the default")
        _check(self, "operator_cache_mb", _is_int(self.operator_cache_mb) and self.operator_cache_mb >= -1,
               "an integer >= 0, or -1 for the default")
        _check(self, "extra", isinstance(self.extra, dict), "a table")


OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("cosine", "step", "none")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # TOML's true is no epoch count


def _is_real(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _is_device(value: Any) -> bool:
    if value == "auto":
        return True
    try:
        return isinstance(value, str) and torch.device(value).type in ("cpu", "cuda")
    except RuntimeError:  # torch's word for a device string it cannot parse
        return False


def _check(settings: TrainSettings, key: str, ok: bool, what: str) -> None:
    """Raise a one-line ConfigError for ``train.<key>`` unless ``ok``."""
    if not ok:
        default = next(f for f in fields(settings) if f.name == key)
        example = default.default_factory() if default.default is MISSING else default.default
        raise ConfigError(f"train.{key} must be {what}, got {getattr(settings, key)!r}; "
                          f"fix it in the [train] table or override it, e.g. train.{key}={example!r}")


def resolve_device(name: str) -> torch.device:
    """``"auto"`` is CUDA when available, else CPU; ``"cuda"`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device.")
    return torch.device(name)


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _optimizer(model: torch.nn.Module, s: TrainSettings) -> torch.optim.Optimizer:
    if s.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    if s.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    raise ValueError(f"unknown optimizer {s.optimizer!r}; use 'adamw' or 'adam'.")


def _schedule(optimizer, s: TrainSettings, steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
    """torch's scheduler for ``s.schedule``, stepped once per optimiser step.

    ``"cosine"``: linear warm-up from ``lr / (warmup + 1)`` over ``warmup_epochs``, then cosine
    annealing to zero at the last step; ``"step"``: x0.1 at 60% and at 85% of the steps;
    ``"none"``: constant.
    """
    sched = torch.optim.lr_scheduler
    total = max(1, s.epochs * steps_per_epoch)
    if s.schedule == "none":
        return sched.ConstantLR(optimizer, factor=1.0, total_iters=0)
    if s.schedule == "step":
        return sched.MultiStepLR(optimizer, [math.ceil(0.6 * total), math.ceil(0.85 * total)], gamma=0.1)
    if s.schedule != "cosine":
        raise ValueError(f"unknown schedule {s.schedule!r}; use 'cosine', 'step' or 'none'.")
    warmup = min(total - 1, s.warmup_epochs * steps_per_epoch)
    cosine = sched.CosineAnnealingLR(optimizer, T_max=max(1, total - warmup))
    if warmup == 0:
        return cosine
    linear = sched.LinearLR(optimizer, start_factor=1 / (warmup + 1), total_iters=warmup)
    return sched.SequentialLR(optimizer, [linear, cosine], milestones=[warmup])


@torch.no_grad()
def predict_scores(model: torch.nn.Module, data: Data, device: torch.device, precision: Precision | None = None,
                   operator_cache: MeshOperatorCache | None = None) -> torch.Tensor:
    """Per-vertex logits of one mesh or batch, in eval mode, on the CPU.

    ``precision`` defaults to ``"auto"`` on ``device``; ``operator_cache`` (with ``data``
    carrying ``mesh_id``) keeps the meshes' convolution operators for the next call.
    """
    model.eval()
    precision = precision or Precision.resolve("auto", device)
    ids = getattr(data, MESH_ID, None) if operator_cache is not None else None
    data = data.to(device, non_blocking=True)
    kwargs = {} if ids is None else {"operators": operator_cache.batch(data, ids.view(-1).tolist())}
    with precision.autocast():
        return model(data, **kwargs).float().cpu()


def evaluate(model: torch.nn.Module, dataset: Sequence[Data], device: torch.device, batch_size: int = 8,
             precision: Precision | None = None, operator_cache: MeshOperatorCache | None = None) -> dict[str, float]:
    """Loss and every metric the data has labels for, pooled over the whole set.

    Metrics come from confusion matrices summed over the set: accuracies are fractions of all
    its labelled elements (not means of per-mesh fractions), as MeshCNN and PD-MeshNet report
    them, and mean IoUs average the classes present anywhere in the set (see
    :mod:`gaugemesh.training.metrics`). The loss is the mean over its labelled vertices.
    ``precision`` and ``operator_cache`` as in :func:`predict_scores`.
    """
    if len(dataset) == 0:
        return {}
    counts, loss = None, 0.0
    for batch in DataLoader(list(dataset), batch_size=batch_size, shuffle=False):
        scores = predict_scores(model, batch, device, precision, operator_cache)
        batch = batch.cpu()  # predict_scores moved it to the device in place
        counts = counts or SegmentationCounts(scores.size(1))
        counts.add(batch, scores)
        loss += F.cross_entropy(scores.double(), batch.y, ignore_index=IGNORE_INDEX, reduction="sum").item()
    metrics = counts.metrics()  # raises where every label is ignored
    return {"loss": loss / counts.labelled("vertex"), **metrics}


class Trainer:
    """Fits a segmentation model and keeps ``best.pt``, ``last.pt``, ``metrics.jsonl`` and
    ``curves.png`` in ``out_dir``.

    Args:
        model: Maps a ``Batch`` to logits ``[V, C]``.
        train_set: Training meshes (``Data`` with ``x``, ``y`` and the frame field).
        val_set: Validation meshes, evaluated after every epoch.
        settings: Optimisation settings.
        out_dir: Where checkpoints, logs and pictures go (rank 0 only).
        meta: Stored in every checkpoint (``config``, ``class_names``, ``in_type``, ...).
        augment: Called on every training batch (random gauge, rotation ...), or ``None``.
    """

    def __init__(self, model, train_set, val_set, settings: TrainSettings, out_dir, meta: dict[str, Any],
                 augment: Callable[[Batch], Batch] | None = None, progress: bool = True):
        self.settings, self.meta, self.augment, self.progress = settings, meta, augment, progress
        self.out_dir = Path(out_dir)
        self.device = resolve_device(settings.device)
        self.precision = Precision.resolve(settings.precision, self.device)
        self.scaler = self.precision.grad_scaler()
        self.rank, self.world = _world()
        self.model = model.to(self.device)
        # Meshes carry their index, so that each keeps its convolution operators across epochs.
        self.train_set = MeshOperatorCache.tag(train_set)
        self.val_set = MeshOperatorCache.tag(val_set, start=len(self.train_set))
        budget = None if settings.operator_cache_mb < 0 else settings.operator_cache_mb << 20
        self.operator_cache = MeshOperatorCache(self.train_set + self.val_set, self.device, budget,
                                                levels=getattr(model, "num_levels", 1))
        self._pass_operators = "operators" in inspect.signature(model.forward).parameters
        self.sampler = DistributedSampler(self.train_set, num_replicas=self.world, rank=self.rank,
                                          shuffle=True, seed=settings.seed, drop_last=False)
        self.loader = self._loader(settings)
        self.optimizer = _optimizer(self.model, settings)
        self.scheduler = _schedule(self.optimizer, settings, len(self.loader))
        self.ddp = self._wrap() if self.world > 1 else self.model
        self.log = MetricsLog(self.out_dir / "metrics.jsonl")
        self.epoch, self.best = 0, -math.inf

    def _loader(self, s: TrainSettings) -> DataLoader:
        """Batches collated by worker processes on CUDA, into pinned memory so that the copy
        to the GPU runs asynchronously; in this process on CPU, whose cores the step needs."""
        cuda = self.device.type == "cuda"
        workers = (4 if cuda else 0) if s.loader_workers < 0 else s.loader_workers
        return DataLoader(self.train_set, batch_size=s.batch_size, sampler=self.sampler, num_workers=workers,
                          pin_memory=cuda, persistent_workers=workers > 0)

    def _wrap(self):
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(self.model, device_ids=ids)

    # -- checkpoints ----------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return dict(self.meta, model_state=self.model.state_dict(), optimizer_state=self.optimizer.state_dict(),
                    scheduler_state=self.scheduler.state_dict(), scaler_state=self.scaler.state_dict(),
                    epoch=self.epoch, best=self.best, torch_rng_state=torch.get_rng_state(),
                    cuda_rng_state=self._cuda_rng_state(), settings=asdict(self.settings))

    def _cuda_rng_state(self) -> torch.Tensor | None:
        """The generator dropout draws from on the GPU (the CPU's is saved beside it)."""
        return torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None

    def resume(self, path: str | Path | None = None, state: dict[str, Any] | None = None) -> None:
        """Continue from ``last.pt`` (or ``path``, or an already loaded checkpoint ``state``):
        weights, optimiser, schedule, RNG, epoch.

        Raises:
            CheckpointError: the checkpoint does not fit this model or optimiser; checked
                before the metrics log is touched.
        """
        path = Path(path or self.out_dir / "last.pt")
        state = load_checkpoint(path) if state is None else state
        advice = "resume with the run's own [model] table, or start a new run"
        if "optimizer_state" not in state:
            raise CheckpointError(f"{path} holds weights only (saved without its training state): evaluate or "
                                  "predict with it, or start a new run")
        load_weights(self.model, state["model_state"], f"{path} does not fit the model being trained", advice)
        try:
            self.optimizer.load_state_dict(state["optimizer_state"])
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"{path}: its optimiser state does not fit this model ({exc}); {advice}") from exc
        schedule = state["scheduler_state"]
        # Runs written before the schedules became torch's schedulers hold a LambdaLR's state;
        # that, or another schedule's, would load into the wrong fields in silence.
        if not isinstance(schedule, dict) or set(schedule) != set(self.scheduler.state_dict()):
            raise CheckpointError(f"{path}: its learning-rate schedule state is not that of train.schedule = "
                                  f"{self.settings.schedule!r} in this gaugemesh version (an older run, or a changed "
                                  "schedule); start a new run")
        self.scheduler.load_state_dict(schedule)
        if state.get("scaler_state"):  # fp16 runs; other precisions keep none
            self.scaler.load_state_dict(state["scaler_state"])
        torch.set_rng_state(state["torch_rng_state"])
        if self.device.type == "cuda" and state.get("cuda_rng_state") is not None:
            torch.cuda.set_rng_state(state["cuda_rng_state"], self.device)
        self.epoch, self.best = int(state["epoch"]), float(state["best"])
        if self.rank == 0:
            self.log.truncate_after(self.epoch)

    # -- the loop -------------------------------------------------------------------------

    def _train_epoch(self) -> dict[str, float]:
        self.ddp.train()
        self.sampler.set_epoch(self.epoch)
        # The loss is summed on the device: reading it every step would wait for the GPU.
        total, count = torch.zeros((), dtype=torch.float64, device=self.device), 0
        batches = self.loader
        if self.progress and self.rank == 0:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"epoch {self.epoch + 1}/{self.settings.epochs}", leave=False)
        for batch in batches:
            total += self._step(batch).double() * batch.num_graphs
            count += batch.num_graphs
        return {"train_loss": total.item() / max(count, 1), "lr": self.scheduler.get_last_lr()[0]}

    def _step(self, batch: Batch) -> torch.Tensor:
        """One optimisation step; returns the loss, on the device."""
        ids = getattr(batch, MESH_ID).tolist()  # read on the host, before the copy
        batch = batch.to(self.device, non_blocking=True)
        if self.augment is not None:
            batch = self.augment(batch)
        kwargs = {"operators": self.operator_cache.batch(batch, ids)} if self._pass_operators else {}
        with self.precision.autocast():
            logits = self.ddp(batch, **kwargs)
        loss = F.cross_entropy(logits.float(), batch.y, ignore_index=IGNORE_INDEX,
                               label_smoothing=self.settings.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)  # fp16: skipped where the gradients overflowed
        self.scaler.update()
        self.scheduler.step()
        return loss.detach()

    def fit(self, until: int | None = None) -> list[dict[str, Any]]:
        """Train from ``self.epoch`` to ``settings.epochs`` (or stop after epoch ``until``, as
        an interrupted run would); returns the metrics log."""
        stop = self.settings.epochs if until is None else min(until, self.settings.epochs)
        while self.epoch < stop:
            start = time.perf_counter()
            row = self._train_epoch()
            self._check_loss(row["train_loss"])
            self.epoch += 1
            if self.rank == 0:
                val = evaluate(self.model, self.val_set, self.device, precision=self.precision,
                               operator_cache=self.operator_cache if self._pass_operators else None)
                row = {"epoch": self.epoch, **row, **{f"val_{k}": v for k, v in val.items()},
                       "epoch_s": time.perf_counter() - start}
                self._record(row, val)
            if self.world > 1:
                dist.barrier()
        if self.rank == 0:
            plot_training_curves(self.log.read(), self.out_dir / "curves.png")
        return self.log.read()

    def _check_loss(self, loss: float) -> None:
        """Stop on a training loss that is not finite (the weights are lost; the checkpoints
        still hold the epoch before), and warn when it more than doubles from the last epoch
        (a run diverging: a learning rate set for a narrower model, say)."""
        epoch, lr = self.epoch + 1, self.settings.lr
        finite = torch.tensor(float(math.isfinite(loss)))
        if self.world > 1:  # every rank stops, or none: a rank left waiting would hang
            finite = finite.to(self.device)
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        if not finite.item():
            kept = (f"{self.out_dir / 'last.pt'} still holds epoch {self.epoch}" if self.epoch else
                    "no epoch had finished; check the inputs for NaN or infinite values")
            raise TrainingDiverged(f"epoch {epoch}: the training loss is {loss} (not finite), so the weights are "
                                   f"lost; {kept}. Train again with a lower train.lr than {lr:g}")
        rows = self.log.read() if self.rank == 0 else []
        previous = rows[-1].get("train_loss") if rows else None
        if previous is not None and loss > 2 * previous:
            message = (f"epoch {epoch}: the training loss rose from {previous:.4f} to {loss:.4f}; the run "
                       f"is likely diverging (a lower train.lr than {lr:g} may help)")
            log.warning(message)

    def _record(self, row: dict[str, Any], val: dict[str, float]) -> None:
        self.log.append(row)
        score = val.get(self.settings.select_metric, -val.get("loss", 0.0)) if val else self.epoch
        if score > self.best:
            self.best = score
            save_checkpoint(self.out_dir / "best.pt", **self._state())
        save_checkpoint(self.out_dir / "last.pt", **self._state())
        shown = ", ".join(f"{k} {v:.4f}" for k, v in row.items() if isinstance(v, float))
        print(f"epoch {self.epoch}/{self.settings.epochs}: {shown}", flush=True)
