"""Progress: a log line per epoch always, a rich bar only on a terminal."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import rich
from rich.console import Console

from lstmlab.callbacks.progress import EpochLog, TerminalProgressBar
from lstmlab.runs.train import train


def test_each_epoch_logs_one_line_with_the_main_metrics(tiny_cfg, caplog):
    with caplog.at_level(logging.INFO, logger="lstmlab.callbacks.progress"):
        train(tiny_cfg("trainer.max_epochs=3", "test=false"))
    lines = [r.getMessage() for r in caplog.records if r.name == "lstmlab.callbacks.progress"]
    assert [line.split("  ")[0] for line in lines] == ["epoch 0/2", "epoch 1/2", "epoch 2/2"]
    names = [part.split(" ")[0] for part in lines[-1].split("  ")[1:-1]]
    assert names == ["train/loss", "train/acc", "val/loss", "val/acc", "val/f1", "val/acc_best"]
    assert lines[-1].endswith(" s")


def test_the_bar_shows_on_a_terminal_only(monkeypatch):
    monkeypatch.setattr(rich, "_console", Console(force_terminal=False))
    assert not TerminalProgressBar().is_enabled
    monkeypatch.setattr(rich, "_console", Console(force_terminal=True))
    assert TerminalProgressBar().is_enabled


def test_an_epoch_continued_mid_way_times_this_process_only(caplog):
    """Continued from a mid-epoch checkpoint, Lightning skips `on_train_epoch_start`: the
    epoch's time must not count from some earlier clock reading (the time since boot)."""
    trainer = SimpleNamespace(global_rank=0, max_epochs=3, current_epoch=1, callback_metrics={})
    log, started = EpochLog(), time.perf_counter()
    with caplog.at_level(logging.INFO, logger="lstmlab.callbacks.progress"):
        log.on_train_start(trainer, None)  # the order of hooks when resuming mid-epoch
        log.on_train_epoch_end(trainer, None)
    seconds = float(caplog.records[-1].getMessage().split()[-2])
    assert seconds <= time.perf_counter() - started + 0.1
