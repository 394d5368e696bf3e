"""Chained layers are checked as types when a model is built."""

import pytest
from torch import nn

from gaugemesh.models import GemResBlock
from gaugemesh.nn import BatchNorm, Linear, check_chain


def test_types_as_wide_but_different_are_refused():
    with pytest.raises(TypeError, match="Linear gives 2x1, but the BatchNorm after it reads 4x0"):
        check_chain(Linear("2x0", "2x1"), BatchNorm("4x0"))


def test_untyped_steps_are_skipped_and_matching_chains_pass():
    check_chain(Linear("2x0", "2x1"), nn.Identity(), BatchNorm("2x1"))
    block = GemResBlock("3x0", "2x0 + 2x1", nonlinearity="gated")  # the gated types are checked too
    assert block.conv1.out_type == block.act1.in_type != block.act1.out_type
