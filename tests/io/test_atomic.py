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
