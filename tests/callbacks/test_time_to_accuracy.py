"""Time to accuracy: the first crossing of the target, in training seconds with validation
left out, on a fake clock; and a real run that keeps it in results.json."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from lstmlab.callbacks.time_to_accuracy import AccuracyRace, TimeToAccuracy
from lstmlab.callbacks.timing import TrainingClock
from lstmlab.runs.train import train


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_training_clock_leaves_out_the_time_between_a_pause_and_the_next_resume():
    now = FakeClock()
    clock = TrainingClock(now=now)
    clock.start()
    now.t = 10.0
    clock.pause()
    now.t = 40.0  # validating
    assert clock.seconds == 10.0
    clock.resume()
    clock.resume()  # a second resume (the next batch) does not restart the count
    now.t = 45.0
    assert clock.seconds == 15.0


def validate(callback, trainer, now, start_s, end_s, accuracy):
    """One validation check from `start_s` to `end_s` on the fake clock, then the next batch."""
    now.t = start_s
    callback.on_validation_start(trainer, None)
    now.t = end_s
    trainer.callback_metrics["val/acc"] = torch.tensor(accuracy)
    trainer.global_step += 10
    callback.on_validation_end(trainer, None)
    callback.on_train_batch_start(trainer, None, None, 0)


def test_time_to_accuracy_is_the_first_crossing_in_training_seconds_without_validation():
    now = FakeClock()
    callback = TimeToAccuracy(target=0.855, now=now, stop=False)
    trainer = SimpleNamespace(
        sanity_checking=True, callback_metrics={}, global_step=0, should_stop=False
    )
    module = SimpleNamespace(device=torch.device("cpu"))
    validate(callback, trainer, now, 0.0, 3.0, 0.9)  # the sanity check: before training, ignored
    trainer.sanity_checking, trainer.global_step = False, 0
    now.t = 5.0
    callback.on_train_start(trainer, module)
    validate(callback, trainer, now, 15.0, 45.0, 0.80)  # 10 s of training, 30 s validating
    validate(callback, trainer, now, 50.0, 80.0, 0.86)  # 5 s more: crosses at 15 s
    validate(callback, trainer, now, 90.0, 95.0, 0.90)  # later checks do not move it

    summary = callback.summary()
    assert summary["time_to_target_s"] == 15.0 and summary["steps_to_target"] == 20
    assert summary["val_checks"] == [[10.0, 10, 0.8], [15.0, 20, 0.86], [25.0, 30, 0.9]]
    assert summary["best_acc"] == pytest.approx(0.9) and summary["train_s"] == 25.0
    assert not trainer.should_stop  # stop=False: the run goes on


def test_the_run_stops_at_the_crossing_or_once_out_of_time_and_says_it_was_not_reached():
    now = FakeClock()
    trainer = SimpleNamespace(sanity_checking=False, callback_metrics={}, global_step=0)
    module = SimpleNamespace(device=torch.device("cpu"))
    stopping = TimeToAccuracy(target=0.855, now=now)
    trainer.should_stop = False
    stopping.on_train_start(trainer, module)
    validate(stopping, trainer, now, 10.0, 12.0, 0.5)
    assert not trainer.should_stop
    validate(stopping, trainer, now, 20.0, 22.0, 0.86)
    assert trainer.should_stop

    capped = TimeToAccuracy(target=0.855, max_train_s=15, now=now)
    trainer.should_stop, now.t = False, 0.0
    capped.on_train_start(trainer, module)
    validate(capped, trainer, now, 10.0, 12.0, 0.5)
    assert not trainer.should_stop
    validate(capped, trainer, now, 20.0, 22.0, 0.6)  # 18 training seconds: over the limit
    assert trainer.should_stop
    assert capped.summary()["time_to_target_s"] is None and capped.summary()["train_s"] == 18.0


def test_a_target_outside_zero_to_one_is_refused():
    with pytest.raises(
        ValueError, match=r"time_to_accuracy target=85.5: expected an accuracy in \(0, 1\]"
    ):
        AccuracyRace(85.5)


def test_a_run_with_the_callback_keeps_its_time_to_accuracy_in_results_json(tiny_cfg, tmp_path):
    cfg = tiny_cfg(
        "callbacks=[default,time_to_accuracy]",
        "callbacks.time_to_accuracy.target=0.01",  # reached at the first check
        "+trainer.val_check_interval=4",  # 8 batches an epoch: 2 checks
        "trainer.max_epochs=2",
        "test=false",
    )
    train(cfg)
    timing = json.loads((tmp_path / "results.json").read_text())["timing"]
    race = timing["time_to_accuracy"]
    assert race["target_acc"] == 0.01 and race["steps_to_target"] == 4
    assert race["time_to_target_s"] == race["val_checks"][0][0] > 0
    assert len(timing["train_epoch_s"]) == 1  # stopped in the first epoch, after its end
