"""Whole runs: what train() and `python train.py` write, resume, sweep, and refuse."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from conftest import (
    ROOT,
    TINY,
    TINY_RUN,
    compose_config,
    crash_at_step,
    review_overrides,
    run_script,
    write_reviews,
)
from hydra.errors import ConfigCompositionException, InstantiationException
from lightning.pytorch.callbacks import ModelCheckpoint
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from lstmlab.models.lit_module import LSTMLitModule
from lstmlab.reporting.hparams import EVENT_FILE
from lstmlab.runs.checkpoints import CheckpointError
from lstmlab.runs.train import main as train_main
from lstmlab.runs.train import train

HPARAMS_METRICS = {"val/acc_best", "test/acc", "test/f1"}


def hparams_tab(run_dir: Path) -> tuple[dict, set[str], dict[str, float]]:
    """What TensorBoard's HPARAMS tab reads for a run folder (its own `EVENT_FILE`): the
    hyperparameters and the metric columns; and the last logged value of every scalar of the
    run itself."""
    session = EventAccumulator(str(run_dir / EVENT_FILE)).Reload()
    plugin = session.PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(plugin["_hparams_/session_start_info"])
    experiment = HParamsPluginData.FromString(plugin["_hparams_/experiment"]).experiment
    hparams = {
        name: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
        for name, value in start.session_start_info.hparams.items()
    }
    metric_tags = {info.name.tag for info in experiment.metric_infos}
    events = EventAccumulator(str(run_dir)).Reload()
    scalars = {tag: events.Scalars(tag)[-1].value for tag in events.Tags()["scalars"]}
    return hparams, metric_tags, scalars


def validated_steps(run_dir: Path, tag: str = "val/acc") -> list[int]:
    """The steps at which a run folder's TensorBoard events hold `tag` (`val/acc`: one per
    validation), as TensorBoard shows them."""
    return [event.step for event in EventAccumulator(str(run_dir)).Reload().Scalars(tag)]


def test_a_run_writes_checkpoints_and_a_hparams_tab_with_real_metrics(tiny_cfg, tmp_path):
    best = train(tiny_cfg("model=bilstm_max", "trainer.max_epochs=2"))

    checkpoints = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert "last.ckpt" in checkpoints and any(name.startswith("epoch_") for name in checkpoints)
    assert not any("=" in name for name in checkpoints)

    hparams, metric_tags, scalars = hparams_tab(tmp_path)
    assert hparams["model.pooling"] == "max" and hparams["model.bidirectional"] == "true"
    assert hparams["optimizer.lr"] == 1e-3 and hparams["seed"] == 42
    assert metric_tags >= HPARAMS_METRICS  # the headline metrics are columns
    assert "hp_metric" not in scalars
    for tag in HPARAMS_METRICS:
        assert 0.0 <= scalars[tag] <= 1.0, f"{tag} has no real value: {scalars.get(tag)}"
    assert scalars["val/acc_best"] == best

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["epochs"] == 2 and results["wall_time_s"] > 0
    assert results["metrics"]["test/acc"] == scalars["test/acc"]
    assert results["best_checkpoint"].endswith(".ckpt")
    timing = results["timing"]  # callback epoch_timer, also logged as train/* scalars
    assert len(timing["train_epoch_s"]) == len(timing["train_samples_per_s"]) == 2
    assert all(s > 0 for s in timing["train_epoch_s"]) and timing["peak_rss_mb"] > 0
    rounded = timing["train_samples_per_s"][-1]  # to 0.1 in results.json
    assert scalars["train/samples_per_s"] == pytest.approx(rounded, abs=0.05)


@pytest.mark.slow
def test_synthetic_task_is_learned_far_above_chance(tiny_cfg):
    """Four classes: chance is 25 %, and "the most recent key" is about as good. A short BiLSTM
    + attention run (seconds on a CPU) finds the first key in over 90 % of validation cases."""
    cfg = tiny_cfg(
        "model=bilstm_attn",
        "data.num_samples=2000",
        "data.val_samples=300",
        "model.embed_dim=32",
        "model.hidden_size=32",
        "optimizer.lr=5e-3",
        "trainer.max_epochs=3",
        "logger=csv",
    )
    assert train(cfg) > 0.9


@pytest.mark.slow
def test_a_run_continued_from_an_end_of_epoch_checkpoint_ends_as_an_uninterrupted_one(
    tiny_cfg, tmp_path
):
    # what a SIGKILL in epoch 2 leaves: the last.ckpt of epoch 1, continued in the same folder
    uninterrupted = tiny_cfg("trainer.max_epochs=3", "~callbacks.early_stopping")
    uninterrupted.paths.output_dir = str(tmp_path / "uninterrupted")
    train(uninterrupted)
    train(tiny_cfg("trainer.max_epochs=1", "~callbacks.early_stopping"))
    last = tmp_path / "checkpoints" / "last.ckpt"
    train(tiny_cfg("trainer.max_epochs=3", "~callbacks.early_stopping", f"ckpt_path={last}"))

    assert validated_steps(tmp_path) == validated_steps(tmp_path / "uninterrupted")  # continued
    results = [
        json.loads((path / "results.json").read_text())
        for path in (tmp_path, tmp_path / "uninterrupted")
    ]
    assert results[0]["metrics"] == results[1]["metrics"]  # same batches, same dropout masks


@pytest.mark.slow
def test_last_ckpt_is_the_latest_epoch_even_when_it_is_not_the_best(tiny_cfg, tmp_path):
    options = ["optimizer.lr=1e-12", "callbacks.model_checkpoint.monitor=val/acc"]
    train(tiny_cfg("trainer.max_epochs=3", "~callbacks.early_stopping", *options))
    best = torch.load(next((tmp_path / "checkpoints").glob("epoch_*.ckpt")), weights_only=True)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert best["epoch"] == 0  # nothing learned (lr 1e-12): the first epoch stays the best
    assert last["epoch"] == 2 and last["global_step"] == 3 * 8


@pytest.mark.slow
def test_a_run_continued_from_a_mid_epoch_checkpoint_ends_as_an_uninterrupted_one(
    tiny_cfg, tmp_path, monkeypatch
):
    # what a SIGKILL in mid-epoch leaves: last.ckpt of step 12 (batch 4 of 8 in epoch 1)
    options = ["trainer.max_epochs=3", "~callbacks.early_stopping", "model.dropout=0.5"]
    options.append("callbacks.last_checkpoint.every_n_train_steps=3")
    uninterrupted = tiny_cfg(*options)
    uninterrupted.paths.output_dir = str(tmp_path / "uninterrupted")
    train(uninterrupted)
    with monkeypatch.context() as patch:
        crash_at_step(patch, 12)  # no checkpoint after the last one written
        with pytest.raises(RuntimeError, match="killed"):
            train(tiny_cfg(*options))
    last = tmp_path / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=True)
    assert state["epoch"] == 1 and state["global_step"] == 12  # mid-epoch
    train(tiny_cfg(*options, f"ckpt_path={last}"))

    results = [
        json.loads((path / "results.json").read_text())
        for path in (tmp_path, tmp_path / "uninterrupted")
    ]
    assert results[0]["metrics"] == results[1]["metrics"]  # same batches, same dropout masks
    weights = [
        torch.load(path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        for path in (tmp_path, tmp_path / "uninterrupted")
    ]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[1])


@pytest.mark.slow
def test_text_data_with_buckets_early_stopping_and_a_scheduler_resumes_exactly_mid_epoch(
    tmp_path, monkeypatch
):
    """Length buckets and the resumable loader together, early stopping's and the cosine
    schedule's state: a run killed mid-epoch and continued ends as an uninterrupted one."""
    data = write_reviews(tmp_path / "reviews", {"train": 120, "test": 20})
    options = [*review_overrides(data, tmp_path / "cache"), "data.bucket=true"]
    options += [*TINY_RUN, "trainer.max_epochs=3", "scheduler=cosine", "model.dropout=0.5"]
    options += [
        "callbacks.early_stopping.patience=5",
        "callbacks.last_checkpoint.every_n_train_steps=4",
    ]
    train(compose_config(options, tmp_path / "once"))
    with monkeypatch.context() as patch:
        crash_at_step(patch, 9)  # no checkpoint after the last one written
        with pytest.raises(RuntimeError, match="killed"):
            train(compose_config(options, tmp_path / "run"))
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=True)
    assert state["global_step"] == 8 and state["epoch"] == 1  # 7 steps an epoch: mid-epoch
    train(compose_config([*options, f"ckpt_path={last}"], tmp_path / "run"))
    results = [
        json.loads((tmp_path / run / "results.json").read_text())["metrics"]
        for run in ("once", "run")
    ]
    assert results[0] == results[1]


