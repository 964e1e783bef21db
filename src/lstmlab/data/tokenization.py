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
at prediction time: `lstmlab.runs.checkpoints.load_text_encoder` needs nothing else. The
trained kinds are encoded fast (and exactly) chunk by chunk: `chunks.py`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import (
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
# space inside, so `chunks.split_chunks` removes just BREAKS before it splits at whitespace.
BREAKS = r"<br ?/?>"
TAGS = BREAKS + r"|</?(?:i|b|em|strong|u|p|hr)>"
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
        return self.batch_of_ids(encode_batch(self.tokenizer, texts))

    def batch_of_ids(self, ids: list[list[int]]) -> dict[str, Tensor]:
        """`batch` of texts already encoded (e.g. to keep their tokens): cut to `max_len`."""
        items = [(torch.tensor(i[: self.max_len], dtype=torch.long), torch.tensor(0)) for i in ids]
        return PadCollator(self.pad_id)(items)
