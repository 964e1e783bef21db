"""The run's log file, `<run folder>/<task>.log` (train.log, evaluate.log, pretrain.log): what a
person reads to know what a run did, and why it failed.

conf/hydra/default.yaml sets it up: every log record (Lightning's messages, warnings, one line
per epoch) goes to the console and, with its time, to the file. `RECORD`'s records go to the
file only: the console shows the same things its own way (the config as a rich tree, the
tables in colour, a failure's traceback printed by Hydra).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import rich

RECORD = logging.getLogger("lstmlab.record")

# Warnings every run printed, known to be harmless: (message regex, category).
HARMLESS_WARNINGS = (
    # Lightning's own pytree helper builds a `LeafSpec`, which torch >= 2.10 deprecates; the
    # code still works, and the fix is Lightning's to make.
    (r".*LeafSpec.* is deprecated", FutureWarning),
)


class ConsoleHandler(logging.StreamHandler):
    """The console's handler. On a terminal a record goes through rich's console, which prints
    it above a live progress bar; written straight to the terminal it would land inside the
    bar's lines."""

    def emit(self, record: logging.LogRecord) -> None:
        console = rich.get_console()
        if not console.is_terminal:
            super().emit(record)
            return
        try:
            text = self.format(record)
            console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)
        except Exception:
            self.handleError(record)


class DropTips(logging.Filter):
    """Drops Lightning's advertisements ("💡 Tip: ... try installing litlogger"), printed on
    every run; there is no setting that turns them off."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


@contextmanager
def run_logged() -> Iterator[None]:
    """Around a Hydra task: Python warnings become log records (so they reach the log file),
    the known harmless ones are dropped, and a failure leaves its full traceback in the log
    file, so that a failed sweep job's folder says why it failed."""
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            for message, category in HARMLESS_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=category)
            yield
    except (Exception, KeyboardInterrupt):
        RECORD.exception("The run failed:")
        raise
    finally:
        logging.captureWarnings(False)
