"""Word vectors for IMDB, trained offline with gensim's word2vec, for `init.vectors`.

    python scripts/train_word2vec.py                      # data/vectors/imdb_word2vec_100d.txt
    python scripts/train_word2vec.py --dim 300 --binary   # data/vectors/imdb_word2vec_300d.bin
    python scripts/train_word2vec.py --splits train       # labelled only: ..._100d_train.txt

It reads IMDB's train and unsupervised reviews (75,000; never test, whose reviews must stay
unseen; `--splits train` keeps to the 25,000 labelled ones, for recipes that use no extra data)
from `--data` (the layouts `data.path` accepts) and splits them with the datamodule's `word`
tokenizer rules, so the vectors' words are exactly the vocabulary's tokens. The train split
includes the reviews the datamodule holds out for validation: their text, never their labels,
shapes the vectors. Needs gensim: pip install -e '.[vectors]'.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from lstmlab.data import chunks
from lstmlab.data.sources import UNSUPERVISED, find_source

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("train", UNSUPERVISED)  # never "test": its reviews stay unseen


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "imdb", help="IMDB data")
    parser.add_argument("--dim", type=int, default=100, help="vector width (embed_dim)")
    parser.add_argument("--window", type=int, default=5, help="context words on each side")
    parser.add_argument("--epochs", type=int, default=5, help="passes over the reviews")
    parser.add_argument("--min-count", type=int, default=5, help="ignore rarer words")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="training threads")
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed")
    parser.add_argument(
        "--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="reviews to read"
    )
    parser.add_argument("--binary", action="store_true", help="word2vec binary (.bin), not text")
    parser.add_argument("--output", type=Path, help="default: data/vectors/imdb_word2vec_<dim>d")
    return parser.parse_args()


def word_lists(texts: pa.Array) -> list[list[str]]:
    """Each text as the datamodule's `word` tokenizer splits it, every word kept (no <unk>)."""
    pieces = chunks.split_chunks(texts)
    encoder = chunks.word_vocabulary(pieces, min_freq=1, max_size=None)
    vocab = encoder.tokenizer.get_vocab()
    words = np.empty(len(vocab), dtype=object)
    words[list(vocab.values())] = list(vocab)
    ids = encoder(texts)
    flat, offsets = words[ids.values.to_numpy()], ids.offsets.to_numpy()
    return [flat[start:end].tolist() for start, end in itertools.pairwise(offsets)]


def main() -> None:
    args = parse_args()
    try:
        from gensim.models import Word2Vec
    except ImportError:
        raise SystemExit("This script needs gensim: pip install -e '.[vectors]'") from None
    suffix = "bin" if args.binary else "txt"
    only = "" if set(args.splits) == set(SPLITS) else "_" + "_".join(args.splits)
    output = args.output or ROOT / "data" / "vectors" / f"imdb_word2vec_{args.dim}d{only}.{suffix}"

    start = time.perf_counter()
    splits = find_source(args.data, args.data, None).load(args.splits)
    texts = pa.concat_arrays([splits[s].data.column("text").combine_chunks() for s in args.splits])
    sentences = word_lists(texts)
    read_s = time.perf_counter() - start
    tokens = sum(map(len, sentences))
    print(f"read and tokenised {len(texts):,} reviews ({tokens:,} tokens) in {read_s:.1f} s")

    model = Word2Vec(
        sentences,
        vector_size=args.dim,
        window=args.window,
        epochs=args.epochs,
        min_count=args.min_count,
        workers=args.workers,
        seed=args.seed,
    )
    train_s = time.perf_counter() - start - read_s
    output.parent.mkdir(parents=True, exist_ok=True)
    model.wv.save_word2vec_format(str(output), binary=args.binary)
    print(
        f"trained {args.dim}-dimensional vectors for {len(model.wv):,} words in {train_s:.1f} s "
        f"({args.epochs} epochs, {args.workers} workers); total {time.perf_counter() - start:.1f}"
        f" s; wrote {output}"
    )


if __name__ == "__main__":
    main()
