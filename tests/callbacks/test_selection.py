"""The best epoch: accuracy first, the lower validation loss among equal accuracies."""

import json
from pathlib import Path

from lstmlab.callbacks.selection import selection_score
from lstmlab.runs.train import train


def test_equal_accuracies_rank_by_the_lower_loss_and_accuracy_always_comes_first():
    examples = 64
    step = 1 / examples
    assert selection_score(1.0, 0.2, examples) > selection_score(1.0, 0.7, examples)
    assert selection_score(0.5 + step, 50.0, examples) > selection_score(0.5, 0.0, examples)
    assert selection_score(0.5 + step, 1e9, examples) > selection_score(0.5, 0.0, examples)


def test_the_best_checkpoint_of_tied_accuracies_is_the_one_with_the_lower_loss(tiny_cfg, tmp_path):
    """This tiny run's epochs 2-4 (001-003) tie at val/acc 0.4062 while val/loss falls."""
    train(tiny_cfg("trainer.max_epochs=4", "~callbacks.early_stopping", "test=false"))
    results = json.loads((tmp_path / "results.json").read_text())
    assert Path(results["best_checkpoint"]).name == "epoch_003.ckpt"
