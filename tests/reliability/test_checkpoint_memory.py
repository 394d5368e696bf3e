"""Issue 15, defect 1: a checkpoint must not be able to take the machine's memory.

Loading runs no code, but the model was built from the stored ``[model]`` table before any
check: ``width = 30000`` made ``predict`` grow to 23.9 GB, ``num_blocks = 10**9`` reached
15.5 GB in a minute. The table is now checked against the stored tensors' shapes first.
The forged files here are a few kilobytes; building their models is refused, never tried.
"""

from __future__ import annotations

import functools
import math
import resource

import pytest
import torch

from gaugemesh.cli import main
from gaugemesh.models import GCNBaseline, GemResNet
from gaugemesh.training.checkpoint import CheckpointError, save_checkpoint
from gaugemesh.training.recipe import build_model, load_model
from tests.reliability.training_helpers import IN_TYPE, one_line_error, write_checkpoint, write_config

GEM = {"width": 2, "max_order": 1, "num_blocks": 1}


@pytest.fixture()
def honest(tmp_path) -> dict:
    """The content of a consistent checkpoint of a tiny GemResNet."""
    return write_checkpoint(tmp_path / "honest.pt", write_config(tmp_path))


@pytest.fixture()
def never_built(monkeypatch):
    """Fail the test if a model is constructed: a forged checkpoint must be refused first."""
    for cls in (GemResNet, GCNBaseline):
        original = cls.__init__

        @functools.wraps(original)
        def refuse(self, *args, __name=cls.__name__, **kwargs):
            raise AssertionError(f"{__name}{args[1:]}{kwargs} was built before the checkpoint was checked")

        monkeypatch.setattr(cls, "__init__", refuse)


def _forge(tmp_path, content: dict, **changes) -> str:
    path = tmp_path / "forged.pt"
    save_checkpoint(path, **{**content, **changes})
    return str(path)


# The tiny model holds 148 numbers: the big values exceed that, the small ones do not and
# must be caught by reading the sizes off the weights' names and shapes.
FORGED_TABLES = [
    {**GEM, "width": 30000},
    {**GEM, "width": 100},
    {**GEM, "num_blocks": 100},
    {**GEM, "max_order": 100},
    {**GEM, "num_radial": 100},
    {**GEM, "width": [2, 100]},
    {"kind": "gcn", "hidden": 100, "num_layers": 100},
    {**GEM, "num_blocks": 10**9},
    {**GEM, "max_order": 10**9},
    {**GEM, "max_order": 10**9, "width": 0},
    {**GEM, "num_radial": 10**6},
    {**GEM, "width": [2, 10**8]},
    {**GEM, "width": [2] * 1000, "max_order": 999},
    {**GEM, "max_order": 1.0},
    {"kind": "gcn", "hidden": 10**7, "num_layers": 10**9},
    {"kind": "gcn"},
    {**GEM, "head_hidden": 10**9},
    {**GEM, "head_hidden": 4},
]


@pytest.mark.parametrize("table", FORGED_TABLES, ids=lambda t: ",".join(f"{k}={str(v)[:12]}" for k, v in t.items()))
def test_a_model_table_that_contradicts_the_weights_is_refused_before_building(tmp_path, honest, never_built, table):
    path = _forge(tmp_path, honest, config={**honest["config"], "model": table})
    with pytest.raises(CheckpointError, match=r"^.*forged\.pt.*the checkpoint was edited or is corrupt") as info:
        load_model(path)  # never_built proves nothing was built
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("changes", [
    {"in_type": "1000000000x0"},
    {"in_type": "4x0 + 1x1000000000"},
    {"in_type": "100x0 + 1x1"},
    {"in_type": "4x0 + 7x1"},
    {"in_type": "not a type"},
    {"class_names": ["a", "b", "c", "d", "e"]},
    {"class_names": []},
], ids=str)
def test_an_input_type_or_class_list_that_contradicts_the_weights_is_refused(tmp_path, honest, never_built, changes):
    with pytest.raises(CheckpointError, match=r"forged\.pt: .*(in_type|classes|fields)") as info:
        load_model(_forge(tmp_path, honest, **changes))
    assert "\n" not in str(info.value)


