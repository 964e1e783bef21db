"""Where an Optuna study lives, named by one string: an RDB URL (`sqlite:///logs/optuna.db` on
one machine, `postgresql+psycopg://user@host/db` for many), or the path of a journal file
(Optuna's `JournalStorage`: workers on a shared file system, no database server)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
import sqlalchemy
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend


def is_rdb(storage: str) -> bool:
    """An RDB URL has a scheme (`sqlite://`, `postgresql+psycopg://`); a journal is a path."""
    return "://" in storage


def open_storage(
    storage: str,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    retry: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
) -> BaseStorage:
    """The storage `storage` names. With an RDB, a worker that records a heartbeat every
    `heartbeat_interval` seconds and misses `grace_period` seconds of them has its trial
    failed by the next worker that looks, and `retry` (e.g. Optuna's
    `RetryHeartbeatStaleTrialCallback`) called on it; a journal file has no heartbeat."""
    if is_rdb(storage):
        database = sqlalchemy.make_url(storage)
        if database.get_backend_name() == "sqlite" and database.database:  # a file, maybe new
            Path(database.database).parent.mkdir(parents=True, exist_ok=True)
        return RDBStorage(
            storage,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=retry if heartbeat_interval else None,
        )
    Path(storage).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(storage))
