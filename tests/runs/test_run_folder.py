"""A run writes a folder of its own: `hydra.run.dir=<another run>` is refused by every entry
point before anything is written there, unless train.py continues that run (`resume=`)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from conftest import TINY, hashes

from lstmlab.runs import evaluate, pretrain, train
from lstmlab.runs.run_folder import FolderTaken, claimed


@pytest.fixture
def finished_run(text_run, tmp_path) -> Path:
    """A copy of a finished run: checkpoints, results.json, TensorBoard events."""
    return Path(shutil.copytree(text_run["dir"], tmp_path / "finished"))


def entry_points(run: Path) -> dict:
    """Each entry point's main() and a command of it that names `run` as its folder."""
    best = next((run / "checkpoints").glob("epoch_*.ckpt"))
    return {
        "train": (train.main, [*TINY, f"hydra.run.dir={run}"]),
        "evaluate": (evaluate.main, [f"ckpt_path={best}", f"hydra.run.dir={run}"]),
        "evaluate refused later": (
            evaluate.main,
            [f"ckpt_path={best}", "split=train", f"hydra.run.dir={run}"],
        ),
        "pretrain": (pretrain.main, [*TINY, f"hydra.run.dir={run}"]),
    }


@pytest.mark.parametrize("entry", ["train", "evaluate", "evaluate refused later", "pretrain"])
def test_a_folder_holding_another_runs_work_is_refused_before_anything_is_written(
    finished_run, entry, monkeypatch
):
    main, args = entry_points(finished_run)[entry]
    before = hashes(finished_run)
    monkeypatch.setattr(sys, "argv", [f"{entry.split()[0]}.py", *args])
    with pytest.raises(SystemExit) as refused:
        main()
    message = str(refused.value.code)
    assert str(finished_run) in message and "another run" in message
    assert f"resume={finished_run}" in message  # how to continue it, if that was meant
    assert hashes(finished_run) == before


def test_a_new_or_empty_folder_or_one_a_run_is_continued_in_is_taken(finished_run, tmp_path):
    with claimed(tmp_path / "new"):
        pass
    hydras_only = tmp_path / "hydras_only"  # a run that wrote nothing of its own
    (hydras_only / ".hydra").mkdir(parents=True)
    (hydras_only / "train.log").write_text("")
    with claimed(hydras_only):
        pass
    with claimed(finished_run, resuming=True):
        pass
    with pytest.raises(FolderTaken, match="checkpoints"), claimed(finished_run):
        pass
