"""The learning-rate schedules, built from torch's schedulers, against their formulas."""

import math

import pytest
import torch

from gaugemesh.training.loop import TrainSettings, _schedule


def _formula(s: TrainSettings, steps_per_epoch: int, step: int) -> float:
    """The schedules as written in TrainSettings' docstring, step by step."""
    total = max(1, s.epochs * steps_per_epoch)
    warmup = min(total - 1, s.warmup_epochs * steps_per_epoch)
    if s.schedule == "none":
        return 1.0
    if s.schedule == "step":
        return 0.1 ** ((step >= 0.6 * total) + (step >= 0.85 * total))
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


@pytest.mark.parametrize("schedule", ["cosine", "step", "none"])
@pytest.mark.parametrize("epochs, steps_per_epoch, warmup", [(1, 1, 0), (1, 3, 1), (7, 5, 1), (30, 86, 1),
                                                            (3, 4, 0), (2, 2, 5)])
def test_every_step_follows_the_formula(schedule, epochs, steps_per_epoch, warmup):
    s = TrainSettings(epochs=epochs, schedule=schedule, warmup_epochs=warmup, lr=5e-3)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=s.lr)
    scheduler = _schedule(optimizer, s, steps_per_epoch)
    for step in range(epochs * steps_per_epoch):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(s.lr * _formula(s, steps_per_epoch, step),
                                                                rel=1e-12, abs=1e-18)
        optimizer.step()
        scheduler.step()


def test_the_state_round_trips_mid_schedule():
    s = TrainSettings(epochs=4, schedule="cosine", warmup_epochs=1)
    make = lambda: torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=s.lr)  # noqa: E731
    first = make()
    scheduler = _schedule(first, s, 3)
    for _ in range(5):
        first.step()
        scheduler.step()
    second = make()
    resumed = _schedule(second, s, 3)
    second.load_state_dict(first.state_dict())
    resumed.load_state_dict(scheduler.state_dict())
    for _ in range(6):
        assert second.param_groups[0]["lr"] == first.param_groups[0]["lr"]
        for opt, sch in ((first, scheduler), (second, resumed)):
            opt.step()
            sch.step()


def test_a_run_with_an_older_schedule_state_is_refused_in_one_line(tmp_path):
    from gaugemesh.training.checkpoint import CheckpointError
    from tests.training.test_loop import _trainer

    _trainer(tmp_path, epochs=2).fit(until=1)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    # What a run written with the former closure schedule holds: a LambdaLR's state.
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    state["scheduler_state"] = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0).state_dict()
    with pytest.raises(CheckpointError, match="learning-rate schedule state is not that of train.schedule"):
        _trainer(tmp_path, epochs=2).resume(state=state)
