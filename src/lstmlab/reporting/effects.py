"""What each swept factor does, from a linear model that fits a factorial design (statsmodels).

Comparing one factor's levels over all their jobs (marginal groups, one t-test each) ignores
the other factors: their spread counts as noise and an unbalanced sweep mixes them into the
difference. Instead every complete job's metric is fitted by ordinary least squares with each
factor as a categorical term:

- the ANOVA table (type II sums of squares, `anova_lm`) gives each factor's F-test and, where
  seeds leave residual degrees of freedom, each two-factor interaction's;
- the additive model (main effects only) gives each level's difference from the factor's best
  level with the other factors held fixed: the coefficient, its 95 % interval and p-value.

The residual variance is pooled over every job, so with three seeds per configuration the
intervals are far narrower than per-group t-intervals over two or three values.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import pandas as pd
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm

from lstmlab.reporting.significance import CONFIDENCE, Interval
from lstmlab.reporting.sweep import COMPLETE, Job, factors

ABSENT = "(default)"  # a factor's level in a job that does not set it


@dataclass(frozen=True)
class Term:
    name: str  # a factor, or "a × b" for an interaction
    df: float
    f: float
    p: float


@dataclass(frozen=True)
class LevelEffect:
    factor: str
    level: str
    jobs: int
    mean: float  # over the level's jobs (marginal)
    difference: Interval | None  # from the factor's best level, others fixed; None: it is best
    p: float | None


@dataclass(frozen=True)
class Effects:
    terms: list[Term]
    levels: list[LevelEffect]
    residual_df: float
    note: str  # why there is no test, or what to read with care; "" when nothing to say


def factor_effects(jobs: list[Job], metric: str) -> Effects | None:
    """The ANOVA and level effects of every swept factor on `metric`; None without factors."""
    done = [j for j in jobs if j.status == COMPLETE and j.metrics and metric in j.metrics]
    swept = list(factors(job.settings for job in done))
    if not swept:
        return None
    columns = {name: f"f{i}" for i, name in enumerate(swept)}  # formula-safe names
    table = pd.DataFrame(
        {columns[n]: [j.settings.get(n, ABSENT) for j in done] for n in swept}
        | {"y": [j.metrics[metric] for j in done]}
    )
    means = {n: table.groupby(columns[n])["y"].mean() for n in swept}
    for name in swept:  # the best level first: the additive model's reference
        order = means[name].sort_values(ascending=False).index.tolist()
        table[columns[name]] = pd.Categorical(table[columns[name]], categories=order)
    main = " + ".join(f"C({c})" for c in columns.values())
    additive = smf.ols(f"y ~ {main}", table).fit()
    if additive.df_resid < 1:
        return Effects([], [], 0, "No test: as many parameters as finished jobs (add seeds).")
    crossed = [
        (a, b)
        for a, b in itertools.combinations(columns.values(), 2)
        if len(table.groupby([a, b], observed=True)) == table[a].nunique() * table[b].nunique()
    ]  # an interaction is estimable only where every pair of levels ran
    pairs = " + ".join(f"C({a}):C({b})" for a, b in crossed)
    full = smf.ols(f"y ~ {main} + {pairs}", table).fit() if pairs else additive
    model = full if full.df_resid >= 1 else additive
    with warnings.catch_warnings():  # a perfect fit divides by zero: F is then inf, p 0
        warnings.simplefilter("ignore", RuntimeWarning)
        anova = anova_lm(model, typ=2)
    names = {v: k for k, v in columns.items()}
    terms = [
        Term(term_name(str(index), names), float(r["df"]), float(r["F"]), float(r["PR(>F)"]))
        for index, r in anova.iterrows()
        if index != "Residual"
    ]
    levels = [
        level_effect(name, level, table, columns[name], means[name], additive)
        for name in swept
        for level in table[columns[name]].cat.categories
    ]
    return Effects(terms, levels, float(model.df_resid), interaction_note(terms))


def term_name(term: str, names: dict[str, str]) -> str:
    """ "C(f0):C(f1)" -> "model.pooling × optimizer.lr"."""
    return " × ".join(names[part[2:-1]] for part in term.split(":"))


def level_effect(
    name: str, level: str, table: pd.DataFrame, column: str, means: pd.Series, fit
) -> LevelEffect:
    jobs = int((table[column] == level).sum())
    parameter = f"C({column})[T.{level}]"
    if parameter not in fit.params:  # the reference level
        return LevelEffect(name, level, jobs, float(means[level]), None, None)
    low, high = fit.conf_int(1 - CONFIDENCE).loc[parameter]
    interval = Interval(float(fit.params[parameter]), float(low), float(high))
    p = float(fit.pvalues[parameter])
    return LevelEffect(name, level, jobs, float(means[level]), interval, p)


def interaction_note(terms: list[Term]) -> str:
    strong = [t.name for t in terms if "×" in t.name and t.p < 1 - CONFIDENCE]
    if not strong:
        return ""
    return (
        f"Interaction {', '.join(strong)} has p < {1 - CONFIDENCE:.2f}: a factor's effect "
        "depends on another's level, so its average over them (the level rows) can mislead; "
        "read the configurations themselves."
    )
