"""sweep.py: Optuna workers sharing one study (SQLite, a journal file, a real PostgreSQL
server), pruning, failed and killed trials."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import ROOT, TINY, compose_config
from hydra.utils import instantiate
from optuna.trial import TrialState

from lstmlab.io.study_storage import open_storage
from lstmlab.reporting.compare import main as compare
from lstmlab.reporting.hparams import EVENT_FILE  # the HPARAMS records, named by no process
from lstmlab.runs import search as search_module
from lstmlab.runs.search import SearchError, Worker, as_override, open_study, read_search
from lstmlab.runs.train import train

SEARCH = ["hparams_search=optuna", *TINY, "test=false", "trainer.max_epochs=2"]
FLOAT = "optuna.distributions.FloatDistribution"


def test_a_search_key_with_a_slash_picks_a_group_option_and_others_set_values():
    assert as_override("model/pooling", "max") == "model/pooling=max"
    assert as_override("optimizer.lr", 1e-07) == "optimizer.lr=1e-07"
    assert as_override("model.encoder.bidirectional", True) == "model.encoder.bidirectional=true"
    assert as_override("trainer.max_steps", None) == "trainer.max_steps=null"


def test_a_key_given_on_the_command_line_is_left_out_of_the_search():
    search, space = read_search(SEARCH)  # TINY sets model.encoder.hidden_size
    assert "model.encoder.hidden_size" in search.params and "model.encoder.hidden_size" not in space
    assert isinstance(space["optimizer.lr"], optuna.distributions.FloatDistribution)


@pytest.mark.parametrize(
    "args, says",
    [
        (TINY, "hparams_search=optuna"),
        (["-m", *SEARCH], "drop -m"),
        ([*SEARCH, "+search.params.dropout=0.1"], "no Optuna distribution"),
        ([*SEARCH, f"+search.params={{modle.dropout:{{_target_:{FLOAT},low:0,high:1}}}}"], "modle"),
    ],
)
def test_a_search_that_cannot_run_is_refused_before_any_trial(args, says):
    with pytest.raises(SearchError, match=says.replace("+", r"\+")):
        read_search(args)


def test_a_storage_that_cannot_be_reached_is_refused_with_the_drivers_message():
    search, _ = read_search([*SEARCH, "search.storage=postgresql+psycopg://me@127.0.0.1:9/x"])
    with pytest.raises(SearchError, match=r"search\.storage=postgresql"):
        open_study(search)


def test_a_hopeless_trial_is_pruned_and_its_run_folder_says_so(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="lstmlab", storage=storage, direction="maximize")
    trial = study.ask()
    cfg = compose_config(
        [
            *SEARCH,
            "test=true",
            f"search.storage={storage}",
            f"search.trial={trial.number}",
            "search/pruner=none",
            "search.pruner._target_=optuna.pruners.ThresholdPruner",
            "+search.pruner.lower=2.0",  # no accuracy reaches it: pruned after the first epoch
        ],
        tmp_path / "run",
    )
    train(cfg)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "pruned"
    assert results["epochs"] == 1 < cfg.trainer.max_epochs
    assert not any(name.startswith("test/") for name in results["metrics"])  # not tested
    reported = study.trials[trial.number].intermediate_values
    assert reported == {0: pytest.approx(results["metrics"]["val/acc_best"])}


def test_a_worker_runs_a_queued_trial_from_its_last_checkpoint_and_stops_at_n_trials(
    tmp_path, monkeypatch
):
    """The worker's loop with each trial's train.py replaced by a run that writes its
    results.json: a trial queued again (as a dead worker's is) resumes from the last.ckpt of
    its first try, though the study counts it among its n_trials already, and the study stops
    at n_trials completed."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    search, space = read_search(
        [*SEARCH, f"search.storage={storage}", "search.n_trials=2", f"paths.log_dir={tmp_path}"]
    )
    study = open_study(search)
    study.tell(study.ask(space), 0.4)  # with the queued one, n_trials are counted
    dead = study.ask(space)
    study.tell(dead, state=TrialState.FAIL)  # as fail_stale_trials leaves a dead worker's
    instantiate(search.retry)(study, study.trials[dead.number])
    last = tmp_path / "studies" / "lstmlab" / "trial-0001" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.touch()
    commands = []

    def fake_run(command: list[str]) -> tuple[int, str]:
        commands.append(command)
        folder = Path(next(a for a in command if a.startswith("hydra.run.dir=")).split("=")[1])
        folder = Path(str(folder).strip("'"))
        folder.mkdir(parents=True)
        results = {"status": "complete", "epochs": 2, "metrics": {"val/acc_best": 0.5}}
        (folder / "results.json").write_text(json.dumps(results))
        return 0, ""

    def no_waiting(seconds: float) -> None:
        raise AssertionError("the worker waited for others with a trial queued")

    monkeypatch.setattr(search_module, "run", fake_run)
    monkeypatch.setattr(search_module.time, "sleep", no_waiting)
    Worker(study, search, space, SEARCH).work()
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert study.trials[2].params == study.trials[1].params
    assert [c for c in commands[0] if c.startswith("ckpt_path")] == [f"ckpt_path='{last}'"]
    assert len(commands) == 1


