"""The metric names a run's settings watch, checked against those its module and callbacks
log, before any training.

A callback watching a name nothing logs (`callbacks.early_stopping.monitor=val/acc_typo`)
would fail only at the end of the first epoch, with Lightning's traceback and a run folder
without a checkpoint; an `optimized_metric` nothing logs would hand a sweeper `None`. The names
come from the module (`ClassifierModule.logged_metrics`) and from callbacks that add their own
(`logged_metrics`, e.g. `val/selection`), so a new metric is known here with no change.
"""

from __future__ import annotations

import difflib

from omegaconf import DictConfig, OmegaConf

from lstmlab.models.lit_module import ClassifierModule
from lstmlab.runs.results import REPORTED_STAGES

FIT_STAGES = ("train", "val")  # what is logged while fitting, which callbacks watch


def check_monitors(cfg: DictConfig, module: ClassifierModule, callbacks: dict[str, object]) -> None:
    """A ValueError for the first watched name that nothing logs: a callback's `monitor`
    (`callbacks.<name>.monitor`), the scheduler's (`scheduler.monitor`), `optimized_metric`."""
    added = {name for c in callbacks.values() for name in getattr(c, "logged_metrics", ())}
    while_fitting = module.logged_metrics(FIT_STAGES) | added
    reported = {n for n in module.logged_metrics() | added if n.startswith(REPORTED_STAGES)}
    watched = [
        (f"callbacks.{key}.monitor", callback.monitor, while_fitting)
        for key, callback in callbacks.items()
        if isinstance(getattr(callback, "monitor", None), str)
    ]
    if (scheduler := OmegaConf.select(cfg, "scheduler.monitor")) is not None:
        watched.append(("scheduler.monitor", scheduler, while_fitting))
    if (optimized := cfg.get("optimized_metric")) is not None:
        watched.append(("optimized_metric", optimized, reported))
    for key, name, known in watched:
        if name not in known:
            raise ValueError(unknown_name(key, name, known))


def unknown_name(key: str, name: str, known: set[str]) -> str:
    """What was wrong, the closest names, every name there is (per-class ones as a pattern)."""
    close = difflib.get_close_matches(name, sorted(known), n=3)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    listed = sorted(n for n in known if "_per_class/" not in n)
    stages = sorted({n.split("/")[0] for n in known if "_per_class/" in n})
    listed += [f"{stage}/<f1|precision|recall>/<class>" for stage in stages]
    return (
        f"{key}={name}: no metric of that name is logged{hint}, so it could never be "
        f"watched. The names it can take: {', '.join(listed)}. Fix the override (or the "
        "config that sets it)."
    )
