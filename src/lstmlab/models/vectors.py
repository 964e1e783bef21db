"""Pretrained word vectors (word2vec, GloVe, fastText) copied into the embedding, row by row.

Formats, told apart by the file name:

    *.bin      word2vec binary: a "<count> <dim>" line, then per word its UTF-8 bytes, a space
               and <dim> little-endian float32s (an optional newline before the next word)
    otherwise  text, one "<word> <v1> ... <v_dim>" line per word, after a "<count> <dim>"
               header line (word2vec text, fastText .vec) or without one (GloVe)

Only the vocabulary's words are parsed, so a large file costs one pass and little memory. The
first occurrence of a word wins. Rows of words the file lacks keep their random init and the
padding row stays zero.
"""

from __future__ import annotations

import itertools
import mmap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

Vectors = dict[str, np.ndarray]  # word -> float32 [dim]


@dataclass(frozen=True)
class Coverage:
    """How many of the vocabulary's words (all ids but padding) the file had a vector for."""

    found: int
    words: int
    path: str

    @property
    def fraction(self) -> float:
        return self.found / max(self.words, 1)

    def __str__(self) -> str:
        return (
            f"vectors: {self.found:,} of {self.words:,} vocabulary words "
            f"({100 * self.fraction:.1f} %) found in {self.path}"
        )


def load_into(embedding: nn.Embedding, vocab: dict[str, int], path: str, pad_id: int) -> Coverage:
    """Copies the vectors of `vocab`'s words (token -> id) from `path` into their rows of
    `embedding`; raises if the widths differ or no word is found (a wrong file)."""
    words = {token: i for token, i in vocab.items() if i != pad_id}
    dim, vectors = read_vectors(Path(path), set(words))
    if dim != embedding.embedding_dim:
        raise ValueError(
            f"init.vectors={path} holds {dim}-dimensional vectors, but "
            f"model.encoder.embed_dim={embedding.embedding_dim}. Set "
            f"model.encoder.embed_dim={dim}: the embedding must be as wide as the vectors it "
            "starts from."
        )
    if not vectors:
        raise ValueError(
            f"None of the {len(words):,} vocabulary words is in init.vectors={path}: "
            "the file is for other text, or other tokens (the `word` tokenizer gives lower-cased "
            "words; subword vocabularies rarely match word vectors)."
        )
    ids = torch.tensor([words[word] for word in vectors])
    rows = torch.from_numpy(np.stack(list(vectors.values())))
    with torch.no_grad():
        embedding.weight[ids] = rows.to(embedding.weight)
    return Coverage(len(vectors), len(words), path)


def read_vectors(path: Path, wanted: set[str]) -> tuple[int, Vectors]:
    """The file's vector width and the vectors of the `wanted` words it holds."""
    if not path.is_file():
        raise FileNotFoundError(
            f"init.vectors={path}: no such file. Give a word2vec (.txt or .bin), "
            "GloVe or fastText (.vec) file, or train IMDB vectors with "
            "scripts/train_word2vec.py."
        )
    if path.stat().st_size == 0:
        raise ValueError(f"init.vectors={path} is empty: expected word vectors.")
    if path.suffix == ".bin":
        return _read_binary(path, wanted)
    try:
        return _read_text(path, wanted)
    except UnicodeDecodeError:
        raise ValueError(
            f"init.vectors={path} is not UTF-8 text: a word2vec binary file must be named *.bin."
        ) from None


def _read_text(path: Path, wanted: set[str]) -> tuple[int, Vectors]:
    vectors: Vectors = {}
    with path.open(encoding="utf-8") as file:
        first = file.readline()
        fields = first.split()
        header = len(fields) == 2 and all(field.isdigit() for field in fields)
        dim = int(fields[1]) if header else len(fields) - 1
        if dim < 1:
            raise ValueError(
                f"init.vectors={path}: expected a vectors file (a '<count> <dim>' "
                f"header or '<word> <v1> ... <v_dim>' lines), but its first line is {first!r}."
            )
        lines = file if header else itertools.chain([first], file)
        for number, line in enumerate(lines, start=2 if header else 1):
            if line.partition(" ")[0] not in wanted:  # the fast path: most lines
                continue
            word, *values = line.rstrip().rsplit(" ", dim)  # GloVe has words with spaces
            if word in wanted and word not in vectors:
                vectors[word] = _parse(values, dim, path, number)
    return dim, vectors


def _parse(values: list[str], dim: int, path: Path, line: int) -> np.ndarray:
    if len(values) != dim:
        raise ValueError(
            f"init.vectors={path}, line {line}: {len(values)} values where every "
            f"vector has {dim}: the file is cut short or not a vectors file."
        )
    return np.array(values, dtype=np.float32)


def _read_binary(path: Path, wanted: set[str]) -> tuple[int, Vectors]:
    vectors: Vectors = {}
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        end = data.find(b"\n")
        header = data[:end].split()
        if len(header) != 2 or not all(field.isdigit() for field in header):
            raise ValueError(
                f"init.vectors={path}: a .bin file must start with a '<count> <dim>' "
                f"line (word2vec binary), not {data[:end][:80]!r}."
            )
        count, dim = map(int, header)
        position = end + 1
        for _ in range(count):
            space = data.find(b" ", position)
            if space < 0 or space + 1 + 4 * dim > len(data):
                raise ValueError(f"init.vectors={path} ends before its {count} words.")
            word = data[position:space].lstrip(b"\n").decode("utf-8", errors="replace")
            position = space + 1 + 4 * dim
            if word in wanted and word not in vectors:
                vectors[word] = np.frombuffer(data, "<f4", dim, space + 1).copy()
    return dim, vectors
