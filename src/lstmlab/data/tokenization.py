"""Tokenizers for review text, all `tokenizers.Tokenizer`s (Rust, batched, serialisable).

    word       lower-cased words: letters with inner apostrophes ("don't", "rock'n'roll"),
               numbers, and each run of one punctuation mark ("!", "!!!", "...") as a token;
               HTML line breaks and formatting tags (`<br />`, `<i>`) become spaces
    wordpiece  subwords (WordPiece) over the same words
    bpe        subwords (BPE) over the same words
    pretrained any Hugging Face tokenizer, by Hub name or local file / folder

The trained kinds learn their vocabulary from the texts they are given (the datamodule passes
the training split only) and reserve <pad> = 0 and <unk> = 1. The cleaning rules live inside
the tokenizer (its normalizer), so the tokenizer saved with a checkpoint reproduces them exactly
at prediction time: `lstmlab.runs.checkpoints.load_text_encoder` needs nothing else.

Speed. `tokenizers` costs about a microsecond per token, and IMDB has 13 million; but reviews
repeat the same whitespace-separated chunks ("the", "movie.", "it's") over and over. For the
trained kinds, whose normalizer works character by character and whose pre-tokenizer never
joins across whitespace, encoding a text is the same as encoding each chunk and concatenating,
so `ChunkEncoder` encodes each distinct chunk of a batch once and gathers the ids with numpy,
and `word_vocabulary` counts words over distinct chunks. Both give exactly what the plain
`Tokenizer` gives (tests/test_imdb.py checks it on real reviews); pretrained tokenizers, which
may encode the spaces themselves, are run on whole texts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    trainers,
)
from torch import Tensor

from lstmlab.data.batching import PadCollator

KINDS = ("word", "wordpiece", "bpe", "pretrained")
PAD, UNK = "<pad>", "<unk>"
SPECIALS = [PAD, UNK]  # ids 0 and 1 in every trained vocabulary
# Markup in the reviews, not words: line breaks (<br />, <br/>, <br>) and formatting tags
# (<i>, </i>, <em>, <hr> ...), matched after lower-casing. A line break is the only one with a
# space inside, so `split_chunks` removes just BREAKS before it splits at whitespace.
BREAKS = r"<br ?/?>"
TAGS = BREAKS + r"|</?(?:i|b|em|strong|u|p|hr)>"
SEPARATOR = "\n"  # joins distinct chunks for one encode call; chunks never contain it
GROUP = 256  # distinct chunks per encoded text
# a word with inner apostrophes | a number | a run of one punctuation mark ("!!!", "...")
WORD = r"\p{L}+(?:'\p{L}+)*|\p{N}+|([^\s\p{L}\p{N}])\1*"
PAD_NAMES = (PAD, "[PAD]", "<|pad|>", "<|padding|>")  # how pretrained tokenizers name padding


def cleaner() -> normalizers.Normalizer:
    """Lower case, then markup to spaces and typographic apostrophes to ' (trained kinds)."""
    return normalizers.Sequence(
        [
            normalizers.Lowercase(),
            normalizers.Replace(Regex(TAGS), " "),
            normalizers.Replace(Regex("[‘’`]"), "'"),
        ]
    )


def word_splitter() -> pre_tokenizers.PreTokenizer:
    """Keeps the WORD matches, drops whitespace (a split that keeps only its matches)."""
    return pre_tokenizers.Split(Regex(WORD), behavior="removed", invert=True)


def untrained(kind: str, vocab: dict[str, int] | None = None) -> Tokenizer:
    """The rules of a trained kind, before it has seen any text (or with a `word` `vocab`)."""
    if kind == "word":
        tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    elif kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=UNK))
        tokenizer.decoder = decoders.WordPiece()
    elif kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=UNK, end_of_word_suffix="</w>"))
        tokenizer.decoder = decoders.BPEDecoder(suffix="</w>")
    else:
        raise ValueError(f"data.tokenizer={kind!r}: expected one of {', '.join(KINDS)}")
    tokenizer.normalizer = cleaner()
    tokenizer.pre_tokenizer = word_splitter()
    if vocab is not None:
        tokenizer.add_special_tokens(SPECIALS)  # as a trainer registers them
    tokenizer.encode_special_tokens = True  # "<pad>" typed in a review is text, not padding
    return tokenizer