# ------------------------------------------------------------------------- worker processes


def start_worker(*args: str, log: Path) -> subprocess.Popen:
    """`python sweep.py ARGS` in a fresh process, its output in `log`."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONWARNINGS": "ignore"}
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "sweep.py"), *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def finish(workers: list[subprocess.Popen], logs: list[Path], timeout: float = 1800) -> None:
    for worker, log in zip(workers, logs):
        assert worker.wait(timeout=timeout) == 0, log.read_text()[-3000:]


def study_args(tmp_path: Path, storage: str, n_trials: int) -> list[str]:
    return [
        *SEARCH,
        f"search.storage={storage}",
        f"search.n_trials={n_trials}",
        f"paths.log_dir={tmp_path / 'logs'}",
        "search.heartbeat_interval=2",
    ]


def check_trials(study: optuna.Study, study_dir: Path, n_trials: int) -> None:
    """`n_trials` trials completed or pruned, each in a run folder of its own, written by one
    process; no trial failed (a trial asked for when the study was full is never run)."""
    trials = study.get_trials()
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == n_trials
    assert all("not_run" in t.user_attrs for t in trials if t not in done)
    folders = [Path(t.user_attrs["run_folder"]) for t in done]
    assert sorted(f.name for f in folders) == sorted(p.name for p in study_dir.iterdir())
    for trial, folder in zip(done, folders):
        results = json.loads((folder / "results.json").read_text())
        assert results["status"] == ("pruned" if trial.state == TrialState.PRUNED else "complete")
        overrides = yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
        assert f"search.trial={trial.number}" in overrides
        events = [e for e in folder.glob("events.out.tfevents.*") if e.name != EVENT_FILE]
        assert len({e.name.split(".")[5] for e in events}) == 1  # one writing process


def run_three_workers(tmp_path: Path, storage: str) -> optuna.Study:
    """Three workers started at once: two trials each on average, so each worker also meets
    a study that filled up while it trained."""
    n_trials = 6
    args = [*study_args(tmp_path, storage, n_trials=n_trials), "trainer.max_epochs=1"]
    logs = [tmp_path / f"worker{i}.log" for i in range(3)]
    finish([start_worker(*args, log=log) for log in logs], logs)
    study = optuna.load_study(study_name="lstmlab", storage=open_storage(storage))
    study_dir = tmp_path / "logs" / "studies" / "lstmlab"
    check_trials(study, study_dir, n_trials=n_trials)
    assert compare([str(study_dir)]) == 0  # scripts/compare.py reads a study's trials
    return study


@pytest.mark.slow
def test_three_workers_finish_one_journal_study(tmp_path):
    run_three_workers(tmp_path, str(tmp_path / "optuna.journal"))


@pytest.mark.slow
def test_three_workers_started_at_once_on_a_fresh_postgresql_database(tmp_path, postgresql_url):
    run_three_workers(tmp_path, postgresql_url)


@pytest.mark.slow
def test_a_killed_workers_trial_is_run_again_from_its_last_checkpoint(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    args = [
        *study_args(tmp_path, storage, n_trials=1),
        "data.num_samples=512",  # epochs long enough to be killed in
        "search.heartbeat_interval=1",
        "search.grace_period=3",
    ]
    first = tmp_path / "logs" / "studies" / "lstmlab" / "trial-0000"
    doomed = start_worker(*args, log=tmp_path / "killed.log")
    wait_for(lambda: (first / "checkpoints" / "last.ckpt").is_file(), doomed)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    # its run hears of it (SIGTERM), writes last.ckpt and ends: the folder's lock is let go
    wait_for(lambda: not (first / "run.lock").exists())
    log = tmp_path / "worker.log"
    finish([start_worker(*args, log=log)], [log])
    study = optuna.load_study(study_name="lstmlab", storage=storage)
    killed, *others = study.get_trials()
    assert killed.state == TrialState.FAIL
    retry = next(t for t in others if t.system_attrs.get("failed_trial") == killed.number)
    assert retry.state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert retry.params == killed.params
    retried = Path(retry.user_attrs["run_folder"])
    overrides = yaml.safe_load((retried / ".hydra" / "overrides.yaml").read_text())
    assert f"ckpt_path='{first / 'checkpoints' / 'last.ckpt'}'" in overrides
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL, retry.state]


@pytest.mark.slow
def test_workers_stopped_and_started_again_finish_the_study_without_losing_a_trial(tmp_path):
    """SIGTERM (what a scheduler sends) stops the trial's run, which writes last.ckpt; the
    trial is queued again at once and the next worker resumes it from there."""
    storage = str(tmp_path / "optuna.journal")  # no heartbeat needed
    args = [*study_args(tmp_path, storage, n_trials=1), "data.num_samples=512"]
    first = tmp_path / "logs" / "studies" / "lstmlab" / "trial-0000"
    stopped = start_worker(*args, log=tmp_path / "stopped.log")
    wait_for(lambda: (first / "checkpoints" / "last.ckpt").is_file(), stopped)
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(timeout=600) == 143, (tmp_path / "stopped.log").read_text()[-3000:]
    log = tmp_path / "worker.log"
    finish([start_worker(*args, log=log)], [log])
    study = optuna.load_study(study_name="lstmlab", storage=open_storage(storage))
    stopped, retry = study.get_trials()
    assert stopped.state == TrialState.FAIL and retry.state != TrialState.FAIL
    assert retry.system_attrs["failed_trial"] == 0 and retry.params == stopped.params
    overrides = (first.parent / "trial-0001" / ".hydra" / "overrides.yaml").read_text()
    assert str(first / "checkpoints" / "last.ckpt") in overrides


@pytest.mark.slow
def test_a_failing_trial_is_recorded_with_its_error_and_the_worker_goes_on(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    args = [
        *study_args(tmp_path, storage, n_trials=3),
        "search.max_failures=2",
        "~search.params",  # every trial is refused by train.py: the weights would never change
        "+search.params={optimizer.lr:"
        "{_target_:optuna.distributions.CategoricalDistribution,choices:[0]}}",
    ]
    log = tmp_path / "worker.log"
    worker = start_worker(*args, log=log)
    assert worker.wait(timeout=600) == 2
    assert "2 trials failed (search.max_failures=2)" in log.read_text()
    study = optuna.load_study(study_name="lstmlab", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.FAIL]
    assert all("optimizer.lr=0" in t.user_attrs["error"] for t in study.trials)


def wait_for(condition, process: subprocess.Popen | None = None, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process is None or process.poll() is None, "the worker ended first"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


# ----------------------------------------------------------------------- a PostgreSQL server


@pytest.fixture(scope="module")
def postgresql_server() -> Iterator[object]:
    """A real PostgreSQL server on 127.0.0.1 for this module, started and stopped by
    pytest-postgresql's executor around Debian's `pg_ctl`. PostgreSQL refuses to run as root,
    so as root (CI) pg_ctl runs as the package's `postgres` user."""
    from port_for import get_port
    from pytest_postgresql.executors import PostgreSQLExecutor

    pg_ctl = shutil.which("pg_ctl") or next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)), None
    )
    if pg_ctl is None:
        if os.environ.get("CI"):
            pytest.fail("no pg_ctl: .ci/run installs Debian's postgresql")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="lstmlab-postgresql-"))
    executable = str(pg_ctl)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        executable = str(folder / "pg_ctl")
        Path(executable).write_text(f'#!/bin/sh\nexec runuser -u postgres -- {pg_ctl} "$@"\n')
        os.chmod(executable, 0o755)
    port = get_port(None)
    executor = PostgreSQLExecutor(
        executable=executable,
        host="127.0.0.1",
        port=port,
        datadir=str(folder / "data"),
        unixsocketdir=str(folder),
        logfile=str(folder / "postgresql.log"),
        startparams="-w",
        dbname="unused",
    )
    try:
        with executor:
            yield executor
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgresql_url(postgresql_server, request) -> Iterator[str]:
    """A fresh, empty database on the module's server, as an Optuna storage URL."""
    from pytest_postgresql.janitor import DatabaseJanitor

    server = postgresql_server
    name = f"optuna_{request.node.name[:40].lower()}".replace("-", "_")
    host, port = server.host, server.port
    with DatabaseJanitor(user="postgres", host=host, port=port, dbname=name):
        yield f"postgresql+psycopg://postgres@{host}:{port}/{name}"
