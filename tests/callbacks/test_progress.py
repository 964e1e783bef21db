"""Progress: a log line per epoch always, a rich bar only on a terminal."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import rich
from rich.console import Console

from lstmlab.callbacks.progress import EpochLog, TerminalProgressBar
from lstmlab.runs.train import train


def progress_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "lstmlab.callbacks.progress"]


def test_each_epoch_logs_one_line_with_the_main_metrics(tiny_cfg, caplog):
    with caplog.at_level(logging.INFO, logger="lstmlab.callbacks.progress"):
        train(tiny_cfg("trainer.max_epochs=3", "test=false", "~callbacks.early_stopping"))
    lines = [line for line in progress_lines(caplog) if " batch " not in line]
    assert [line.split("  ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    names = [part.split(" ")[0] for part in lines[-1].split("  ")[1:-1]]
    assert names == ["train/loss", "train/acc", "val/loss", "val/acc", "val/f1", "val/acc_best"]
    assert lines[-1].endswith(" s")


def test_the_bar_shows_on_a_terminal_only(monkeypatch):
    monkeypatch.setattr(rich, "_console", Console(force_terminal=False))
    assert not TerminalProgressBar().is_enabled
    monkeypatch.setattr(rich, "_console", Console(force_terminal=True))
    assert TerminalProgressBar().is_enabled


def test_output_to_a_file_gets_a_progress_line_with_rate_and_eta(tiny_cfg, caplog, monkeypatch):
    """Redirected (nohup, SLURM), a long epoch still says how far it has got, every
    `progress_every_s` seconds (0 here: after every batch); a one-epoch run is epoch 1/1."""
    monkeypatch.setattr(rich, "_console", Console(force_terminal=False))
    with caplog.at_level(logging.INFO, logger="lstmlab.callbacks.progress"):
        train(tiny_cfg("callbacks.epoch_log.progress_every_s=0", "test=false"))
    lines = [line for line in progress_lines(caplog) if " batch " in line]
    assert len(lines) == 8  # 8 batches an epoch
    assert lines[2].startswith("epoch 1/1  batch 3/8 (38 %)")
    assert "batches/s" in lines[2] and "epoch ends in" in lines[2]


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
