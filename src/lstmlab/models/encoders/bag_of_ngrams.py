"""A bag of n-grams (fastText, Joulin et al., 2017, "Bag of Tricks for Efficient Text
Classification"): the embeddings of a text's words and of its hashed word bigrams.

The outputs hold one vector per n-gram, each text's words and then its bigrams (bigram t is
tokens t and t + 1, real when both are). `mean` pooling averages them, which is fastText's
text vector; padding never counts, neither as a word nor inside a bigram.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lstmlab.models.encoders.base import Encoded, Encoder, real_positions

HASH_MULTIPLIER = 1_000_003  # a prime: spreads (first, second) pairs over the buckets


class BagOfNgramsEncoder(Encoder):
    """Unigram embeddings (`embedding`) and hashed-bigram embeddings, one vector per n-gram.

    Args:
        vocab_size, pad_id, embed_dim, embed_dropout: the embedding's, see `base.Encoder`.
        buckets: rows of the bigram embedding; bigrams are hashed into them (collisions share).
    """

    def __init__(
        self,
        vocab_size: int,
        pad_id: int = 0,
        embed_dim: int = 128,
        embed_dropout: float = 0.0,
        buckets: int = 100_000,
    ) -> None:
        super().__init__(vocab_size, pad_id, embed_dim, embed_dropout)
        if buckets < 1:
            raise ValueError(f"model.encoder.buckets={buckets}: expected at least 1")
        self.buckets = buckets
        self.bigrams = nn.Embedding(buckets, embed_dim)

    def get_output_dim(self) -> int:
        return self.embedding.embedding_dim

    def embed(self, tokens: Tensor, push: Tensor | None = None) -> Tensor:
        """[B, T, 2E]: each token's embedding (plus `push`) beside that of the bigram it
        starts (the last position's pairs the token with a zero: masked in `encode`)."""
        ids = torch.cat([tokens[:, :-1] * HASH_MULTIPLIER + tokens[:, 1:], tokens[:, -1:]], 1)
        bigrams = self.bigrams(ids % self.buckets)  # [B, T, E]
        return torch.cat([super().embed(tokens, push), self.embed_dropout(bigrams)], dim=-1)

    def encode(self, embedded: Tensor, lengths: Tensor) -> Encoded:
        """Per row, its words then its bigrams as one run of real positions: position t holds
        word t for t < length, then bigram t - length up to 2 * length - 1 (so the real
        positions are a prefix, as every pooling expects); padding after them is zero."""
        steps = embedded.size(1)
        unigrams, bigrams = embedded.chunk(2, dim=-1)  # [B, T, E] each
        both = torch.cat([unigrams, bigrams], dim=1)  # [B, 2T, E]: words, then bigrams
        t = torch.arange(2 * steps, device=lengths.device).unsqueeze(0)  # [1, 2T]
        length = lengths.unsqueeze(1)  # [B, 1]
        source = torch.where(t < length, t, (t - length + steps).clamp(max=2 * steps - 1))
        outputs = both.gather(1, source.unsqueeze(-1).expand(-1, -1, both.size(-1)))
        mask = real_positions(2 * lengths - 1, 2 * steps)  # [B, 2T]
        return Encoded(outputs * mask.unsqueeze(-1), mask, None)
