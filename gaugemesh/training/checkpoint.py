"""Checkpoints: everything needed to evaluate or resume, loadable without unpickling code.

A checkpoint is a plain dict of tensors, strings, numbers, lists and dicts, saved with
``torch.save`` and loaded with ``torch.load(weights_only=True)``, so a file from an
untrusted source cannot execute code. It is written atomically (temporary file, then
rename): a run killed while saving leaves the previous checkpoint intact.

Nor can a file take the machine's memory: the model is built from the stored ``[model]``
table, so :func:`check_model_state` first checks that table against the shapes of the
stored weights (the file's size bounds theirs), and :func:`load_weights` checks every name
and shape before loading.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

import gaugemesh
from gaugemesh.atomic import atomic_torch_save
from gaugemesh.models import GCNBaseline, GemResNet, GemUNet
from gaugemesh.o2 import O2FieldType
from gaugemesh.so2 import FieldType

__all__ = ["CheckpointError", "save_checkpoint", "save_weights_only", "load_checkpoint", "check_model_state",
           "load_weights", "FORMAT", "FORMAT_VERSION", "TRAINING_STATE"]

FORMAT = "gaugemesh-checkpoint"
#: Bumped whenever the meaning of a stored field changes.
FORMAT_VERSION = 1
REQUIRED = ("model_state", "config", "class_names", "in_type")
#: What a checkpoint holds only to resume its run (:func:`save_weights_only` leaves it out).
TRAINING_STATE = ("optimizer_state", "scheduler_state", "scaler_state", "torch_rng_state", "cuda_rng_state")


class CheckpointError(ValueError):
    """A file that is not a usable gaugemesh checkpoint; the message says why."""


def save_checkpoint(path: str | os.PathLike, **content: Any) -> Path:
    """Atomically write a checkpoint holding ``content`` plus format and version stamps.

    ``content`` must hold at least ``model_state``, ``config``, ``class_names`` and
    ``in_type`` (the input ``FieldType`` as a string).
    """
    missing = [key for key in REQUIRED if key not in content]
    if missing:
        raise ValueError(f"a checkpoint needs {missing}")
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "gaugemesh_version": gaugemesh.__version__, **content}
    return atomic_torch_save(payload, path)


def save_weights_only(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Write the checkpoint ``source`` without its training state (optimiser, schedule, random
    state: :data:`TRAINING_STATE`) to ``target``: about a third of the size for Adam, and it
    evaluates and predicts alike, but it cannot resume a run."""
    payload = load_checkpoint(source)
    stamps = ("format", "format_version", "gaugemesh_version")
    return save_checkpoint(target, **{k: v for k, v in payload.items() if k not in TRAINING_STATE + stamps})


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely and check that this gaugemesh can use it.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: corrupt or truncated file, not a gaugemesh checkpoint, or a format
            version this gaugemesh does not read.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # zip errors, unpickling refusals, truncation: all mean unusable
        raise CheckpointError(
            f"{path} is corrupt or not a gaugemesh checkpoint ({type(exc).__name__}: {str(exc)[:200]}). "
            "Use a checkpoint written by `gaugemesh train`."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gaugemesh checkpoint (no '{FORMAT}' stamp).")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {version} (written by gaugemesh {payload.get('gaugemesh_version')}); "
            f"this gaugemesh {gaugemesh.__version__} reads format {FORMAT_VERSION}. "
            "Use the matching gaugemesh version, or retrain."
        )
    missing = [key for key in REQUIRED if key not in payload]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}; it was not written completely by `gaugemesh train`.")
    _check_fields(payload, path)
    return payload


def _check_fields(payload: dict[str, Any], path: Path) -> None:
    """Refuse stored fields of the wrong type, and weights that are NaN or infinite."""
    state, names = payload["model_state"], payload["class_names"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise CheckpointError(f"{path}: model_state is not a dict of named tensors; use a checkpoint written by "
                              "`gaugemesh train`.")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{path}: class_names is not a list of strings; use a checkpoint written by "
                              "`gaugemesh train`.")
    if not isinstance(payload["in_type"], str) or not isinstance(payload["config"], dict):
        raise CheckpointError(f"{path}: in_type or config has the wrong type; use a checkpoint written by "
                              "`gaugemesh train`.")
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path}: weight {key} holds NaN or infinite values (did the run diverge?); "
                                  "use an earlier checkpoint such as best.pt, or retrain with a lower train.lr.")


# -- the stored [model] table against the stored weights --------------------------------------

#: A reader yields ``(what, configured, stored)``: a size the [model] table (or in_type) sets,
#: and what the stored weights say it is. The first unequal pair refuses the checkpoint.
Reader = Callable[[dict[str, torch.Tensor], dict[str, Any], FieldType], Iterator[tuple[str, Any, Any]]]


