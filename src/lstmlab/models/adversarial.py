"""Adversarial training (Miyato et al., 2017): each training batch is fitted once more with
every text's embeddings pushed `eps` (L2 norm over the text) in the direction that raises its
loss fastest, so the model learns to be smooth around each training text. It costs a second
forward and backward pass per step.

The direction is the gradient of the loss with respect to a zero `probe` added to the
embeddings: the model runs the clean batch with the probe, then the pushed one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def zero_probe(embedding: nn.Embedding, tokens: Tensor) -> Tensor:
    """Zeros shaped [B, T, E] and typed as the batch's embeddings (bf16 too, under
    `bf16-true`), whose gradient will be the loss's with respect to the embeddings."""
    weight = embedding.weight
    return weight.new_zeros((*tokens.shape, weight.size(1))).requires_grad_()


def pushed_loss(
    loss_of: Callable[[Tensor], Tensor], loss: Tensor, probe: Tensor, eps: float
) -> Tensor:
    """`loss_of(push)` with the embeddings pushed `eps` along the gradient of `loss` (computed
    with `probe`): to first order, the push of that size that raises the loss most. The push
    is a constant; the gradient of this loss reaches the weights through the model."""
    (gradient,) = torch.autograd.grad(loss, probe, retain_graph=True)
    return loss_of(adversarial_push(gradient, eps))


def adversarial_push(gradient: Tensor, eps: float, mask: Tensor | None = None) -> Tensor:
    """`gradient` [B, T, E] scaled to an L2 norm of `eps` per text (a text with a zero
    gradient gets no push). Padding positions have a zero gradient, so they get no push; a
    direction that is not a gradient (a random one) is zeroed there by `mask` [B, T] (True at
    real tokens) first."""
    if mask is not None:
        gradient = gradient * mask.unsqueeze(-1)
    norms = gradient.flatten(1).norm(dim=1).clamp_min(1e-12)  # [B]
    return eps * gradient / norms[:, None, None]
