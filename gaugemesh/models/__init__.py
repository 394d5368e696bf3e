"""Networks built from :mod:`gaugemesh.nn`."""

from gaugemesh.models.block import GemResBlock, make_nonlinearity
from gaugemesh.models.segmentation import GemResNet

__all__ = ["GemResBlock", "GemResNet", "make_nonlinearity"]