def train_tokenizer(
    kind: str, batches: Iterable[Sequence[str]], min_freq: int, max_size: int | None
) -> Tokenizer:
    """A `kind` tokenizer trained on `batches` of texts: tokens seen at least `min_freq` times,
    at most `max_size` ids including <pad> and <unk> (None: no cap, `word` only). Ties in
    frequency are ordered alphabetically, so the same texts always give the same ids."""
    tokenizer = untrained(kind)
    options = {"min_frequency": min_freq, "special_tokens": SPECIALS, "show_progress": False}
    size = sys.maxsize if max_size is None else max_size
    if kind == "word":
        trainer = trainers.WordLevelTrainer(vocab_size=size, **options)
    elif kind == "wordpiece":
        trainer = trainers.WordPieceTrainer(vocab_size=size, **options)
    else:
        trainer = trainers.BpeTrainer(vocab_size=size, end_of_word_suffix="</w>", **options)
    tokenizer.train_from_iterator(batches, trainer)
    return tokenizer


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


def chunk_safe(tokenizer: Tokenizer) -> bool:
    """Whether encoding chunk by chunk is exact: this module's normalizer and pre-tokenizer,
    and a model that reads one pre-token at a time."""
    rules = untrained("word")
    return (
        _state(tokenizer.normalizer) == _state(rules.normalizer)
        and _state(tokenizer.pre_tokenizer) == _state(rules.pre_tokenizer)
        and type(tokenizer.model).__name__ in ("WordLevel", "WordPiece", "BPE")
    )


def _state(component: object) -> object:
    return component and json.loads(component.__getstate__())


def load_pretrained(name_or_path: str) -> Tokenizer:
    """A Hugging Face tokenizer from a `tokenizer.json` file, a folder holding one, or the Hub.

    Truncation and padding settings it came with are removed (`max_len` and the collator do
    that here); markup is turned into spaces before its own normalizer runs.
    """
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "tokenizer.json"
    try:
        if path.is_file():
            tokenizer = Tokenizer.from_file(str(path))
        else:
            tokenizer = Tokenizer.from_pretrained(name_or_path)
    except Exception as err:  # bad JSON, no network, unknown name: say which and how to fix
        raise ValueError(
            f"data.pretrained={name_or_path!r} could not be loaded ({type(err).__name__}: {err}). "
            "Give a Hub name (e.g. bert-base-uncased, needs the network once), a tokenizer.json "
            "file, or a folder holding one."
        ) from err
    tokenizer.no_truncation()
    tokenizer.no_padding()
    markup = normalizers.Replace(Regex(TAGS), " ")
    own = tokenizer.normalizer
    tokenizer.normalizer = normalizers.Sequence([markup, own]) if own else markup
    return tokenizer


def from_json(text: str) -> Tokenizer:
    """A tokenizer from `Tokenizer.to_str()` output, as it was: the JSON does not keep
    `encode_special_tokens`, which this module's tokenizers set (typed "<pad>" is text)."""
    tokenizer = Tokenizer.from_str(text)
    tokenizer.encode_special_tokens = chunk_safe(tokenizer)
    return tokenizer


def pad_id_of(tokenizer: Tokenizer) -> int:
    """The id of the tokenizer's padding token; one is added when it has none (e.g. GPT-2), so
    padding never shares an id with a real token."""
    for name in PAD_NAMES:
        if (token_id := tokenizer.token_to_id(name)) is not None:
            return token_id
    tokenizer.add_special_tokens([PAD])
    return tokenizer.token_to_id(PAD)


def encode_batch(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of `texts`, in parallel; no [CLS]/[SEP]-style markers (an LSTM reads the ids)."""
    return [e.ids for e in tokenizer.encode_batch_fast(texts, add_special_tokens=False)]


@dataclass
class TextEncoder:
    """Turns raw reviews into model batches exactly as training did, from a checkpoint alone.

    >>> encoder = load_text_encoder("logs/runs/<run>/checkpoints/last.ckpt")  # runs.checkpoints
    >>> batch = encoder.batch(["A wonderful film.", "Dull.<br />Avoid."])
    >>> logits, _ = model(batch["tokens"], batch["lengths"])
    """

    tokenizer: Tokenizer
    pad_id: int = 0
    max_len: int | None = None

    @classmethod
    def from_state(cls, state: dict) -> TextEncoder:
        """From `IMDBDataModule.state_dict()`."""
        return cls(from_json(state["tokenizer"]), state["pad_id"], state.get("max_len"))

    def encode(self, texts: list[str]) -> list[Tensor]:
        """One LongTensor of ids per text, cut to `max_len` as in training."""
        ids = encode_batch(self.tokenizer, texts)
        return [torch.tensor(i[: self.max_len], dtype=torch.long) for i in ids]

    def batch(self, texts: list[str]) -> dict[str, Tensor]:
        """`{"tokens", "lengths", "labels"}` as the model reads it (labels are dummies)."""
        items = [(ids, torch.tensor(0)) for ids in self.encode(texts)]
        return PadCollator(self.pad_id)(items)
