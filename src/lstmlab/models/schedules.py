"""Learning-rate schedules that torch has only as parts (conf/scheduler/ names them).

Warm-up: Adam's first updates rest on second-moment estimates from a handful of batches, and a
full learning rate then can throw a fresh LSTM (or a pretrained embedding) far off; ramping the
rate up over the first steps avoids that (as in AWD-LSTM and transformer recipes).
"""

from __future__ import annotations

from lightning.pytorch.utilities import rank_zero_warn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR


def warmup_cosine(
    optimizer: Optimizer, warmup_steps: int, total_steps: int, eta_min: float = 0.0
) -> SequentialLR:
    """The learning rate rises linearly from lr / warmup_steps to lr over `warmup_steps`
    steps, then follows a cosine down to `eta_min` at `total_steps`. Step it every batch."""
    check_warmup_steps(warmup_steps)
    if warmup_steps >= total_steps:
        rank_zero_warn(
            f"The learning-rate warm-up ({warmup_steps} steps) lasts the whole run "
            f"({total_steps} steps): the rate never reaches optimizer.lr. Lower "
            "scheduler.scheduler.warmup_steps."
        )
    warmup = LinearLR(optimizer, start_factor=1 / warmup_steps, total_iters=warmup_steps)
    decay = CosineAnnealingLR(optimizer, T_max=max(total_steps - warmup_steps, 1), eta_min=eta_min)
    return SequentialLR(optimizer, [warmup, decay], milestones=[warmup_steps])


def check_warmup_steps(warmup_steps: int) -> None:
    """At least one warm-up step (train.py checks it before the run writes anything)."""
    if warmup_steps < 1:
        raise ValueError(
            f"scheduler.scheduler.warmup_steps={warmup_steps}: expected at least 1 (for no "
            "warm-up, use scheduler=cosine)"
        )
