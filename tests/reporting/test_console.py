"""The run's summary on the console."""

from lstmlab.reporting.console import print_summary


def test_the_summary_names_a_best_checkpoint_only_where_there_is_one(capsys):
    print_summary({"test/acc": 0.5}, "runs/a", None, "runs")  # evaluate.py: none to name
    assert "best checkpoint" not in capsys.readouterr().out
    print_summary({"test/acc": 0.5}, "runs/a", "runs/a/checkpoints/epoch_001.ckpt", "runs")
    assert "best checkpoint: runs/a/checkpoints/epoch_001.ckpt" in capsys.readouterr().out
