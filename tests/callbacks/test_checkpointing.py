"""Checkpoint state that follows its run folder when the folder is copied or moved."""

from lstmlab.callbacks.checkpointing import RunCheckpoint


def test_a_moved_runs_checkpoint_state_points_into_its_new_folder(tmp_path):
    old, new = tmp_path / "old" / "checkpoints", tmp_path / "new" / "checkpoints"
    written = RunCheckpoint(dirpath=old, monitor="val/acc", mode="max")
    written.best_model_path = str(old / "epoch_000.ckpt")
    written.last_model_path = str(old / "last.ckpt")
    written.best_k_models = {str(old / "epoch_000.ckpt"): 0.5}
    fresh = RunCheckpoint(dirpath=new, monitor="val/acc", mode="max")
    fresh.load_state_dict(written.state_dict())  # a new run from the old run's checkpoint
    assert fresh.best_model_path == str(old / "epoch_000.ckpt")  # exists only there
    new.mkdir(parents=True)
    (new / "epoch_000.ckpt").write_bytes(b"")  # the folder moved: its files with it
    restored = RunCheckpoint(dirpath=new, monitor="val/acc", mode="max")
    restored.load_state_dict(written.state_dict())
    assert restored.best_model_path == str(new / "epoch_000.ckpt")  # not the original's
    assert restored.last_model_path == str(new / "last.ckpt")
    assert restored.best_k_models == {str(new / "epoch_000.ckpt"): 0.5}
