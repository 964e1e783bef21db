"""Is model A better than model B on one test set? `python scripts/compare_evaluations.py A B`.

Seeds answer "is this configuration better" (compare.py); this answers "is this trained model
better" from two `evaluate.py` folders scored on the same examples. The comparison is paired:
each example is scored by both models, so McNemar's exact test looks only at the examples
exactly one model gets right, and the bootstrap resamples examples, keeping each pair together.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import rich
from rich.table import Table

from lstmlab.reporting.significance import Interval, mcnemar_exact, paired_bootstrap

PREDICTIONS = "predictions.parquet"  # written by evaluate.py in its output folder


@dataclass(frozen=True)
class PairedComparison:
    examples: int
    accuracy_a: float
    accuracy_b: float
    only_a_right: int  # the discordant pairs McNemar's test reads
    only_b_right: int
    difference: Interval  # accuracy(a) - accuracy(b), paired bootstrap 95 % interval
    mcnemar_p: float


def read_predictions(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(labels, correct) of an evaluation folder or predictions file, in example order."""
    file = path / PREDICTIONS if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(
            f"{path}: no {PREDICTIONS} there. Give an evaluate.py output folder "
            "(logs/evaluations/<time>) or its predictions.parquet."
        )
    table = pq.read_table(file, columns=["example", "label", "correct"]).to_pydict()
    order = np.argsort(table["example"])
    return np.asarray(table["label"])[order], np.asarray(table["correct"], dtype=bool)[order]


def compare(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> PairedComparison:
    """A against B; refused unless both scored the same examples with the same labels."""
    (labels_a, correct_a), (labels_b, correct_b) = a, b
    if len(labels_a) != len(labels_b):
        problem = f"{len(labels_a)} and {len(labels_b)} examples"
    elif not np.array_equal(labels_a, labels_b):
        problem = f"labels differ at {int(np.sum(labels_a != labels_b))} examples"
    else:
        problem = None
    if problem:
        raise ValueError(
            f"the two evaluations did not score the same examples ({problem}): a paired "
            "comparison needs one split scored by both models. Evaluate both checkpoints on "
            "the same data and split."
        )
    return PairedComparison(
        examples=len(labels_a),
        accuracy_a=float(correct_a.mean()),
        accuracy_b=float(correct_b.mean()),
        only_a_right=int(np.sum(correct_a & ~correct_b)),
        only_b_right=int(np.sum(~correct_a & correct_b)),
        difference=paired_bootstrap(correct_a, correct_b),
        mcnemar_p=mcnemar_exact(correct_a, correct_b),
    )


def print_comparison(result: PairedComparison, name_a: str, name_b: str) -> None:
    d = result.difference
    table = Table(title=f"A = {name_a}\nB = {name_b}", header_style="bold")
    for column in ("examples", "acc A", "acc B", "A - B (95 % CI, paired bootstrap)"):
        table.add_column(column, justify="right")
    table.add_column("only A right / only B right", justify="right")
    table.add_column("McNemar exact p", justify="right")
    table.add_row(
        str(result.examples),
        f"{100 * result.accuracy_a:.2f} %",
        f"{100 * result.accuracy_b:.2f} %",
        f"{100 * d.estimate:+.2f} [{100 * d.low:+.2f}, {100 * d.high:+.2f}] pts",
        f"{result.only_a_right} / {result.only_b_right}",
        f"{result.mcnemar_p:.3g}" if result.mcnemar_p > 0 else "< 1e-300",  # below a double
    )
    rich.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="evaluate.py output folder (or predictions.parquet)")
    parser.add_argument("b", type=Path, help="the other model's, on the same split")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        result = compare(read_predictions(args.a), read_predictions(args.b))
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"error: {err}\n")
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print_comparison(result, str(args.a), str(args.b))
    return 0


def cli() -> None:
    """The installed command: `main`'s status as the exit code."""
    sys.exit(main())
