"""Exact and fast encoding for the trained tokenizer kinds: each distinct chunk once.

`tokenizers` costs about a microsecond per token, and IMDB has 13 million; but reviews
repeat the same whitespace-separated chunks ("the", "movie.", "it's") over and over. For the
trained kinds, whose normalizer works character by character and whose pre-tokenizer never
joins across whitespace, encoding a text is the same as encoding each chunk and concatenating,
so `ChunkEncoder` encodes each distinct chunk of a batch once and gathers the ids with numpy,
and `word_vocabulary` counts words over distinct chunks. Both give exactly what the plain
`Tokenizer` gives (tests/data/test_imdb.py checks it on real reviews); pretrained tokenizers, which
may encode the spaces themselves, are run on whole texts.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tokenizers import AddedToken, Tokenizer

from lstmlab.data.tokenization import (
    BREAKS,
    SPECIALS,
    UNK,
    chunk_safe,
    encode_batch,
    from_json,
    train_tokenizer,
    untrained,
)

SEPARATOR = "\n"  # joins distinct chunks for one encode call; chunks never contain it
GROUP = 256  # distinct chunks per encoded text


def word_vocabulary(chunks: pa.ListArray, min_freq: int, max_size: int | None) -> ChunkEncoder:
    """The `word` tokenizer that `train_tokenizer("word", ...)` would train on these texts
    (given as their `split_chunks`), counted over distinct chunks rather than every token;
    returned inside a `ChunkEncoder` that already knows the ids of those chunks.

    Every word of the texts gets an id in a first, uncapped vocabulary; each distinct chunk is
    encoded once and its words counted as often as the chunk occurs; then, as the trainer does,
    words seen `min_freq` times are kept, most frequent first, ties alphabetical, up to
    `max_size` ids with <pad> and <unk>.
    """
    counts = pc.value_counts(chunks.flatten())
    distinct = counts.field("values")
    every = train_tokenizer("word", [_joined(distinct.to_pylist())], min_freq=1, max_size=None)
    ids, lengths = ChunkEncoder(every).encode_distinct(distinct.to_pylist())
    weights = np.repeat(counts.field("counts").to_numpy(), lengths)
    frequency = np.bincount(ids, weights=weights, minlength=every.get_vocab_size())
    vocab = every.get_vocab()
    kept = [word for word, i in vocab.items() if i >= len(SPECIALS) and frequency[i] >= min_freq]
    kept.sort(key=lambda word: (-frequency[vocab[word]], word))
    if max_size is not None:
        kept = kept[: max_size - len(SPECIALS)]
    final = {token: i for i, token in enumerate([*SPECIALS, *kept])}
    renumber = np.full(every.get_vocab_size(), final[UNK], dtype=np.int32)  # old id -> new id
    renumber[[vocab[token] for token in final]] = list(final.values())
    return ChunkEncoder(untrained("word", final), (distinct, renumber[ids], lengths))


def _joined(chunks: list[str]) -> list[str]:
    """Chunks joined by SEPARATOR into a few long texts (not by " ": "<br" and "/>" must not
    become a line break)."""
    return [SEPARATOR.join(chunks[i : i + GROUP]) + SEPARATOR for i in range(0, len(chunks), GROUP)]


def split_chunks(texts: pa.Array) -> pa.ListArray:
    """Each text as its whitespace-separated chunks, ASCII-lower-cased, line breaks removed.

    Both steps are ones the trained tokenizers' normalizer does anyway (it lower-cases first),
    done here so that "The" and "the" are one distinct chunk and "<br />" is not cut in two.
    """
    lowered = pc.ascii_lower(texts.cast(pa.string()))
    return pc.ascii_split_whitespace(pc.replace_substring_regex(lowered, BREAKS, " "))


class ChunkEncoder:
    """Encodes texts with a trained tokenizer, each distinct chunk once (see the module
    docstring): the same ids as `encode_batch`, several times faster on real reviews. It
    remembers the chunks it has encoded, so later batches and splits encode only new ones.

    `known`: (chunks, their ids flat, ids per chunk) already encoded with `tokenizer`.
    """

    def __init__(
        self, tokenizer: Tokenizer, known: tuple[pa.Array, np.ndarray, np.ndarray] | None = None
    ) -> None:
        self.tokenizer = tokenizer
        self.separating = from_json(tokenizer.to_str())  # a copy, with a separator
        self.separating.add_tokens([AddedToken(SEPARATOR, normalized=False)])
        self.separator = self.separating.token_to_id(SEPARATOR)
        empty = (pa.array([], pa.string()), np.zeros(0, np.int32), np.zeros(0, np.int64))
        self.chunks, self.ids, self.lengths = known or empty

    def __call__(self, texts: pa.Array) -> pa.ListArray:
        """Token ids of `texts`, one list per text."""
        chunks = split_chunks(texts)
        coded = pc.dictionary_encode(chunks.flatten())
        where = self.learn(coded.dictionary)
        offsets = chunks.offsets.to_numpy()
        return gather(offsets - offsets[0], where[coded.indices.to_numpy()], self.ids, self.lengths)

    def learn(self, distinct: pa.Array) -> np.ndarray:
        """Where each of the `distinct` chunks is among the known ones, encoding new ones."""
        where = pc.index_in(distinct, value_set=self.chunks).fill_null(-1).to_numpy().copy()
        new = np.flatnonzero(where < 0)
        if len(new):
            chunks = distinct.take(pa.array(new))
            ids, lengths = self.encode_distinct(chunks.to_pylist())
            where[new] = len(self.chunks) + np.arange(len(new))
            self.chunks = pa.concat_arrays([self.chunks, chunks.cast(pa.string())])
            self.ids = np.concatenate([self.ids, ids])
            self.lengths = np.concatenate([self.lengths, lengths])
        return where

    def encode_distinct(self, chunks: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The ids of all `chunks`, flat, and how many belong to each: chunks are joined by
        SEPARATOR, an added token, into a few long texts, and split again at its id."""
        encodings = self.separating.encode_batch_fast(_joined(chunks), add_special_tokens=False)
        ids = np.fromiter((i for e in encodings for i in e.ids), dtype=np.int32)
        is_separator = ids == self.separator
        lengths = np.diff(np.flatnonzero(is_separator), prepend=-1) - 1
        return ids[~is_separator], lengths