@pytest.mark.slow
def test_the_same_seed_and_config_give_identical_metrics_on_cpu(tiny_cfg, tmp_path):
    results = []
    for name in ("first", "second"):
        cfg = tiny_cfg("trainer.max_epochs=2")
        cfg.paths.output_dir = str(tmp_path / name)
        train(cfg)
        results.append(json.loads((tmp_path / name / "results.json").read_text())["metrics"])
    assert results[0] == results[1]
    other = tiny_cfg("trainer.max_epochs=2", "seed=7", "data.seed=42")  # the same data
    other.paths.output_dir = str(tmp_path / "other")
    train(other)
    assert json.loads((tmp_path / "other" / "results.json").read_text())["metrics"] != results[0]


def test_a_diverging_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(
    tiny_cfg, tmp_path, monkeypatch
):
    loss = LSTMLitModule.loss

    def nan_in_the_second_epoch(self, logits, labels):
        value = loss(self, logits, labels)
        return value * float("nan") if self.training and self.current_epoch == 1 else value

    monkeypatch.setattr(LSTMLitModule, "loss", nan_in_the_second_epoch)
    with pytest.raises(FloatingPointError, match=r"became nan at step 8 \(epoch 1.*last.ckpt"):
        train(tiny_cfg("trainer.max_epochs=2"))
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0  # the good state after the first epoch
    assert all(torch.isfinite(w).all() for w in last["state_dict"].values())