def test_the_class_count_of_a_hidden_layer_head_is_checked(tmp_path, request):
    table = {**GEM, "head_hidden": 5}
    content = write_checkpoint(tmp_path / "head.pt", write_config(tmp_path), class_names=["a", "b", "c"], model=table)
    content["model_state"] = build_model(table, IN_TYPE, 3).state_dict()  # weights of the head's model
    request.getfixturevalue("never_built")  # from here on, building is a failure
    with pytest.raises(CheckpointError, match=r"the number of classes is 5 but the stored weights have 3"):
        load_model(_forge(tmp_path, content, class_names=list("abcde")))


def test_the_class_count_message_names_both_counts(tmp_path, honest, never_built):
    with pytest.raises(CheckpointError, match=r"the number of classes is 5 but the stored weights have 2"):
        load_model(_forge(tmp_path, honest, class_names=list("abcde")))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_weights_are_refused(tmp_path, honest, bad):
    state = {k: v.clone() for k, v in honest["model_state"].items()}
    state["classifier.weight"][0, 0] = bad
    with pytest.raises(CheckpointError, match=r"weight classifier\.weight holds NaN or infinite values"):
        load_model(_forge(tmp_path, honest, model_state=state))


def test_unknown_model_keys_are_refused_by_name(tmp_path, honest, never_built):
    with pytest.raises(CheckpointError, match=r"unknown key model\.depth; valid keys of \[model\]: .*num_blocks"):
        load_model(_forge(tmp_path, honest, config={**honest["config"], "model": {**GEM, "depth": 10**9}}))


def test_a_shape_the_table_does_not_fix_is_refused_after_a_cheap_build(tmp_path, honest):
    """batch_norm=False builds a model without norm weights: caught by the name check."""
    path = _forge(tmp_path, honest, config={**honest["config"], "model": {**GEM, "batch_norm": False}})
    with pytest.raises(CheckpointError, match=r"unexpected \['blocks\.0\.norm1"):
        load_model(path)


def test_predict_refuses_a_forged_checkpoint_in_one_line(tmp_path, honest, never_built, capsys):
    path = _forge(tmp_path, honest, config={**honest["config"], "model": {**GEM, "width": 30000}})
    argv = ["predict", str(tmp_path / "any.off"), "--checkpoint", path, "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    one_line_error(capsys, "model.width")


def test_refusal_takes_no_memory(tmp_path, honest):
    """Without the spy: a width that built 350 MB in 0.8 s before the fix (30000 built 24 GB).
    Memory, not time, is what shows it: 0.8 s passed the 1 s bound this test had, a bound that
    could only fail on a loaded machine."""
    path = _forge(tmp_path, honest, config={**honest["config"], "model": {**GEM, "width": 600}})
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with pytest.raises(CheckpointError):
        load_model(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 100 * 1024


@pytest.mark.parametrize("table", [
    GEM,
    {"width": [3, 2], "max_order": 1, "num_blocks": 2, "nonlinearity": "gated", "num_radial": 2},
    {"width": [3, 0, 1], "max_order": 2, "num_blocks": 1, "dropout": 0.1},
    {"num_blocks": 0},
    {"kind": "gcn", "hidden": 8, "num_layers": 2},
    {**GEM, "head_hidden": 5},
    {"num_blocks": 0, "head_hidden": 4},
], ids=str)
def test_consistent_checkpoints_still_load_with_their_weights(tmp_path, table):
    config = write_config(tmp_path)
    network = build_model(table, IN_TYPE, 3)
    for tensor in network.state_dict().values():
        if tensor.is_floating_point():
            tensor.normal_()  # every stored number must come back, not a fresh initialisation
    content = write_checkpoint(tmp_path / "ckpt.pt", config, class_names=["a", "b", "c"], model=table)
    save_checkpoint(tmp_path / "ckpt.pt", **{**content, "model_state": network.state_dict()})
    model, _ = load_model(tmp_path / "ckpt.pt")
    for key, tensor in network.state_dict().items():
        assert torch.equal(model.state_dict()[key], tensor), key
