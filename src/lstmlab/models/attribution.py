"""Which tokens made the model decide? Integrated gradients over the token embeddings
(Sundararajan et al., 2017), through Captum's `LayerIntegratedGradients`.

Attention weights say where an attention model looked, which need not be what decided (Jain &
Wallace, 2019; Wiegreffe & Pinter, 2019), and models with other poolings have none. Integrated
gradients work for every pooling and add up: a text's attributions sum to its logit minus the
baseline's (completeness), up to the integral's numerical error, which Captum reports. That
error is part of every explanation (`explain`): relative to the logit difference, it says how
much of the decision the attributions leave unexplained. A finer path (more steps) shrinks it
where the logit is smooth along the path; where the logit jumps (a max pooling switching
positions), no number of steps helps, and the error stays to be reported.

The baseline is the same text with every real token replaced by padding: an all-zero embedding
(the padding row is fixed at zero) read at the text's own length, so it differs from the text
only in what the tokens say, not in how long it is. Padding positions are padding in both, so
their attribution is exactly zero.

The attributed quantity is the logit of the target class; for the BCE head's single logit z,
that is z for the positive class and -z for the negative one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

STEPS = 50  # points on the path from baseline to text (Gauss-Legendre, Captum's default rule)
MAX_STEPS = 800  # the finest path `explain` tries for a text whose error exceeds the tolerance
TOLERANCE = 0.05  # largest acceptable completeness error, relative to the logit difference


@dataclass
class Explanation:
    """Integrated gradients of a batch, with how far each row is from adding up."""

    attributions: Tensor  # [B, T] per token, towards the target class
    error: Tensor  # [B] |sum of attributions - logit difference| / |logit difference|
    steps: Tensor  # [B] the path's points that gave these attributions

    def above(self, tolerance: float) -> list[int]:
        """The rows whose completeness error exceeds `tolerance`."""
        return torch.nonzero(self.error > tolerance).flatten().tolist()


def explain(
    net: nn.Module,
    tokens: Tensor,
    lengths: Tensor,
    target: Tensor,
    pad_id: int,
    steps: int = STEPS,
    tolerance: float = TOLERANCE,
    max_steps: int = MAX_STEPS,
) -> Explanation:
    """`integrated_gradients` with each row's relative completeness error; rows above
    `tolerance` are recomputed with twice the steps until `max_steps`, each keeping its most
    complete result (the finer on a tie; a finer path can be worse where the logit jumps)."""
    attributions, delta = integrated_gradients(net, tokens, lengths, target, pad_id, steps)
    best = Explanation(
        attributions, relative_error(attributions, delta), torch.full_like(target, steps)
    )
    while steps < max_steps and best.above(tolerance):
        rows = torch.tensor(best.above(tolerance), device=tokens.device)
        steps = min(2 * steps, max_steps)
        finer, delta = integrated_gradients(
            net, tokens[rows], lengths[rows], target[rows], pad_id, steps
        )
        error = relative_error(finer, delta)
        better = error <= best.error[rows]  # a tie: the finer path
        kept = rows[better]
        best.attributions[kept] = finer[better]
        best.error[kept] = error[better]
        best.steps[kept] = steps
    return best


def relative_error(attributions: Tensor, delta: Tensor) -> Tensor:
    """|delta| / |logit difference| per row, where Captum's delta is the sum of attributions
    minus the logit difference (so the difference is their gap). A text equal to its baseline
    (an empty one) has neither, and no error."""
    gap = attributions.sum(-1) - delta
    return delta.abs() / gap.abs().clamp_min(1e-6)


def integrated_gradients(
    net: nn.Module, tokens: Tensor, lengths: Tensor, target: Tensor, pad_id: int, steps: int = STEPS
) -> tuple[Tensor, Tensor]:
    """Per-token attributions [B, T] towards class `target` [B] and each row's completeness
    error [B] (sum of attributions minus the logit difference to the baseline).

    `net` is a `TextClassifier` (or anything with its `embedding` and `forward(tokens,
    lengths)` returning `(logits, ...)`); it is run in eval mode.
    """
    try:
        from captum.attr import LayerIntegratedGradients
    except ImportError as err:  # an optional extra: explaining is not needed to train
        raise ImportError("Integrated gradients need Captum: pip install -e '.[explain]'") from err

    def target_logits(tokens: Tensor, lengths: Tensor) -> Tensor:
        logits = net(tokens, lengths)[0]
        return torch.cat([-logits, logits], -1) if logits.size(-1) == 1 else logits

    was_training = net.training
    net.eval()
    baseline = torch.full_like(tokens, pad_id)  # padding stays padding: zero attribution
    with torch.inference_mode(False), torch.enable_grad():  # also from inside a validation loop
        attributions, error = LayerIntegratedGradients(target_logits, net.embedding).attribute(
            tokens.clone(),
            baselines=baseline,
            target=target.clone(),
            additional_forward_args=(lengths.clone(),),
            n_steps=steps,
            return_convergence_delta=True,
        )
    net.train(was_training)
    return attributions.sum(-1).detach(), error.detach()  # summed over the embedding's width
