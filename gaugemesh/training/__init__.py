"""Training, evaluation and prediction: the segmentation job behind ``gaugemesh train``."""

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
