"""The adversarial push: its size and where it acts (its use in training: test_lit_module.py)."""

from __future__ import annotations

import torch

from lstmlab.models.adversarial import adversarial_push


def test_the_adversarial_push_has_norm_eps_per_review_and_spares_padding():
    gradient = torch.randn(3, 5, 4)
    gradient[0, 3:] = 0  # padding: the loss does not depend on it
    gradient[2] = 0  # a review the loss does not depend on at all
    push = adversarial_push(gradient, 0.5)
    torch.testing.assert_close(push.flatten(1).norm(dim=1)[:2], torch.tensor([0.5, 0.5]))
    assert torch.all(push[0, 3:] == 0) and torch.all(push[2] == 0)