def test_a_loss_that_diverges_before_any_checkpoint_names_none(tiny_cfg, tmp_path, monkeypatch):
    loss = LSTMLitModule.loss

    def nan_at_step_2(self, logits, labels):
        value = loss(self, logits, labels)
        return value * float("nan") if self.training and self.global_step == 2 else value

    monkeypatch.setattr(LSTMLitModule, "loss", nan_at_step_2)
    with pytest.raises(FloatingPointError, match="at step 2") as diverged:
        train(tiny_cfg())
    assert "last.ckpt" not in str(diverged.value) and "no checkpoint" in str(diverged.value)


def test_a_full_disk_while_checkpointing_stops_the_run_and_keeps_the_last_checkpoint(
    tiny_cfg, tmp_path, monkeypatch
):
    import contextlib

    from lstmlab.io import checkpoint_io

    atomic_open, checkpoints = checkpoint_io.atomic_open, []

    @contextlib.contextmanager
    def fill_the_disk_after_the_first_epoch(path, mode="wb"):
        checkpoints.append(Path(path).name)
        with atomic_open(path, mode) as file:
            if checkpoints.count("last.ckpt") > 1:  # rewriting epoch 1's last.ckpt
                file.write(b"PK\x03\x04 half a checkpoint")  # fails midway
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            yield file

    monkeypatch.setattr(checkpoint_io, "atomic_open", fill_the_disk_after_the_first_epoch)
    stopped = r"No space left on device .* at step 16\. Checkpoints are written whole"
    with pytest.raises(OSError, match=stopped) as info:
        train(tiny_cfg("trainer.max_epochs=3", "~callbacks.early_stopping"))
    assert info.value.errno == errno.ENOSPC and f"resume={tmp_path}" in str(info.value)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0 and last["global_step"] == 8  # whole: the first epoch's state
    assert checkpoints.count("last.ckpt") == 2  # the rewrite that failed midway
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert not [n for n in names if n.endswith(".tmp")]  # no partial file left, under any name


