"""Training, evaluation and prediction: the segmentation jobs behind ``gaugemesh train``,
``eval`` and ``predict``.

Reading order: :mod:`~gaugemesh.training.config` (the TOML tables) ->
:mod:`~gaugemesh.training.recipe` (dataset, features and model from a config or a checkpoint)
-> :mod:`~gaugemesh.training.loop` (the :class:`Trainer`, with
:mod:`~gaugemesh.training.precision`, :mod:`~gaugemesh.training.operator_cache`,
:mod:`~gaugemesh.training.checkpoint`, :mod:`~gaugemesh.training.metrics` and
:mod:`~gaugemesh.training.metrics_log`) -> the jobs:
:mod:`~gaugemesh.training.train_job` (with :mod:`~gaugemesh.training.augment` and
:mod:`~gaugemesh.training.run_folder`), :mod:`~gaugemesh.training.evaluate_job`,
:mod:`~gaugemesh.training.predict_job`. Every picture they draw: :mod:`~gaugemesh.training.plots`.
"""

from gaugemesh.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gaugemesh.training.config import ConfigError, load_config
from gaugemesh.training.loop import Trainer, TrainSettings, evaluate

__all__ = [
    "CheckpointError",
    "ConfigError",
    "TrainSettings",
    "Trainer",
    "evaluate",
    "load_checkpoint",
    "load_config",
    "save_checkpoint",
]
