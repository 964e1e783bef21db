"""Checks of the text datamodules' settings: a clear error before any data is read."""

from __future__ import annotations

from lstmlab.data import tokenization


def check_options(
    tokenizer: str,
    pretrained: str | None,
    min_freq: int,
    max_size: int | None,
    max_len: int | None,
    val_size: float,
    batch_size: int,
    num_workers: int,
) -> None:
    """Clear errors for settings that cannot work, before any data is read."""
    if tokenizer not in tokenization.KINDS:
        raise ValueError(
            f"data.tokenizer={tokenizer!r}: expected one of {', '.join(tokenization.KINDS)}"
        )
    if (tokenizer == "pretrained") != (pretrained is not None):
        raise ValueError(
            f"data.tokenizer={tokenizer} with data.pretrained={pretrained!r}: a pretrained "
            "tokenizer needs data.pretrained=<Hub name or path>, and data.pretrained needs "
            "data.tokenizer=pretrained"
        )
    if max_len is not None and max_len <= 0:
        raise ValueError(
            f"data.max_len={max_len}: expected a positive number of tokens, or null to keep "
            "whole texts"
        )
    if max_size is not None and max_size <= len(tokenization.SPECIALS):
        raise ValueError(
            f"data.max_size={max_size}: expected more than {len(tokenization.SPECIALS)} "
            "(<pad> and <unk> count), or null for no cap"
        )
    if max_size is None and tokenizer in ("wordpiece", "bpe"):
        raise ValueError(
            f"data.tokenizer={tokenizer} needs a vocabulary size: set data.max_size (e.g. 16000)"
        )
    if val_size <= 0:
        raise ValueError(
            f"data.val_size={val_size}: expected a number of texts, or a fraction below 1"
        )
    for name, value in [("min_freq", min_freq), ("batch_size", batch_size)]:
        if value < 1:
            raise ValueError(f"data.{name}={value}: expected a positive integer")
    if num_workers < 0:
        raise ValueError(f"data.num_workers={num_workers}: expected 0 or more worker processes")