@pytest.mark.slow
def test_train_py_refuses_a_corrupt_ckpt_path(train_py, tmp_path):
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"PK\x03\x04 not a whole file")
    result = train_py(*TINY, f"ckpt_path={corrupt}", f"hydra.run.dir={tmp_path}/run")
    assert result.returncode != 0 and "could not be read as a checkpoint" in result.stderr
    assert not (tmp_path / "run").exists()  # no half-made run


def test_a_missing_ckpt_path_is_refused_before_any_work(tiny_cfg, tmp_path):
    with pytest.raises(CheckpointError, match=r"No checkpoint at .*nothing\.ckpt"):
        train(tiny_cfg(f"ckpt_path={tmp_path}/nothing.ckpt"))
    assert list(tmp_path.iterdir()) == []


@contextlib.contextmanager
def small_filesystem(folder: Path, size: str) -> Iterator[Path]:
    """A real size-limited filesystem (tmpfs) mounted at `folder`: only root can mount one."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.mark.slow
def test_a_full_disk_leaves_only_whole_checkpoints_and_the_run_continues_once_freed(tmp_path):
    with small_filesystem(tmp_path / "disk", "4m") as disk:
        run, options = disk / "run", [*TINY, "~callbacks.early_stopping", "model.dropout=0.5"]
        process = start_train_py(*options, "trainer.max_epochs=500", f"hydra.run.dir={run}")
        last = run / "checkpoints" / "last.ckpt"
        wait_for_checkpoint(last)  # an epoch has finished: now another writer fills the disk
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (free - last.stat().st_size // 2))
        output, _ = process.communicate(timeout=300)
        assert process.returncode != 0, output[-3000:]
        assert "No space left on device" in output and f"resume={run}" in output
        assert "Checkpoints are written whole or not at all" in output
        names = sorted(p.name for p in (run / "checkpoints").iterdir())
        assert all(re.fullmatch(r"last\.ckpt|epoch_\d{3}\.ckpt", n) for n in names), names
        for name in names:  # what the message promises: every checkpoint loads
            assert torch.load(run / "checkpoints" / name, weights_only=True)["global_step"] > 0
        stopped_at = torch.load(last, weights_only=True)["epoch"]

        filler.unlink()  # space freed: the printed command continues the run
        resumed = run_script("train.py", f"resume={run}", f"trainer.max_epochs={stopped_at + 2}")
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert json.loads((run / "results.json").read_text())["epochs"] == stopped_at + 2


def start_train_py(*args: str) -> subprocess.Popen:
    """`python train.py ARGS` in the background, as a scheduler starts a job."""
    return subprocess.Popen(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_checkpoint(path: Path, ready: Callable[[dict], bool] = lambda state: True) -> None:
    """Returns once the checkpoint at `path` exists and satisfies `ready` (written whole: Lightning
    writes checkpoints in a transaction)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if path.exists() and ready(torch.load(path, weights_only=True)):
            return
        time.sleep(0.02)
    raise TimeoutError(f"no checkpoint at {path} after 300 s")


def finished_as_uninterrupted(
    run: Path, epochs: int, options: list[str], tmp_path: Path, trained: int | None = None
) -> None:
    """The continued run in `run` has the final metrics of one run at once with
    `trainer.max_epochs=epochs`, both having trained `trained` epochs (default: all of them)."""
    uninterrupted = compose_config([*options, f"trainer.max_epochs={epochs}"], tmp_path / "once")
    train(uninterrupted)
    results = [json.loads((path / "results.json").read_text()) for path in (run, tmp_path / "once")]
    assert results[0]["epochs"] == results[1]["epochs"] == (trained or epochs)
    assert results[0]["metrics"] == results[1]["metrics"]  # same batches, same dropout masks


