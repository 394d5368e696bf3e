"""Run precision: resolution per device, and fp16 training that resumes bit for bit."""

import pytest
import torch

from gaugemesh.training.config import ConfigError
from gaugemesh.training.precision import Precision
from tests.training.test_loop import _trainer


def test_auto_is_fp32_on_cpu_and_names_are_checked():
    assert Precision.resolve("auto", "cpu") == Precision("fp32", "cpu")
    assert Precision.resolve("bf16", "cpu").dtype == torch.bfloat16
    with pytest.raises(ConfigError, match="fp16"):
        Precision.resolve("half", "cpu")


def test_only_fp16_scales_the_loss():
    assert not Precision.resolve("bf16", "cpu").grad_scaler().is_enabled()
    assert Precision.resolve("fp16", "cpu").grad_scaler().is_enabled()


@pytest.mark.cuda
def test_auto_is_bf16_on_a_gpu_that_has_it():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device; torch.cuda.is_available() is False")
    expected = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    assert Precision.resolve("auto", "cuda").name == expected


def test_fp16_training_resumes_bit_for_bit(tmp_path):
    """The gradient scaler's state (loss scale, growth tracker) goes into the checkpoint."""
    straight = _trainer(tmp_path / "a", precision="fp16").fit()
    _trainer(tmp_path / "b", precision="fp16").fit(until=2)
    resumed = _trainer(tmp_path / "b", precision="fp16")
    resumed.resume()
    saved = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["scaler_state"]
    assert saved["_growth_tracker"] > 0  # steps since the scale last changed: a fresh scaler has 0
    assert resumed.scaler.state_dict() == saved
    rows = resumed.fit()
    assert [r["train_loss"] for r in rows] == [r["train_loss"] for r in straight]
