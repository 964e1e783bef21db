"""The encoder is an exact (Bi)LSTM, and files written before it was a module of its own (a
classifier checkpoint, an encoder.pt, a language model's state) still load and give the same
outputs (tests/fixtures/README.md says how those files were made)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import ragged_batch, text_classifier
from torch import nn

from lstmlab.models.encoders.recurrent import RecurrentEncoder
from lstmlab.models.language_model import LanguageModel
from lstmlab.models.legacy import target, upgrade_language_model
from lstmlab.models.pretrained import encoder_state, load_encoder
from lstmlab.runs.checkpoints import load_model, read_checkpoint

VOCAB, PAD = 50, 0
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXPECTED = json.loads((FIXTURES / "expected_89da58f.json").read_text())
BATCH = torch.tensor(EXPECTED["tokens"]), torch.tensor(EXPECTED["lengths"])
FLAT = json.loads((FIXTURES / "expected_9c16242.json").read_text())  # flat `model.*` spelling


def make_encoder(**kwargs) -> RecurrentEncoder:
    torch.manual_seed(0)
    return RecurrentEncoder(VOCAB, PAD, **{"embed_dim": 8, "hidden_size": 6, **kwargs}).eval()


def expected(key: str) -> torch.Tensor:
    return torch.tensor(EXPECTED[key])


def copy_weights(encoder: RecurrentEncoder, reference: nn.LSTM) -> None:
    """The encoder's per-direction weights into one multi-layer nn.LSTM, under its names."""
    for layer, directions in enumerate(encoder.rnn):
        for direction, lstm in enumerate(directions):
            suffix = f"l{layer}" + ("_reverse" if direction else "")
            for name, value in lstm.named_parameters():
                getattr(reference, name.replace("l0", suffix)).data.copy_(value)


@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_encoder_is_exactly_torchs_lstm_with_the_same_weights(bidirectional, padded):
    """Two layers, per-direction modules with in-length reversal == nn.LSTM, on a batch
    compared with each sequence run alone through nn.LSTM. A padded batch reverses by
    gathering, an unpadded one by flipping: both must be exact."""
    encoder = make_encoder(bidirectional=bidirectional, num_layers=2)
    reference = nn.LSTM(8, 6, num_layers=2, bidirectional=bidirectional, batch_first=True)
    copy_weights(encoder, reference)
    tokens, lengths = ragged_batch()
    if not padded:  # every row as long as the batch
        tokens, lengths = tokens[:, :3], torch.full_like(lengths, 3)
        tokens[2, 1:] = torch.tensor([11, 12])
    with torch.no_grad():
        ours = encoder(tokens, lengths)[0]
        for row, n in enumerate(lengths.tolist()):
            alone = reference(encoder.embedding(tokens[row : row + 1, :n]))[0][0]  # [n, D]
            torch.testing.assert_close(ours[row, :n], alone, rtol=1e-5, atol=1e-6)


def test_forget_bias_sets_only_the_forget_gate_of_every_lstm():
    hidden = 8
    net = make_encoder(hidden_size=hidden, num_layers=2, forget_bias=1.0)
    plain = make_encoder(hidden_size=hidden, num_layers=2)
    forget = slice(hidden, 2 * hidden)  # gates are stored input, forget, cell, output
    for directions, plain_directions in zip(net.rnn, plain.rnn):
        for lstm, other in zip(directions, plain_directions):
            total = lstm.bias_ih_l0 + lstm.bias_hh_l0  # nn.LSTM adds its two biases
            assert torch.equal(total[forget], torch.ones(hidden))
            others = torch.ones(4 * hidden, dtype=torch.bool)
            others[forget] = False
            plain_total = other.bias_ih_l0 + other.bias_hh_l0
            assert torch.equal(total[others], plain_total[others])
            assert not torch.equal(plain_total[forget], torch.ones(hidden))


def test_a_classifier_checkpoint_written_before_the_encoder_gives_the_same_logits():
    model = load_model(read_checkpoint(FIXTURES / "classifier_89da58f.ckpt"))
    with torch.no_grad():
        logits, attention = model(*BATCH)
    torch.testing.assert_close(logits, expected("classifier_logits"), rtol=0, atol=1e-6)
    torch.testing.assert_close(attention, expected("classifier_attention"), rtol=0, atol=1e-6)


def test_an_encoder_file_written_before_the_encoder_loads_with_the_same_outputs():
    network = EXPECTED["network"]
    net = text_classifier(EXPECTED["vocab_size"], 2, pooling="max", **network).eval()
    load_encoder(net.encoder, FIXTURES / "encoder_89da58f.pt", None, EXPECTED["tokenizer"])
    with torch.no_grad():
        outputs, _, finals = net.encoder(*BATCH)
    torch.testing.assert_close(outputs, expected("encoder_outputs"), rtol=0, atol=1e-6)
    old_finals = torch.cat(list(expected("encoder_finals")), dim=-1)  # [dirs, B, H] then
    torch.testing.assert_close(finals, old_finals, rtol=0, atol=1e-6)


def test_a_flat_spelling_train_py_checkpoint_gives_the_same_logits_and_attention():
    """The best checkpoint of a `python train.py model=bilstm_attn` run at 9c16242, the last
    commit with one flat `model` node: it loads into today's classifier and predicts the same."""
    model = load_model(read_checkpoint(FIXTURES / "classifier_9c16242.ckpt"))
    with torch.no_grad():
        logits, attention = model(torch.tensor(FLAT["tokens"]), torch.tensor(FLAT["lengths"]))
    torch.testing.assert_close(logits, torch.tensor(FLAT["classifier_logits"]), rtol=0, atol=1e-6)
    assert attention is not None
    torch.testing.assert_close(
        attention, torch.tensor(FLAT["classifier_attention"]), rtol=0, atol=1e-6
    )


