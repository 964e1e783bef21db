"""The synthetic set follows its documented rule, is reproducible, and can be learned."""

from __future__ import annotations

import pytest
import torch

from lstmlab.data.batching import PadCollator
from lstmlab.data.synthetic import FIRST_KEY_ID, PAD_ID, SyntheticDataModule, make_key_task

CLASSES = 4


def key_classes(tokens: torch.Tensor) -> list[int]:
    """Classes of the key tokens in a sequence, in order."""
    is_key = (tokens >= FIRST_KEY_ID) & (tokens < FIRST_KEY_ID + CLASSES)
    return (tokens[is_key] - FIRST_KEY_ID).tolist()


def test_label_is_the_class_of_the_first_key_followed_by_the_distractors():
    data = make_key_task(500, 100, CLASSES, min_len=5, max_len=40, num_distractors=2, seed=0)
    for tokens, label in data:
        keys = key_classes(tokens)
        assert len(keys) == 3
        assert keys[0] == label.item()
        assert 5 <= len(tokens) <= 40
        assert PAD_ID not in tokens.tolist()


def test_the_last_key_is_not_a_shortcut_to_the_label():
    data = make_key_task(2000, 100, CLASSES, min_len=5, max_len=40, num_distractors=2, seed=0)
    last_key_right = sum(key_classes(tokens)[-1] == label.item() for tokens, label in data)
    assert 0.15 < last_key_right / len(data) < 0.40  # about chance (1/4), not the label


def test_labels_cover_every_class_in_balance():
    labels = make_key_task(4000, 100, CLASSES, 5, 40, 2, seed=0).labels
    counts = torch.bincount(labels, minlength=CLASSES)
    assert counts.min() > 0.2 * len(labels)  # roughly 1/4 each; the notebooks' were all 0


def test_same_seed_same_data_and_another_seed_other_data():
    a, b, c = (make_key_task(50, 100, CLASSES, 5, 40, 2, seed=s) for s in (1, 1, 2))
    assert all(torch.equal(x, y) for x, y in zip(a.sequences, b.sequences))
    assert torch.equal(a.labels, b.labels)
    assert not all(len(x) == len(y) and torch.equal(x, y) for x, y in zip(a.sequences, c.sequences))


def test_datamodule_splits_have_their_sizes_and_share_no_sequence():
    dm = SyntheticDataModule(num_samples=300, val_samples=50, test_samples=40, max_len=30)
    dm.setup("fit")
    assert [len(dm.splits[s]) for s in ("train", "val", "test")] == [300, 50, 40]
    seen = {tuple(seq.tolist()) for seq in dm.splits["train"].sequences}
    assert not any(tuple(seq.tolist()) in seen for seq in dm.splits["test"].sequences)


def test_batches_are_padded_to_their_own_longest_sequence():
    dm = SyntheticDataModule(num_samples=64, batch_size=16, min_len=5, max_len=60)
    dm.setup("fit")
    for batch in dm.val_dataloader():
        tokens, lengths = batch["tokens"], batch["lengths"]
        assert tokens.shape[1] == lengths.max()
        assert torch.all((tokens == PAD_ID) == (torch.arange(tokens.shape[1]) >= lengths[:, None]))


def test_collator_keeps_one_column_when_every_sequence_is_empty():
    empty = torch.tensor([], dtype=torch.long)
    batch = PadCollator(PAD_ID)([(empty, torch.tensor(0)), (empty, torch.tensor(1))])
    assert batch["tokens"].shape == (2, 1) and batch["lengths"].tolist() == [0, 0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_samples": 0}, "data.num_samples=0"),
        ({"batch_size": 0}, "data.batch_size=0: expected a positive integer"),
        ({"min_len": 30, "max_len": 20}, "data.max_len=20 is below data.min_len=30"),
        ({"num_classes": 1}, "needs >= 2"),
        ({"vocab_size": 6}, "leaves no noise tokens"),
        ({"num_distractors": 20, "min_len": 20}, "data.num_distractors=20"),
    ],
)
def test_impossible_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticDataModule(**kwargs)
