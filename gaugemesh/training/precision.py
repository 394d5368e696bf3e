"""The numeric precision of a run: the autocast dtype, and a gradient scaler for fp16.

``--precision`` (``train.precision``) is one of :data:`PRECISIONS`:

- ``auto``: bf16 on a CUDA device that supports it, fp32 everywhere else. On CPU, bf16
  autocast saves nothing for gaugemesh's networks: their heavy layers compute in float32
  anyway (:mod:`gaugemesh.nn.precision`), and the casts cost time.
- ``fp32``: no autocast.
- ``bf16``: autocast to bfloat16 (float32's range, so no loss scaling).
- ``fp16``: autocast to float16, with a gradient scaler, since small gradients underflow
  float16's range; the scaler's state goes into every checkpoint, so a resumed run
  continues bit for bit.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

from gaugemesh.training.config import ConfigError

__all__ = ["PRECISIONS", "Precision"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """A resolved precision on one kind of device.

    Attributes:
        name: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        device_type: ``"cpu"``, ``"cuda"``, ...
    """

    name: str
    device_type: str

    @classmethod
    def resolve(cls, name: str, device: torch.device | str) -> Precision:
        """``name`` (one of :data:`PRECISIONS`) on ``device``; :class:`ConfigError` when it
        is unknown or the device cannot run it."""
        device = torch.device(device)
        if name not in PRECISIONS:
            raise ConfigError(f"precision {name!r} is not one of {', '.join(PRECISIONS)}")
        bf16_ok = device.type != "cuda" or torch.cuda.is_bf16_supported()
        if name == "auto":
            name = "bf16" if device.type == "cuda" and bf16_ok else "fp32"
        if name == "bf16" and not bf16_ok:
            raise ConfigError("this GPU has no bfloat16 support; use --precision fp16 or fp32")
        return cls(name, device.type)

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, or ``None`` for fp32."""
        return _DTYPES[self.name]

    def autocast(self) -> AbstractContextManager:
        """The autocast region a forward pass runs in (disabled for fp32)."""
        if self.dtype is None:
            return torch.autocast(self.device_type, enabled=False)
        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, enabled for fp16 only (a disabled one passes everything through)."""
        return torch.amp.GradScaler(self.device_type, enabled=self.name == "fp16")
