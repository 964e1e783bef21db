"""The loss terms that learn from unlabelled texts too: the mixed objective of Sachan et al.
(2019), cross-entropy + adversarial training (adversarial.py) + the two terms here.

Virtual adversarial training (VAT; Miyato et al., 2017, 2018) asks the model to predict the
same for a text and for the text with its embeddings pushed `eps` (L2 norm over its real
tokens) in the direction that changes the prediction most, found without a label: one
power-iteration step from a random direction (the gradient of the KL divergence at a push of
size `xi` along it points along the KL's sharpest curvature). The clean prediction is a fixed
target (detached), so the term smooths the model around every text, labelled or not.

Entropy minimisation (Grandvalet & Bengio, 2005) asks for confident predictions on unlabelled
texts, which pushes the decision boundary away from where they lie.

Both read either binary head: a BCE logit counts as the two log-probabilities
(log(1 - p), log p).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstmlab.models.adversarial import adversarial_push, zero_probe

Batch = dict[str, Tensor]  # tokens [B, T], lengths [B], labels [B]; maybe "unlabelled": Batch


def log_probabilities(logits: Tensor, binary: bool) -> Tensor:
    """Log class probabilities [B, C] for the CE head's logits [B, C] or the BCE head's [B, 1]."""
    if binary:
        return torch.cat([F.logsigmoid(-logits), F.logsigmoid(logits)], dim=-1)
    return logits.log_softmax(dim=-1)


def kl_per_text(clean: Tensor, pushed: Tensor) -> Tensor:
    """KL(p || q) [B] from log-probabilities `clean` (p) and `pushed` (q), both [B, C]."""
    return (clean.exp() * (clean - pushed)).sum(dim=-1)


def entropy_per_text(log_p: Tensor) -> Tensor:
    """The entropy [B] of the predictions with log-probabilities `log_p` [B, C]."""
    return -(log_p.exp() * log_p).sum(dim=-1)


def real_tokens(tokens: Tensor, lengths: Tensor) -> Tensor:
    """True at each text's real tokens, False at padding [B, T] (an empty text: all False)."""
    return torch.arange(tokens.size(1), device=tokens.device) < lengths.unsqueeze(1)


def virtual_adversarial_kl(
    net: nn.Module, batch: Batch, clean: Tensor, binary: bool, eps: float, xi: float
) -> Tensor:
    """KL(p(y|x) || p(y|x + r)) [B] for the texts of `batch`, whose clean log-probabilities
    are `clean` [B, C] (a fixed target), with r of norm `eps` per text along the direction one
    power-iteration step finds. `net(tokens, lengths, push)` gives the logits first."""
    tokens, lengths = batch["tokens"], batch["lengths"]
    mask = real_tokens(tokens, lengths)  # padding never pushed

    def kl_at(push: Tensor) -> Tensor:
        return kl_per_text(clean, log_probabilities(net(tokens, lengths, push)[0], binary))

    start = zero_probe(net.embedding, tokens).detach()  # [B, T, E]
    direction = adversarial_push(torch.randn_like(start), xi, mask).requires_grad_()
    (gradient,) = torch.autograd.grad(kl_at(direction).sum(), direction, allow_unused=True)
    if gradient is None:  # the predictions do not depend on the embeddings at all
        gradient = torch.zeros_like(direction)
    return kl_at(adversarial_push(gradient, eps, mask))


VAT_LOSS, ENTROPY_LOSS = "vat_loss", "entropy_loss"  # the terms' names (train/vat_loss, ...)


@dataclass(frozen=True)
class SemiSupervisedTerms:
    """The VAT and entropy terms and their weights, from `objective.vat_*` /
    `objective.entropy_weight` (`ClassifierModule`); `vat_eps=0` and `entropy_weight=0` turn
    them off."""

    vat_eps: float = 0.0
    vat_xi: float = 0.1
    vat_weight: float = 1.0
    entropy_weight: float = 0.0

    def __post_init__(self) -> None:
        for name in ("vat_eps", "vat_weight", "entropy_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"objective.{name}={getattr(self, name)}: expected >= 0 (0: off)")
        if self.vat_xi <= 0:
            raise ValueError(
                f"objective.vat_xi={self.vat_xi}: expected > 0 (the power step's size)"
            )

    def terms(
        self, net: nn.Module, binary: bool, batch: Batch, logits: Tensor
    ) -> dict[str, Tensor]:
        """The unweighted terms of a training `batch` whose clean logits are `logits`:
        `vat_loss` (mean KL over its labelled and unlabelled texts) and `entropy_loss` (mean
        entropy over its unlabelled texts), those that are on."""
        unlabelled = batch.get("unlabelled")
        if unlabelled is not None and not (self.vat_eps or self.entropy_weight):
            raise ValueError(
                "The data gives unlabelled batches (data.unlabelled_ratio > 0) but no loss "
                "term reads them: set objective.vat_eps > 0 or objective.entropy_weight > 0, or "
                "data.unlabelled_ratio=0."
            )
        texts = [(batch, logits.detach())]
        found: dict[str, Tensor] = {}
        if unlabelled is not None:
            with torch.set_grad_enabled(self.entropy_weight > 0):  # VAT's target: no gradient
                unlabelled_logits = net(unlabelled["tokens"], unlabelled["lengths"])[0]
            if self.entropy_weight:
                log_p = log_probabilities(unlabelled_logits, binary)
                found[ENTROPY_LOSS] = entropy_per_text(log_p).mean()
            texts.append((unlabelled, unlabelled_logits.detach()))
        if self.vat_eps:
            eps, xi = self.vat_eps, self.vat_xi
            kls = [
                virtual_adversarial_kl(
                    net, part, log_probabilities(part_logits, binary), binary, eps, xi
                )
                for part, part_logits in texts
            ]
            found[VAT_LOSS] = torch.cat(kls).mean()
        return found

    @property
    def names(self) -> list[str]:
        """The names of the terms that are on, as `terms` gives them."""
        on = {ENTROPY_LOSS: self.entropy_weight, VAT_LOSS: self.vat_eps}
        return [name for name, setting in on.items() if setting]

    def weighted(self, terms: dict[str, Tensor]) -> Tensor | float:
        """The sum of `terms` by their weights (an adversarial_loss weighs 1)."""
        weights = {VAT_LOSS: self.vat_weight, ENTROPY_LOSS: self.entropy_weight}
        return sum(weights.get(name, 1.0) * term for name, term in terms.items())
