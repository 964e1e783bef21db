"""Is a validation split held out from train made of the training texts' own phrases?

Phrase-level corpora (SST's phrases and the like) hold every phrase of a sentence as a text of
its own. A validation split drawn from such a training set is mostly pieces of training
sentences, so its accuracy measures memory, not generalisation, and model selection on it is
misled. `phrases_in_train` checks a sample of validation texts for whole-word occurrence
inside the training texts: one substring search each, over the training texts at least as
long, joined into one string sorted by length, and it stops once the answer is certain (on
IMDB about a second, once, when the cache is built). `overlap_warning` words the result for
every run.
"""

from __future__ import annotations

import bisect

import numpy as np

SAMPLE = 100  # validation texts checked (at most; half of them decide)
MAX_TRAIN_CHARS = 50_000_000  # a larger training split is searched in a random part of it
MOSTLY = 0.5  # warn when more than this share of the sample occurs inside training texts


def phrases_in_train(val_texts: list[str], train_texts: list[str], seed: int) -> dict[str, int]:
    """`{"checked": n, "inside": k}`: k of n sampled validation texts occur, as whole words and
    ignoring case and spacing, inside a training text. Stops as soon as more than MOSTLY of the
    sample is inside, or can no longer be."""
    rng = np.random.default_rng(seed)
    candidates = [normal(t) for t in val_texts]
    sample = [candidates[i] for i in rng.permutation(len(candidates)) if candidates[i].strip()]
    sample = sample[:SAMPLE]
    train = sorted(_part(train_texts, rng), key=len)  # shortest first
    lengths = [len(t) for t in train]
    starts = np.cumsum([0, *(n + 1 for n in lengths)])  # where each text begins in `haystack`
    haystack = "\n".join(train)
    needed = int(len(sample) * MOSTLY) + 1  # inside-count that means "mostly"
    inside = checked = 0
    for text in sample:
        checked += 1
        first = bisect.bisect_left(lengths, len(text))  # shorter texts cannot hold it
        inside += haystack.find(text, int(starts[first])) >= 0
        if inside >= needed or checked - inside > len(sample) - needed:
            break
    return {"checked": checked, "inside": inside}


def overlap_warning(result: dict[str, int] | None) -> str | None:
    """The warning for a `phrases_in_train` result that says "mostly", else None."""
    if not result or result["inside"] <= MOSTLY * result["checked"]:
        return None
    return (
        f"{result['inside']} of {result['checked']} validation texts checked occur inside "
        "training texts: the training set holds phrases of its own sentences (as phrase-level "
        "corpora do), so a validation split held out from it overlaps train and its scores "
        "overrate the model. Give the run a validation set of its own: data.val=<file> "
        "(data=text_files) or data.splits.val=<split> (data=hub)."
    )


def normal(text: str) -> str:
    """Lower case, single spaces, a space at each end: `in` then matches whole words only."""
    return " " + " ".join(text.lower().split()) + " "


def _part(texts: list[str], rng: np.random.Generator) -> list[str]:
    """The training texts, normalised; a random part of them under MAX_TRAIN_CHARS."""
    if sum(map(len, texts)) <= MAX_TRAIN_CHARS:
        return [normal(t) for t in texts]
    part, size = [], 0
    for i in rng.permutation(len(texts)):
        part.append(normal(texts[i]))
        size += len(part[-1])
        if size > MAX_TRAIN_CHARS:
            break
    return part