def _dim(state: dict[str, torch.Tensor], key: str, axis: int) -> int | None:
    """Size of axis ``axis`` of weight ``key``; ``None`` where there is no such weight or axis."""
    shape = tuple(state[key].shape) if key in state else ()
    return shape[axis] if len(shape) > axis else None


def _count(state: dict[str, torch.Tensor], prefix: str) -> int | list[int]:
    """How many ``prefix.<i>.`` sub-modules the weights hold (their indices when not 0..n-1)."""
    found = sorted({int(m.group(1)) for key in state if (m := re.match(rf"{re.escape(prefix)}\.(\d+)\.", key))})
    return len(found) if found == list(range(len(found))) else found


def _kernel(state: dict[str, torch.Tensor], conv: str) -> dict[tuple[int, int], tuple[int, ...]]:
    """Shapes ``[R, C_out, C_in, parts]`` of a GemConv's neighbour weights, by ``(in, out)`` order."""
    pattern = re.compile(rf"{re.escape(conv)}\.neighbour\.weights\.(\d+)_(\d+)$")
    return {(int(m.group(1)), int(m.group(2))): tuple(t.shape) for k, t in state.items() if (m := pattern.match(k))}


def _fields(field_type: FieldType) -> int:
    """``field_type.num_fields`` without listing every field (a forged type may hold 10**9)."""
    return sum(mult for mult, _ in field_type.blocks)


def _by_order(kernel: dict[tuple[int, int], tuple[int, ...]]) -> dict[int, int]:
    """Input multiplicity per input order of a kernel."""
    return {n: shape[2] for (n, _), shape in kernel.items() if len(shape) == 4}


def _gem_sizes(state: dict[str, torch.Tensor], options: dict[str, Any],
               in_type: FieldType) -> Iterator[tuple[str, Any, Any]]:
    """The sizes of a :class:`~gaugemesh.models.GemResNet` that its weights fix, in an order
    where each is safe to read once the ones before it agree."""
    blocks = _count(state, "blocks")
    yield "model.num_blocks", options["num_blocks"], blocks
    yield "model.head_hidden", options["head_hidden"], _head_hidden(state)
    if blocks == 0:
        first_layer = "classifier.0.weight" if _head_hidden(state) else "classifier.weight"
        yield "the number of input fields", _fields(in_type), _dim(state, first_layer, 1)
        return
    first, last = _kernel(state, "blocks.0.conv1"), _kernel(state, f"blocks.{blocks - 1}.conv2")
    yield "model.num_radial", options["num_radial"], min((shape[0] for shape in first.values()), default=None)
    yield "in_type", {n: in_type.multiplicity(n) for n in in_type.orders}, _by_order(first)
    hidden, width = _by_order(last), options["width"]
    if isinstance(width, int) and not isinstance(width, bool):
        # checked before width: [width] * (max_order + 1) is what the model would allocate
        yield "model.max_order", options["max_order"], max(hidden, default=None)
        yield "model.width", {n: width for n in range(options["max_order"] + 1)}, hidden
    elif isinstance(width, list):
        yield "model.width", {n: w for n, w in enumerate(width) if w != 0}, hidden
    else:
        yield "model.width", width, hidden


def _head_hidden(state: dict[str, torch.Tensor]) -> int:
    """Hidden units of a classifier (:func:`~gaugemesh.models.head.invariant_classifier`): 0
    for a linear one (``classifier.weight``), else the rows of ``classifier.0.weight``."""
    return _dim(state, "classifier.0.weight", 0) or 0


def _gcn_sizes(state: dict[str, torch.Tensor], options: dict[str, Any],
               in_type: FieldType) -> Iterator[tuple[str, Any, Any]]:
    """The sizes of a :class:`~gaugemesh.models.GCNBaseline` that its weights fix."""
    yield "model.num_layers", options["num_layers"], _count(state, "convs")
    yield "model.hidden", options["hidden"], _dim(state, "encode.weight", 0)
    yield "the number of input fields", _fields(in_type), _dim(state, "encode.weight", 1)


