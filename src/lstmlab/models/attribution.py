"""Which tokens made the model decide? Integrated gradients over the token embeddings
(Sundararajan et al., 2017), through Captum's `LayerIntegratedGradients`.

Attention weights say where an attention model looked, which need not be what decided (Jain &
Wallace, 2019; Wiegreffe & Pinter, 2019), and models with other poolings have none. Integrated
gradients work for every pooling and add up: a text's attributions sum to its logit minus the
baseline's (completeness), up to the integral's numerical error, which Captum reports.

The baseline is the same text with every real token replaced by padding: an all-zero embedding
(the padding row is fixed at zero) read at the text's own length, so it differs from the text
only in what the tokens say, not in how long it is. Padding positions are padding in both, so
their attribution is exactly zero.

The attributed quantity is the logit of the target class; for the BCE head's single logit z,
that is z for the positive class and -z for the negative one.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

STEPS = 50  # points on the path from baseline to text (Gauss-Legendre, Captum's default rule)


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
