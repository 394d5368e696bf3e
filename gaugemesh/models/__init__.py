"""Networks built from :mod:`gaugemesh.nn`."""

from gaugemesh.models.block import GemResBlock
from gaugemesh.models.gem_resnet import GemResNet
from gaugemesh.models.gem_unet import GemUNet
from gaugemesh.models.baselines import GCNBaseline
from gaugemesh.models.o2_gem_resnet import O2GemResNet

__all__ = ["GCNBaseline", "GemResBlock", "GemResNet", "GemUNet", "O2GemResNet"]