def _unet_sizes(state: dict[str, torch.Tensor], options: dict[str, Any],
                in_type: FieldType) -> Iterator[tuple[str, Any, Any]]:
    """The sizes of a :class:`~gaugemesh.models.GemUNet` that its weights fix: levels, blocks,
    and every level's hidden multiplicities (which ``width``, ``max_order`` and ``growth``
    set, and a forged ``growth`` would otherwise blow up before any weight is compared)."""
    levels = _count(state, "down")
    yield "model.num_levels", options["num_levels"], levels
    blocks = _count(state, "down.0")
    yield "model.blocks_per_level", options["blocks_per_level"], blocks
    yield "model.head_hidden", options["head_hidden"], _head_hidden(state)
    first = _kernel(state, "down.0.0.conv1")
    yield "model.num_radial", options["num_radial"], min((shape[0] for shape in first.values()), default=None)
    yield "in_type", {n: in_type.multiplicity(n) for n in in_type.orders}, _by_order(first)
    width, max_order, growth = options["width"], options["max_order"], options["growth"]
    widths = [width] * (max_order + 1) if isinstance(width, int) and isinstance(max_order, int) else width
    numbers = isinstance(widths, list) and all(isinstance(w, int) and not isinstance(w, bool) for w in widths)
    if not numbers or isinstance(growth, bool) or not isinstance(growth, (int, float)):
        yield "model.width, max_order and growth", (width, max_order, growth), "integers and a number"
        return
    for k in range(levels):
        stored = _by_order(_kernel(state, f"down.{k}.{blocks - 1}.conv2"))
        configured = {n: _grown(w, growth, k) for n, w in enumerate(widths)}
        yield f"level {k}'s hidden multiplicities (model.width x model.growth^{k})", configured, stored


def _grown(width: int, growth: float, level: int) -> int | float:
    """GemUNet's multiplicity ``round(width * growth ** level)`` (at least 1), or the float
    itself where it is too large to be one (a forged growth), which then matches no weight."""
    try:
        value = width * float(growth) ** level
    except OverflowError:
        return math.inf
    return max(1, round(value)) if math.isfinite(value) and abs(value) < 2**53 else value


#: Models whose sizes can be read off their weights; another model gets the generic bound only.
READERS: dict[type, Reader] = {GemResNet: _gem_sizes, GemUNet: _unet_sizes, GCNBaseline: _gcn_sizes}


def _integers(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    return [v for v in value if isinstance(v, int)] if isinstance(value, (list, tuple)) else []


def _stored_type(spec: Any) -> FieldType:
    """A stored input type as the SO(2) layout the size checks read: an SO(2) type, or the
    layout of an O(2) one (``"16x0 + 1x0- + 1x0 + 4x1"``, ``0-`` read as order 0)."""
    try:
        return FieldType(spec)
    except (TypeError, ValueError):
        if not isinstance(spec, str):
            raise
        return O2FieldType(spec).so2


def check_model_state(payload: dict[str, Any], model_class: type, options: dict[str, Any], context: str,
                      advice: str) -> None:
    """Check a model's options against the checkpoint's weights without building anything.

    The stored tensors are already in memory and the file's size bounds them; once every
    size the options set agrees with them, building the model costs no more than they did.

    Args:
        payload: A checkpoint from :func:`load_checkpoint`.
        model_class: The class the options are for.
        options: Every keyword argument of ``model_class`` (defaults filled in).
        context, advice: Start and end of the error message.

    Raises:
        CheckpointError: in one line, the first size that disagrees with the weights.
    """
    state = payload["model_state"]
    limit = max(1, sum(t.numel() for t in state.values()))
    for name, value in options.items():
        if any(v > limit for v in _integers(value)):
            raise CheckpointError(f"{context}: model.{name}={_short(value)} exceeds the {limit} numbers its weights hold; "
                                  f"{advice}")
    try:
        in_type = _stored_type(payload["in_type"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{context}: in_type {_short(payload['in_type'])} is not a field type ({exc}); "
                              f"{advice}") from exc
    if _fields(in_type) > limit:
        raise CheckpointError(f"{context}: in_type {_short(payload['in_type'])} has more fields than the {limit} "
                              f"numbers its weights hold; {advice}")
    # the classifier's last layer: linear, or after a hidden layer (models/head.py)
    classes = _dim(state, "classifier.2.weight" if _head_hidden(state) else "classifier.weight", 0)
    checks = [("the number of classes", len(payload["class_names"]), classes)] if classes is not None else []
    reader = READERS.get(model_class)
    # lazily: each reading is safe to take only once the ones before it agree
    for what, configured, stored in itertools.chain(checks, reader(state, options, in_type) if reader else ()):
        # a type check too: max_order=1.0 equals 1 but would reach range() as a float
        if configured != stored or type(configured) is not type(stored):
            raise CheckpointError(f"{context}: {what} is {_short(configured)} but the stored weights have "
                                  f"{_short(stored)}; {advice}")


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], context: str, advice: str = "") -> None:
    """Load ``state`` into ``model`` after checking every name and shape; refuse in one line.

    Raises:
        CheckpointError: a weight missing, unexpected, or of another shape.
    """
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    tail = f"; {advice}" if advice else ""
    if missing or unexpected:
        raise CheckpointError(f"{context}: weights missing {_short(missing[:3])}, unexpected {_short(unexpected[:3])}"
                              f"{tail}")
    for key, tensor in expected.items():
        if state[key].shape != tensor.shape:
            raise CheckpointError(f"{context}: weight {key} has shape {tuple(state[key].shape)}, the model needs "
                                  f"{tuple(tensor.shape)}{tail}")
    model.load_state_dict(state)