@pytest.mark.slow
def test_sigterm_writes_a_checkpoint_and_the_run_continues_from_it(tmp_path):
    run, options = tmp_path / "run", [*TINY, "~callbacks.early_stopping", "model.dropout=0.5"]
    options.append("data.num_samples=1024")  # 32 steps an epoch: SIGTERM most likely mid-epoch
    process = start_train_py(*options, "trainer.max_epochs=500", f"hydra.run.dir={run}")
    last = run / "checkpoints" / "last.ckpt"
    wait_for_checkpoint(last)  # an epoch has finished
    written = last.stat().st_mtime_ns
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 143, output[-3000:]
    state = torch.load(last, weights_only=True)
    assert f"Stopped by SIGTERM at step {state['global_step']};" in output  # saved on SIGTERM
    assert last.stat().st_mtime_ns > written

    epochs = state["epoch"] + 2  # continue in place, training one epoch past the stop
    resumed = run_script("train.py", f"resume={run}", f"trainer.max_epochs={epochs}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "trainer.max_epochs=500" in (run / ".hydra" / "overrides.yaml").read_text()
    finished_as_uninterrupted(run, epochs, options, tmp_path)
    # one TensorBoard run: every epoch validated once, at the steps of the uninterrupted run
    assert validated_steps(run) == validated_steps(tmp_path / "once")


def test_sigterm_mid_epoch_saves_that_very_step(tiny_cfg, tmp_path, monkeypatch):
    """The SIGTERM checkpoint holds the step the run stopped at, mid-epoch, not the last
    epoch-end save (the test above checks the printed step is the checkpoint's)."""
    step = LSTMLitModule.training_step

    def terminated_at_step_13(self, batch, batch_idx):
        if self.global_step == 13:
            os.kill(os.getpid(), signal.SIGTERM)  # Lightning stops after this batch
        return step(self, batch, batch_idx)

    monkeypatch.setattr(LSTMLitModule, "training_step", terminated_at_step_13)
    with pytest.raises(SystemExit) as stopped:
        train(tiny_cfg("trainer.max_epochs=3", "~callbacks.early_stopping"))
    assert stopped.value.code == 143
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["global_step"] == 14 and state["epoch"] == 1  # 8 steps an epoch


@pytest.mark.slow
def test_after_sigkill_the_run_continues_exactly_from_its_last_mid_epoch_checkpoint(tmp_path):
    run, options = tmp_path / "run", [*TINY, "~callbacks.early_stopping", "model.dropout=0.5"]
    options.append("callbacks.last_checkpoint.every_n_train_steps=7")  # 8 steps an epoch
    process = start_train_py(*options, "trainer.max_epochs=500", f"hydra.run.dir={run}")
    last = run / "checkpoints" / "last.ckpt"
    wait_for_checkpoint(last, lambda state: state["global_step"] % 8 != 0)
    process.kill()  # SIGKILL: no handler runs, nothing is written
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    state = torch.load(last, weights_only=True)
    assert state["global_step"] % 8 != 0  # the run stopped with a mid-epoch checkpoint

    epochs = state["epoch"] + 2
    resumed = run_script("train.py", f"resume={run}", f"trainer.max_epochs={epochs}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    finished_as_uninterrupted(run, epochs, options, tmp_path)


@pytest.mark.slow
def test_a_continued_run_shows_each_step_once_in_tensorboard(tmp_path, monkeypatch):
    """What a crashed run logged after its last checkpoint gives way to what the continued run
    logs for the same steps (without `purge_step`, those points showed twice)."""
    options = [*TINY, "~callbacks.early_stopping", "trainer.max_epochs=3"]
    options += ["trainer.log_every_n_steps=1", "callbacks.last_checkpoint.every_n_train_steps=7"]
    run, last = tmp_path / "run", tmp_path / "run" / "checkpoints" / "last.ckpt"
    train_step = LSTMLitModule.training_step

    def crash_at_step_11(self, batch, batch_idx):
        if self.global_step == 11:
            raise RuntimeError("crashed at step 11")
        return train_step(self, batch, batch_idx)

    monkeypatch.setattr(LSTMLitModule, "training_step", crash_at_step_11)
    with pytest.raises(RuntimeError, match="crashed at step 11"):
        train(compose_config(options, run))
    monkeypatch.undo()
    saved_at = torch.load(last, weights_only=True)["global_step"]
    assert max(validated_steps(run, "train/loss_step")) > saved_at  # logged past the checkpoint

    train(compose_config([*options, f"ckpt_path={last}"], run))  # what resume= runs
    train(compose_config(options, tmp_path / "once"))
    for tag in ("train/loss_step", "val/acc"):
        assert validated_steps(run, tag) == validated_steps(tmp_path / "once", tag)


@pytest.mark.slow
def test_an_output_folder_that_cannot_be_created_stops_the_run_naming_it(train_py, tmp_path):
    # a file where the folder should be: unwritable even for root, unlike a chmod
    blocker = tmp_path / "logs"
    blocker.write_text("an earlier run's notes\n")
    result = train_py(*TINY, f"paths.log_dir={blocker}")
    assert result.returncode != 0
    assert "Not a directory" in result.stderr and str(blocker) in result.stderr
    assert blocker.read_text() == "an earlier run's notes\n"


def test_resume_refuses_a_folder_that_is_not_a_run_or_has_no_checkpoint(tmp_path, monkeypatch):
    """Through train.py's main() in this process: `resume=` is read before Hydra starts (the
    real process is tested in test_resume.py)."""

    def refused() -> str:  # sys.exit(message): Python prints it to stderr, exit status 1
        monkeypatch.setattr(sys, "argv", ["train.py", f"resume={tmp_path}"])
        with pytest.raises(SystemExit) as stopped:
            train_main()
        return str(stopped.value.code)

    assert "no run there" in refused()
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("- model=lstm\n")
    assert "stopped before its first checkpoint" in refused()
    assert (tmp_path / ".hydra" / "overrides.yaml").read_text() == "- model=lstm\n"


@pytest.mark.slow
def test_train_py_names_run_folders_after_their_overrides(train_py, tmp_path):
    result = train_py(*TINY, "model=lstm", f"paths.log_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    # start time, then the overrides as key-value+key-value, each key by its last part
    assert "_data-synthetic+num_samples-256+" in run_dir.name
    assert run_dir.name.endswith("+model-lstm")
    assert "=" not in run_dir.name and "," not in run_dir.name
    assert len(run_dir.name.encode()) <= 255  # the file system limit
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    assert (run_dir / ".hydra" / "config.yaml").exists()
    assert list(run_dir.glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_multirun_over_pooling_writes_one_run_per_value(train_py, tmp_path):
    poolings = ["last", "hn", "mean", "max", "attn"]
    result = train_py(
        "-m", f"model.pooling={','.join(poolings)}", *TINY, f"hydra.sweep.dir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = {p.name: p for p in tmp_path.iterdir() if p.is_dir()}
    # each folder is named by its swept value and job number
    assert sorted(runs) == sorted(f"pooling-{pooling}_{n}" for n, pooling in enumerate(poolings))
    for run in runs.values():
        assert list(run.glob("events.out.tfevents.*")), f"{run.name} wrote no TensorBoard run"
        assert (run / "checkpoints" / "last.ckpt").exists()


@pytest.mark.slow
def test_bad_overrides_fail_with_hydras_message(train_py, tmp_path):
    """Hydra's own composition errors reach stderr unchanged (one in a real process), and the
    config is strict: a mistyped key is refused, not added."""
    unknown_option = train_py("model=nope")
    assert unknown_option.returncode != 0
    assert "Could not find 'model/nope'" in unknown_option.stderr

    with pytest.raises(ConfigCompositionException, match=r"Could not override 'model\.poolin'"):
        compose_config(["model.poolin=attn"], tmp_path)


def test_invalid_model_setting_fails_with_a_specific_message(tiny_cfg):
    """Hydra wraps the model's error in its own, which keeps the model's message whole."""
    message = r"model\.pooling='first': expected one of last, hn, mean, max, attn"
    with pytest.raises(InstantiationException, match=message):
        train(tiny_cfg("model.pooling=first"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.batch_size=abc", "data.batch_size='abc': expected an integer"),
        ("trainer.max_epochs=ten", "trainer.max_epochs='ten': expected an integer or null"),
        ("model.hidden_size=1.5", "model.hidden_size=1.5: expected an integer"),
        ("model.bidirectional=maybe", "model.bidirectional='maybe': expected true or false"),
        ("model.dropout=high", "model.dropout='high': expected a number"),
        ("optimizer.lr=abc", "optimizer.lr='abc': expected a number (Adam's `lr`)"),
        (
            "scheduler=warmup_cosine scheduler.scheduler.warmup_steps=ten",
            "scheduler.scheduler.warmup_steps='ten': expected an integer",
        ),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_before_any_work(
    tiny_cfg, tmp_path, override, message
):
    with pytest.raises(TypeError, match=re.escape(message)):
        train(tiny_cfg(*override.split()))
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_batch_larger_than_the_training_split_is_refused(tiny_cfg):
    with pytest.raises(ValueError, match=r"data.batch_size=300 is larger than the training split"):
        train(tiny_cfg("data.batch_size=300"))  # TINY has 256 training examples


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_finishes_and_writes_one_run(train_py, tmp_path):
    """Lightning relaunches train.py per rank; all ranks must share one folder, and only rank 0
    writes the HPARAMS summary (other ranks hold dummy loggers)."""
    result = train_py(*TINY, "trainer=ddp", "trainer.devices=2", f"paths.log_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "test/acc" in json.loads((run_dir / "results.json").read_text())["metrics"]
    assert hparams_tab(run_dir)[1] >= HPARAMS_METRICS


@pytest.mark.slow
def test_a_multirun_of_ddp_jobs_keeps_each_jobs_ranks_in_its_folder(train_py, tmp_path):
    """Lightning re-runs the command line for rank 1: in a sweep, that must be the job's own run,
    not the whole sweep again; and the next job in the process must start its own ranks."""
    args = [*TINY, "trainer=ddp", "trainer.devices=2", "model.pooling=max,mean"]
    result = train_py("-m", *args, f"paths.log_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [p.name for p in tmp_path.iterdir()] == ["multiruns"]  # no stray run folders
    (sweep,) = (tmp_path / "multiruns").iterdir()  # ...and no second sweep
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [job.name for job in jobs] == ["pooling-max_0", "pooling-mean_1"]
    for job in jobs:
        assert (job / "train_ddp_process_1.log").exists()  # rank 1 ran here
        assert "test/acc" in json.loads((job / "results.json").read_text())["metrics"]


def test_every_n_train_steps_adds_mid_epoch_saves_to_the_epoch_end_ones(
    tiny_cfg, tmp_path, monkeypatch
):
    """Lightning's ModelCheckpoint drops its epoch-end saves once every_n_train_steps is set,
    unless every_n_epochs is given too (conf/callbacks/last_checkpoint.yaml gives it)."""
    saved = []
    save = ModelCheckpoint._save_checkpoint

    def recording(self, trainer, filepath):
        if Path(filepath).name == "last.ckpt":
            saved.append(trainer.global_step)
        save(self, trainer, filepath)

    monkeypatch.setattr(ModelCheckpoint, "_save_checkpoint", recording)
    options = ["trainer.max_epochs=2", "~callbacks.early_stopping"]
    train(tiny_cfg(*options, "callbacks.last_checkpoint.every_n_train_steps=5"))  # 8 an epoch
    assert saved == [5, 8, 10, 15, 16]  # every 5 steps, and each epoch's end
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["global_step"] == 16


def test_a_run_whose_loss_explodes_is_stopped_as_diverged(tiny_cfg, tmp_path):
    """Adam at lr=1e6 keeps finite losses far above a uniform guess's: an error, not a run."""
    with pytest.raises(FloatingPointError, match=r"val/loss reached .* training diverged"):
        train(tiny_cfg("optimizer.lr=1e6", "trainer.max_epochs=3"))
    assert not (tmp_path / "results.json").exists()