def test_a_flat_spelling_encoder_file_loads_with_the_same_outputs():
    net = text_classifier(12, 2, pooling="max", **FLAT["encoder"]).eval()
    load_encoder(net.encoder, FIXTURES / "encoder_9c16242.pt", None, FLAT["tokenizer"])
    with torch.no_grad():
        outputs = net.encoder(torch.tensor(FLAT["tokens"]), torch.tensor(FLAT["lengths"]))[0]
    torch.testing.assert_close(outputs, torch.tensor(FLAT["encoder_outputs"]), rtol=0, atol=1e-6)


def test_a_new_encoder_file_loads_with_the_same_outputs(tmp_path):
    config = {"_target_": target(RecurrentEncoder), "_partial_": True, **EXPECTED["network"]}
    encoder = RecurrentEncoder(EXPECTED["vocab_size"], **EXPECTED["network"]).eval()
    torch.save(encoder_state(encoder, config, "t"), tmp_path / "encoder.pt")
    torch.manual_seed(1)
    other = RecurrentEncoder(EXPECTED["vocab_size"], **EXPECTED["network"]).eval()
    load_encoder(other, tmp_path / "encoder.pt", config, "t")
    with torch.no_grad():
        torch.testing.assert_close(other(*BATCH).outputs, encoder(*BATCH).outputs)


def test_a_language_model_written_before_the_encoder_gives_the_same_loss():
    saved = torch.load(FIXTURES / "language_model_89da58f.pt", weights_only=True)
    lm = LanguageModel(**upgrade_language_model(saved["hyper_parameters"]))
    lm.load_state_dict(saved["state_dict"])  # strict: the old classifier's head is dropped
    with torch.no_grad():
        loss = lm.eval().loss({"tokens": BATCH[0], "lengths": BATCH[1]})
    assert loss.item() == pytest.approx(EXPECTED["language_model_loss"], abs=1e-6)


def test_a_new_classifier_draws_the_same_initial_weights_as_before():
    """Other weights move the logits by tenths; float32 sums taken in another order (another
    thread count, another CPU) move them by ~1e-8, so the default tolerance tells the two apart."""
    torch.manual_seed(0)
    fresh = text_classifier(EXPECTED["vocab_size"], 2, pooling="attn", **EXPECTED["network"])
    with torch.no_grad():
        logits, _ = fresh.eval()(*BATCH)
    torch.testing.assert_close(logits, expected("fresh_classifier_logits"))


def test_the_push_is_added_to_the_token_embeddings():
    encoder = make_encoder()
    tokens, lengths = ragged_batch()
    push = torch.randn(*tokens.shape, 8)
    with torch.no_grad():
        pushed = encoder(tokens, lengths, push)
        expected_outputs = encoder.encode(encoder.embedding(tokens) + push, lengths)
    for ours, theirs in zip(pushed, expected_outputs):
        torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("init_state", ["learned", "random"])
def test_initial_states_go_to_each_layer_and_direction_in_torchs_order(init_state):
    """(h0, c0) [layers * dirs, B, H] reach the LSTMs as nn.LSTM would take them: learned
    states the same for every row, random ones standard normal noise drawn for this batch."""
    encoder = make_encoder(bidirectional=True, num_layers=3, init_state=init_state)
    reference = nn.LSTM(8, 6, num_layers=3, bidirectional=True, batch_first=True)
    copy_weights(encoder, reference)
    tokens = torch.randint(1, VOCAB, (3, 5))  # unpadded: nn.LSTM reads it as we do
    shape = (6, 3, 6)
    if init_state == "learned":
        with torch.no_grad():
            encoder.h0.copy_(torch.randn(6, 1, 6))
            encoder.c0.copy_(torch.randn(6, 1, 6))
        state = (encoder.h0.expand(shape), encoder.c0.expand(shape))
    torch.manual_seed(7)
    with torch.no_grad():
        ours, _, finals = encoder(tokens, torch.full((3,), 5))
        if init_state == "random":
            torch.manual_seed(7)
            state = (torch.randn(shape), torch.randn(shape))
        theirs, (h_n, _) = reference(encoder.embedding(tokens), state)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(finals, torch.cat(list(h_n[4:]), dim=-1))  # the top layer's


def test_a_double_precision_encoder_draws_its_random_states_in_double():
    encoder = make_encoder(init_state="random").double()
    tokens, lengths = ragged_batch()
    assert encoder(tokens, lengths)[0].dtype == torch.float64


def test_a_default_encoder_is_a_one_layer_bilstm_of_width_128_without_dropout():
    torch.manual_seed(0)
    encoder = RecurrentEncoder(VOCAB)  # in training mode, where dropout would act
    tokens, lengths = ragged_batch()
    outputs, _, finals = encoder(tokens, lengths)
    assert outputs.shape == (4, 7, 2 * 128) and finals.shape == (4, 2 * 128)
    assert len(encoder.rnn) == 1 and encoder.embedding.weight.shape == (VOCAB, 128)
    assert torch.all(encoder.embedding.weight[0] == 0)  # pad id 0
    torch.testing.assert_close(encoder.eval()(tokens, lengths)[0], outputs)
