"""models/attribution.py: integrated gradients add up to the logit difference (completeness),
give padding exactly nothing, and find the one token that decides a trained model's label."""

from __future__ import annotations

import pytest
import torch
from conftest import POOLINGS, text_classifier

from lstmlab.data.synthetic import FIRST_KEY_ID, PAD_ID, make_key_task
from lstmlab.models.attribution import explain, integrated_gradients
from lstmlab.models.network import TextClassifier

TOKENS = torch.tensor([[5, 9, 3, 7, 8, 4], [6, 2, 11, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
LENGTHS = torch.tensor([6, 3, 0])  # a padded row and an empty text


def network(pooling: str, head: str = "ce", seed: int = 0) -> TextClassifier:
    torch.manual_seed(seed)
    classes = 2 if head == "bce" else 3
    return text_classifier(
        20,
        classes,
        PAD_ID,
        embed_dim=8,
        hidden_size=8,
        bidirectional=True,
        pooling=pooling,
        head=head,
    )


def logits_of(net, tokens, lengths, target):
    logits = net(tokens, lengths)[0]
    logits = torch.cat([-logits, logits], -1) if logits.size(-1) == 1 else logits
    return logits.gather(1, target[:, None]).squeeze(1)


@pytest.mark.parametrize("head", ["ce", "bce"])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_attributions_add_up_to_the_logit_difference_and_spare_padding(pooling, head):
    net = network(pooling, head).eval()
    target = torch.tensor([1, 0, 1])
    steps = 1000 if pooling == "max" else 100  # max pooling's kinks need a finer path
    attributions, error = integrated_gradients(net, TOKENS, LENGTHS, target, PAD_ID, steps)
    with torch.no_grad():
        gap = logits_of(net, TOKENS, LENGTHS, target) - logits_of(
            net, torch.zeros_like(TOKENS), LENGTHS, target
        )
    assert attributions.sum(1) == pytest.approx(gap.tolist(), abs=1e-4)  # completeness
    assert error.abs().max() < 1e-4
    padding = torch.arange(6) >= LENGTHS[:, None]
    assert torch.all(attributions[padding] == 0)  # exactly, not approximately
    assert attributions[0].abs().sum() > 0


def test_the_planted_key_gets_most_of_the_attribution():
    """One key token decides the label (no distractors); a model that learned the rule
    attributes its decision to that token, wherever it sits."""
    torch.manual_seed(0)
    task = dict(vocab_size=30, num_classes=2, min_len=6, max_len=16, num_distractors=0)
    train, test = (make_key_task(n, **task, seed=s) for n, s in ((1024, 1), (64, 2)))
    net = text_classifier(
        30, 2, PAD_ID, embed_dim=16, hidden_size=16, bidirectional=True, pooling="max"
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)

    def batch(data, rows):
        seqs = [data.sequences[i] for i in rows]
        tokens = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=PAD_ID)
        return tokens, torch.tensor([len(s) for s in seqs]), data.labels[rows]

    for step in range(300):
        tokens, lengths, labels = batch(train, [(step * 32 + i) % 1024 for i in range(32)])
        loss = torch.nn.functional.cross_entropy(net(tokens, lengths)[0], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    tokens, lengths, labels = batch(test, list(range(64)))
    net.eval()
    with torch.no_grad():
        predicted = net(tokens, lengths)[0].argmax(-1)
    assert (predicted == labels).float().mean() > 0.95  # it learned the rule
    attributions, _ = integrated_gradients(net, tokens, lengths, predicted, PAD_ID)
    key = (tokens >= FIRST_KEY_ID) & (tokens < FIRST_KEY_ID + 2)
    on_key = attributions.argmax(1) == key.float().argmax(1)
    assert on_key.float().mean() > 0.9


class StepNet(torch.nn.Module):
    """A logit that jumps from 0 to 3 along the path (as a max pooling switching positions
    can): its gradient is zero wherever it exists, so integrated gradients explain nothing of
    the logit difference, however many steps they take."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(20, 4, padding_idx=PAD_ID)
        torch.nn.init.constant_(self.embedding.weight, 1.0)
        self.embedding.weight.data[PAD_ID] = 0

    def forward(self, tokens, lengths):
        signal = self.embedding(tokens).sum((1, 2))[:, None]
        jump = 3.0 * (signal > 1.0) + 0.0 * signal  # on the graph, with a zero gradient
        return torch.cat([torch.zeros_like(signal), jump], -1), None


def test_an_explanation_reports_its_completeness_error_after_trying_finer_paths():
    target = torch.tensor([1, 1])
    explained = explain(StepNet(), TOKENS[:2], LENGTHS[:2], target, PAD_ID, steps=10, max_steps=40)
    assert explained.error.tolist() == pytest.approx([1.0, 1.0])  # nothing explained
    assert explained.above(0.05) == [0, 1]
    assert explained.steps.tolist() == [40, 40]  # 10, 20, 40: as far as allowed


def test_a_smooth_model_stays_within_the_tolerance_at_the_first_steps():
    net = network("mean").eval()
    explained = explain(net, TOKENS, LENGTHS, torch.tensor([1, 0, 1]), PAD_ID, tolerance=0.05)
    assert explained.above(0.05) == []
    assert explained.steps.tolist() == [50, 50, 50]
    assert explained.error[2] == 0  # the empty text: equal to its baseline
