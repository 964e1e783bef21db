"""k-fold cross-validation: fold `fold` of `folds` stratified, seeded parts of the training data
validates, the others train; the test split is never touched.

With `data.folds=K`, `data.fold=0..K-1` is an ordinary sweep dimension (`-m data.fold=0,1,2,3,4
seed=1,2`), and `compare.py` pools a configuration's folds as it pools its seeds. Each sample
validates in exactly one fold, and every fold holds each class in the training data's
proportion (within one sample).
"""

from __future__ import annotations

import numpy as np


def check_fold(folds: int | None, fold: int) -> None:
    """A clear error for a fold that does not exist, before any data is read."""
    if folds is None:
        return
    if folds < 2:
        raise ValueError(
            f"data.folds={folds}: k-fold cross-validation needs 2 or more folds (e.g. "
            "data.folds=5), or data.folds=null for one held-out validation split"
        )
    if not 0 <= fold < folds:
        raise ValueError(
            f"data.fold={fold} with data.folds={folds}: folds are numbered 0 to {folds - 1}, "
            f"e.g. -m data.fold={','.join(map(str, range(folds)))}"
        )


def stratified_fold(
    labels: np.ndarray, folds: int, fold: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) row indices of fold `fold`: each class's rows shuffled with `seed`,
    laid end to end and dealt to the folds in turn, so every fold gets its share of each class
    and the folds' sizes differ by at most one."""
    classes = np.unique(labels)
    if len(labels) < folds:
        raise ValueError(
            f"data.folds={folds}: the training data has {len(labels)} samples, fewer than folds"
        )
    rng = np.random.default_rng(seed)
    dealt = np.concatenate([rng.permutation(np.flatnonzero(labels == c)) for c in classes])
    val_idx = np.sort(dealt[fold::folds])
    return np.setdiff1d(np.arange(len(labels)), val_idx), val_idx


def no_validation_file(folds: int | None, source: object) -> None:
    """Folds are cut from the training data: a dataset whose validation split is its own
    (a validation file or split) has none held out to fold."""
    if folds is not None:
        raise ValueError(
            f"data.folds={folds}: {source} has its own validation split, and k-fold "
            "cross-validation replaces a validation split held out from the training data. "
            "Drop data.folds (validate on that split), or leave the validation split out "
            "(e.g. data.val=null) to cross-validate over the training data."
        )