def gather(
    text_offsets: np.ndarray, chunk_index: np.ndarray, ids: np.ndarray, lengths: np.ndarray
) -> pa.ListArray:
    """Texts' ids from their chunks: text t is chunks `chunk_index[text_offsets[t]:...[t+1]]`,
    chunk c has ids `ids[starts[c] : starts[c] + lengths[c]]`."""
    starts = np.cumsum(lengths) - lengths
    count = lengths[chunk_index]  # ids per chunk occurrence
    ends = np.cumsum(count)
    position = np.repeat(starts[chunk_index] - (ends - count), count) + np.arange(ends[-1:].sum())
    token_offsets = np.concatenate([np.zeros(1, np.int64), ends])[text_offsets]
    return pa.ListArray.from_arrays(
        pa.array(token_offsets, pa.int32()), pa.array(ids[position], pa.int32())
    )


def text_encoder(tokenizer: Tokenizer) -> Callable[[pa.Array], pa.ListArray]:
    """A function from texts to their token ids: a `ChunkEncoder` for tokenizers with this
    module's rules (the trained kinds, also when restored from a checkpoint), else text by text
    (pretrained tokenizers)."""
    if chunk_safe(tokenizer):
        return ChunkEncoder(tokenizer)
    return lambda texts: pa.array(encode_batch(tokenizer, texts.to_pylist()), pa.list_(pa.int32()))
