"""Is a difference real? Confidence intervals and tests from scipy.stats, not hand-written.

Over seeds (independent runs): a level's mean with its t-interval, and the difference of two
configurations with Welch's t-test (unequal variances) and its Welch-Satterthwaite interval.
Over examples (two models on one test set): McNemar's exact test on the discordant pairs and
a paired bootstrap interval of the accuracy difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class Difference:
    interval: Interval  # mean(a) - mean(b)
    p_value: float


def mean_interval(values: list[float]) -> Interval | None:
    """The mean with its 95 % t-interval; None with fewer than two values (no spread is
    known, so no interval exists: it is not zero)."""
    if len(values) < 2:
        return None
    mean = float(np.mean(values))
    if np.ptp(values) == 0:  # identical seeds: scipy would return nan; the interval is the point
        return Interval(mean, mean, mean)
    low, high = stats.t.interval(CONFIDENCE, len(values) - 1, loc=mean, scale=stats.sem(values))
    return Interval(mean, float(low), float(high))


def welch(a: list[float], b: list[float]) -> Difference | None:
    """mean(a) - mean(b), its 95 % interval and the two-sided p-value of Welch's t-test;
    None unless both sides have two values or more."""
    if len(a) < 2 or len(b) < 2:
        return None
    estimate = float(np.mean(a) - np.mean(b))
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # no variance at all: t is undefined
        return Difference(Interval(estimate, estimate, estimate), 1.0 if estimate == 0 else 0.0)
    result = stats.ttest_ind(a, b, equal_var=False)
    ci = result.confidence_interval(CONFIDENCE)
    return Difference(Interval(estimate, float(ci.low), float(ci.high)), float(result.pvalue))


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Two-sided p-value of McNemar's exact test: among the examples exactly one model gets
    right, is either model right more often than half the time?"""
    only_a = int(np.sum(correct_a & ~correct_b))
    only_b = int(np.sum(~correct_a & correct_b))
    if only_a + only_b == 0:
        return 1.0
    return float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)


def paired_bootstrap(
    correct_a: np.ndarray, correct_b: np.ndarray, resamples: int = 10_000, seed: int = 0
) -> Interval:
    """accuracy(a) - accuracy(b) with a 95 % percentile interval from resampling examples
    (the same examples for both models: the pairing is kept)."""
    diff = correct_a.astype(float) - correct_b.astype(float)
    result = stats.bootstrap(
        (diff,),
        np.mean,
        n_resamples=resamples,
        confidence_level=CONFIDENCE,
        method="percentile",
        random_state=np.random.default_rng(seed),
        vectorized=True,
    )
    ci = result.confidence_interval
    return Interval(float(diff.mean()), float(ci.low), float(ci.high))
