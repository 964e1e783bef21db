"""Pretrained word vectors land on their words' rows, in every format, and only when asked."""

from __future__ import annotations

import struct

import lightning
import numpy as np
import pytest
import torch
from conftest import (
    MOODS,
    TINY_RUN,
    classifier_module,
    compose_config,
    mood_vectors,
    record_loaded_vectors,
    review_overrides,
    write_reviews,
    write_vectors,
)
from torch import nn

from lstmlab.models.lit_module import ClassifierModule
from lstmlab.models.vectors import load_into
from lstmlab.runs.train import train

VOCAB = {"<pad>": 0, "<unk>": 1, "good": 2, "bad": 3, "film": 4, "plot": 5}
VECTORS = {  # "plot" is missing; "<pad>" must not be copied; "other" is not in VOCAB
    "<pad>": [9.0, 9.0, 9.0],
    "good": [0.5, 1.0, -1.5],
    "bad": [-0.25, 2.0, 3.0],
    "film": [1.0, 0.0, 0.125],
    "other": [7.0, 7.0, 7.0],
}


def write_binary(path, vectors: dict[str, list[float]], newline: bool) -> None:
    """word2vec binary as gensim writes it (`newline=False`) or the original C tool (True)."""
    dim = len(next(iter(vectors.values())))
    body = b"".join(
        word.encode() + b" " + struct.pack(f"<{dim}f", *values) + (b"\n" if newline else b"")
        for word, values in vectors.items()
    )
    path.write_bytes(f"{len(vectors)} {dim}\n".encode() + body)


def write(tmp_path, fmt: str):
    if fmt == "word2vec.txt":
        return write_vectors(tmp_path / "v.txt", VECTORS)
    if fmt == "glove.txt":
        return write_vectors(tmp_path / "v.txt", VECTORS, header=False)
    path = tmp_path / "v.bin"
    write_binary(path, VECTORS, newline=fmt == "c.bin")
    return path


def embedding(dim: int = 3) -> nn.Embedding:
    torch.manual_seed(0)
    return nn.Embedding(len(VOCAB), dim, padding_idx=0)


@pytest.mark.parametrize("fmt", ["word2vec.txt", "glove.txt", "gensim.bin", "c.bin"])
def test_each_word_gets_exactly_its_vector_at_its_id(tmp_path, fmt):
    layer = embedding()
    before = layer.weight.detach().clone()
    coverage = load_into(layer, VOCAB, str(write(tmp_path, fmt)), pad_id=0)
    for word in ("good", "bad", "film"):
        assert torch.equal(layer.weight[VOCAB[word]], torch.tensor(VECTORS[word]))
    assert torch.equal(layer.weight[0], torch.zeros(3))  # padding stays zero
    for word in ("<unk>", "plot"):  # not in the file: their random init stays
        assert torch.equal(layer.weight[VOCAB[word]], before[VOCAB[word]])
    assert (coverage.found, coverage.words) == (3, 5)  # all ids but padding
    assert str(coverage).startswith("vectors: 3 of 5 vocabulary words (60.0 %) found in")


def test_gensims_own_files_load_like_the_text_it_was_given(tmp_path):
    gensim = pytest.importorskip("gensim")
    keyed = gensim.models.KeyedVectors(3)
    keyed.add_vectors(list(VECTORS), np.array(list(VECTORS.values())))
    for binary in (False, True):
        path = tmp_path / ("v.bin" if binary else "v.txt")
        keyed.save_word2vec_format(str(path), binary=binary)
        layer = embedding()
        load_into(layer, VOCAB, str(path), pad_id=0)
        assert torch.equal(layer.weight[VOCAB["bad"]], torch.tensor(VECTORS["bad"]))


def test_a_width_other_than_embed_dim_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"3-dimensional.*model.embed_dim=4.*model.embed_dim=3"):
        load_into(embedding(dim=4), VOCAB, str(write(tmp_path, "word2vec.txt")), pad_id=0)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("none.txt", None, "no such file"),
        ("empty.txt", b"", "is empty"),
        ("binary.txt", b"2 3\n\xff\xfe\x00", "not UTF-8 text.*named \\*.bin"),
        ("short.txt", b"2 3\ngood 1 2\n", "line 2: 2 values where every vector has 3"),
        ("text.bin", b"good 1 2 3\n", "must start with a '<count> <dim>' line"),
        ("cut.bin", b"2 3\ngood \x00\x00", "ends before its 2 words"),
        ("other.txt", b"1 3\nword 1 2 3\n", "None of the 5 vocabulary words"),
    ],
)
def test_bad_files_are_refused_with_what_was_wrong(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_into(embedding(), VOCAB, str(path), pad_id=0)


def module(**embedding) -> ClassifierModule:
    return classifier_module(len(VOCAB), 2, embed_dim=3, hidden_size=4, embedding=embedding)


@pytest.mark.parametrize("freeze", [True, False])
def test_a_frozen_embedding_stays_as_loaded_and_an_unfrozen_one_learns(tmp_path, freeze):
    model = module(vectors=str(write(tmp_path, "word2vec.txt")), freeze=freeze)
    model.load_vectors(VOCAB)
    loaded = model.net.encoder.embedding.weight.detach().clone()
    optimizer = model.configure_optimizers()
    tokens, lengths = torch.tensor([[2, 3, 4, 5]]), torch.tensor([4])
    model.loss(model(tokens, lengths)[0], torch.tensor([1])).backward()
    optimizer.step()
    assert torch.equal(model.net.encoder.embedding.weight, loaded) == freeze
    assert any(p.requires_grad for group in optimizer.param_groups for p in group["params"])


def test_without_vectors_nothing_is_read_and_freezing_is_refused():
    assert module().load_vectors(VOCAB) is None
    with pytest.raises(ValueError, match=r"init\.vectors is null"):
        module(freeze=True)
    with pytest.raises(ValueError, match=r"unknown keys \['path'\]"):
        module(path="v.txt")


def test_a_checkpoint_loads_without_the_vectors_file(tmp_path):
    path = write(tmp_path, "word2vec.txt")
    model = module(vectors=str(path))
    model.load_vectors(VOCAB)
    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    torch.save(checkpoint, tmp_path / "model.ckpt")
    path.unlink()
    restored = ClassifierModule.load_from_checkpoint(tmp_path / "model.ckpt", weights_only=True)
    assert torch.equal(restored.net.encoder.embedding.weight, model.net.encoder.embedding.weight)


def test_train_starts_a_new_run_from_the_vectors(tmp_path, monkeypatch):
    data = write_reviews(tmp_path / "reviews", {"train": 80, "test": 20})
    vectors = mood_vectors(tmp_path / "moods.txt", dim=16)
    loaded = record_loaded_vectors(monkeypatch)
    overrides = [
        *review_overrides(data, tmp_path / "cache"),
        *TINY_RUN,
        "trainer=fast_dev_run",
        f"init.vectors={vectors}",
    ]
    train(compose_config(overrides, tmp_path / "run"))
    words = len(MOODS[0]) + len(MOODS[1])
    assert [(c.found, c.path) for c in loaded] == [(words, str(vectors))]


def test_vectors_need_a_datamodule_with_words(tmp_path, tiny_cfg):
    cfg = tiny_cfg(f"init.vectors={mood_vectors(tmp_path / 'v.txt', dim=16)}")
    with pytest.raises(ValueError, match=r"needs a vocabulary of words.*data=imdb"):
        train(cfg)
