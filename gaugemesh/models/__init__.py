"""Networks built from :mod:`gaugemesh.nn`."""

from gaugemesh.models.block import GemResBlock, make_nonlinearity
from gaugemesh.models.segmentation import GemResNet
from gaugemesh.models.baselines import GCNBaseline

__all__ = ["GCNBaseline", "GemResBlock", "GemResNet", "make_nonlinearity"]
