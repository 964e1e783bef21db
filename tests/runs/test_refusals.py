"""Data that cannot be found or reached ends a run with its message alone (refusals.py): asked
of the Hub once, no retries, no traceback, a non-zero exit, and no data written."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_script


def refused(tmp_path: Path, *overrides: str) -> str:
    """stderr of `python train.py OVERRIDES` writing under tmp_path, which must fail."""
    process = run_script(
        "train.py", f"paths.data_dir={tmp_path}/data", f"paths.log_dir={tmp_path}/logs", *overrides
    )
    assert process.returncode == 1, process.stderr[-3000:]
    assert "Traceback" not in process.stderr and "Retrying" not in process.stderr
    assert not (tmp_path / "data").exists()  # no download, no cache begun
    return process.stderr


@pytest.mark.slow
def test_imdb_with_the_hub_unreachable_asks_once_and_prints_only_the_message(tmp_path, fake_hub):
    stderr = refused(tmp_path, "data=imdb")
    assert "Error: No IMDB data found. Tried, in order:" in stderr
    assert "the Hub answered HTTP 503 for 'stanfordnlp/imdb'" in stderr
    assert "set data.path=/path/to/imdb" in stderr
    assert [r for r in fake_hub.requests if "/datasets/" in r] == [
        "GET /api/datasets/stanfordnlp/imdb"
    ]


@pytest.mark.slow
def test_a_hub_dataset_offline_prints_only_the_message_and_how_to_use_a_local_copy(tmp_path):
    # HF_HUB_OFFLINE=1 (conftest): no request at all
    stderr = refused(tmp_path, "data=hub", "data.name=someone/never-downloaded")
    assert "Error: data.name=someone/never-downloaded:" in stderr
    assert "HF_HUB_OFFLINE is set" in stderr
    assert "To use a local copy, set data.name to a folder" in stderr


def test_input_refused_before_training_prints_first_without_a_traceback(
    tmp_path, monkeypatch, capsys
):
    """Errors in your own data or settings come before the config tree, as a sentence alone
    (train.py's main(), Hydra included, in this process), and leave no run folder."""
    from lstmlab.runs.train import main as train_main

    csv = tmp_path / "bad.csv"
    csv.write_text("text,lab\nhello,1\nbye,0\n")  # no `label` column
    for overrides, message in [
        (["data=text_files"], "Error: data.train is not set"),
        ([f"data.train={csv}", f"data.test={csv}"], "has no column 'label'; its columns are"),
    ]:
        run = tmp_path / "run"
        args = ["data=text_files", *overrides, f"hydra.run.dir={run}"]
        monkeypatch.setattr("sys.argv", ["train.py", *args])
        with pytest.raises(SystemExit):
            train_main()
        out, err = capsys.readouterr()
        assert message in err and "Traceback" not in err
        assert "optimized_metric" not in out  # the config tree was not printed first
        assert not run.exists()
