import os
import subprocess

import pytest

from lstmlab.io import atomic


def test_a_write_that_fails_midway_keeps_the_previous_file_and_leaves_no_partial_one(tmp_path):
    target = tmp_path / "results.json"
    atomic.write_text(target, "old, whole")
    with pytest.raises(OSError, match="disk full"), atomic.atomic_open(target, "w") as file:
        file.write("new, half")
        raise OSError("disk full")
    assert target.read_text() == "old, whole"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_folder_appears_whole_or_not_at_all_and_replaces_only_when_asked(tmp_path):
    target = tmp_path / "export"
    with pytest.raises(OSError, match="disk full"), atomic.atomic_folder(target) as folder:
        (folder / "model.onnx").write_bytes(b"half")
        raise OSError("disk full")
    assert list(tmp_path.iterdir()) == []  # nothing under the real name, no staging folder
    with atomic.atomic_folder(target) as folder:
        (folder / "model.onnx").write_bytes(b"first")
    with atomic.atomic_folder(target) as folder:  # another process published first: kept
        (folder / "model.onnx").write_bytes(b"second")
    assert (target / "model.onnx").read_bytes() == b"first"
    with atomic.atomic_folder(target, replace=True) as folder:
        (folder / "model.onnx").write_bytes(b"third")
    assert (target / "model.onnx").read_bytes() == b"third"
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_a_staging_folder_left_by_a_killed_process_is_removed_by_the_next_build(tmp_path):
    dead = subprocess.Popen(["true"])  # a process that has ended: its pid is free
    dead.wait()
    abandoned = tmp_path / f".tmp-cache-0123abcd-{dead.pid}@{atomic.HOST}"
    abandoned.mkdir()
    (abandoned / "train.arrow").write_bytes(b"half")
    running = tmp_path / f".tmp-cache-0123abcd-{os.getpid()}@{atomic.HOST}"  # still building
    running.mkdir()
    with atomic.atomic_folder(tmp_path / "cache") as folder:
        (folder / "meta.json").write_text("{}")
    assert not abandoned.exists() and running.exists()


def test_a_file_written_by_name_appears_only_when_complete(tmp_path):
    target = tmp_path / "unsupervised.arrow"
    with pytest.raises(KeyboardInterrupt), atomic.atomic_path(target) as tmp:
        assert not tmp.exists() and tmp.parent == tmp_path  # a fresh name in the same folder
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with atomic.atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert [p.name for p in tmp_path.iterdir()] == ["unsupervised.arrow"]
