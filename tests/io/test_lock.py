"""One writer per run folder: held, refused with who holds it, taken over from the dead."""

import json
import logging
import signal
import subprocess
import sys

import pytest

from lstmlab.io.lock import LOCK_NAME, FolderLocked, one_writer

HOLD = "from lstmlab.io.lock import one_writer; import sys, time\n" + (
    "with one_writer(sys.argv[1]):\n    print('held', flush=True); time.sleep(600)"
)


def holding_process(folder) -> subprocess.Popen:
    """Another process that holds `folder`'s lock until it is stopped."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "held\n"
    return process


def test_a_second_writer_is_refused_with_who_holds_the_folder(tmp_path):
    holder = holding_process(tmp_path)
    try:
        refused = pytest.raises(FolderLocked, match=rf"being written by process {holder.pid} on")
        with refused, one_writer(tmp_path):
            pass
    finally:
        holder.terminate()
        holder.wait()
    with one_writer(tmp_path):  # released when its holder ended normally
        record = json.loads((tmp_path / LOCK_NAME).read_text())
        with one_writer(tmp_path):  # the same process again: held once
            pass
        assert (tmp_path / LOCK_NAME).exists()
    assert record["host"] and record["pid"] > 0
    assert not (tmp_path / LOCK_NAME).exists()  # released at the end


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path, caplog):
    holder = holding_process(tmp_path)
    holder.send_signal(signal.SIGKILL)  # no cleanup runs: the lock file stays
    holder.wait()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == holder.pid
    with caplog.at_level(logging.WARNING), one_writer(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] != holder.pid
    assert f"process {holder.pid}, which held it, has ended" in caplog.text


def test_a_lock_from_another_host_is_respected_with_how_to_remove_it(tmp_path):
    record = {"pid": 4242, "host": "node-17.cluster", "since": "yesterday", "command": "train"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(record))
    refused = pytest.raises(FolderLocked, match=r"process 4242 on host node-17\.cluster")
    with refused as info, one_writer(tmp_path):
        pass
    assert f"delete {tmp_path / LOCK_NAME}" in str(info.value)
    assert json.loads((tmp_path / LOCK_NAME).read_text()) == record  # left as it was
