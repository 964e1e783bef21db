"""The network reads real tokens only, for every pooling, direction and initial state."""

from __future__ import annotations

import itertools

import pytest
import torch
from conftest import ENCODERS, POOLINGS, encoder_part, ragged_batch, text_classifier
from torch import nn

from lstmlab.models.encoders import recurrent
from lstmlab.models.encoders.recurrent import CELLS, INIT_STATES
from lstmlab.models.network import HEADS, TextClassifier

VOCAB, CLASSES, PAD = 50, 3, 0
LSTM_PARAMETERS = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]  # as nn.LSTM's


def make_net(**kwargs) -> TextClassifier:
    torch.manual_seed(0)
    args = {"embed_dim": 8, "hidden_size": 6, **kwargs}
    return text_classifier(VOCAB, CLASSES, PAD, **args).eval()


def with_extra_padding(tokens: torch.Tensor, extra: int) -> torch.Tensor:
    return torch.cat([tokens, torch.full((tokens.size(0), extra), PAD)], dim=1)


def logits_of(net: TextClassifier, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(123)  # init_state=random draws noise: the same noise for both calls
    with torch.no_grad():
        return net(tokens, lengths)[0]


VARIANTS = list(itertools.product(POOLINGS, [False, True], INIT_STATES, [0.0, 0.5]))


def make_net_for(weight_dropout: float, **kwargs) -> TextClassifier:
    """With weight dropout: in training mode, where it acts (the seeded calls of `logits_of`
    drop the same weights, whatever the padding: the mask's shape is the weight's)."""
    net = make_net(weight_dropout=weight_dropout, **kwargs)
    return net.train() if weight_dropout else net


@pytest.mark.parametrize(("pooling", "bidirectional", "init_state", "weight_dropout"), VARIANTS)
def test_logits_do_not_change_when_padding_is_appended(
    pooling, bidirectional, init_state, weight_dropout
):
    net = make_net_for(
        weight_dropout, pooling=pooling, bidirectional=bidirectional, init_state=init_state
    )
    assert_padding_invariant(net)


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("encoder", ENCODERS)
def test_every_encoder_with_every_pooling_ignores_padding(encoder, pooling):
    """Every option of conf/model/encoder/ with every one of conf/model/pooling/ (a new file in
    either is tested here): appended padding changes no logit, and no padding position gets a
    gradient."""
    torch.manual_seed(0)
    part = encoder_part(encoder, embed_dim=8)
    try:
        net = text_classifier(VOCAB, CLASSES, PAD, pooling=pooling, encoder=part).eval()
    except ValueError as refused:  # hn on an encoder without a final state: refused, tested
        pytest.skip(str(refused))
    assert_padding_invariant(net)
    tokens, lengths = ragged_batch()
    push = torch.zeros(*tokens.shape, 8, requires_grad=True)
    net(with_extra_padding(tokens, 3), lengths, torch.cat([push, torch.zeros(4, 3, 8)], 1))[
        0
    ].sum().backward()
    real = torch.arange(tokens.size(1)) < lengths[:, None]
    assert torch.all(push.grad[~real] == 0)


def assert_padding_invariant(net: TextClassifier) -> None:
    """The ragged batch's logits equal those of the same batch with 9 more padding steps."""
    tokens, lengths = ragged_batch()
    before = logits_of(net, tokens, lengths)
    after = logits_of(net, with_extra_padding(tokens, 9), lengths)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("pooling", "weight_dropout"), itertools.product(POOLINGS, [0.0, 0.5]))
def test_two_layer_network_is_padding_invariant_too(pooling, weight_dropout):
    # between-layer dropout draws a mask per position, so it stays off in training mode
    layer_dropout = 0.0 if weight_dropout else 0.3
    net = make_net_for(
        weight_dropout,
        pooling=pooling,
        bidirectional=True,
        num_layers=2,
        layer_dropout=layer_dropout,
    )
    tokens, lengths = ragged_batch()
    torch.testing.assert_close(
        logits_of(net, with_extra_padding(tokens, 4), lengths), logits_of(net, tokens, lengths)
    )


def test_the_invariance_check_catches_the_notebooks_bug():
    """Reading `output[:, -1]` of an unpacked LSTM, as the notebooks did, changes with padding:
    the comparison above is able to fail."""
    torch.manual_seed(0)
    embedding, lstm = nn.Embedding(VOCAB, 8, padding_idx=PAD), nn.LSTM(8, 6, batch_first=True)
    tokens, _ = ragged_batch()
    with torch.no_grad():
        before = lstm(embedding(tokens))[0][:, -1]
        after = lstm(embedding(with_extra_padding(tokens, 9)))[0][:, -1]
    assert not torch.allclose(before, after, atol=1e-3)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_the_invariance_check_catches_a_plain_flip_for_the_backward_direction(pooling, monkeypatch):
    """lstmlab's own code broken the obvious way: the backward direction reads each row
    reversed as a whole (padding first) instead of within its length. The check fails."""
    monkeypatch.setattr(recurrent, "reversal_index", lambda lengths, steps: None)
    with pytest.raises(AssertionError):
        assert_padding_invariant(make_net(pooling=pooling, bidirectional=True))


def test_single_sequence_gives_the_same_logits_alone_and_in_a_padded_batch():
    for pooling, bidirectional in itertools.product(POOLINGS, [False, True]):
        net = make_net(pooling=pooling, bidirectional=bidirectional)
        tokens, lengths = ragged_batch()
        batch = logits_of(net, tokens, lengths)
        for row, n in enumerate(lengths.tolist()):
            alone = logits_of(net, tokens[row : row + 1, :n], lengths[row : row + 1])
            torch.testing.assert_close(alone, batch[row : row + 1], rtol=1e-5, atol=1e-6)


def lstm_outputs(net: TextClassifier, tokens: torch.Tensor, n: int) -> torch.Tensor:
    """Outputs [n, D] of the network's LSTM for one sequence, alone and unpadded."""
    with torch.no_grad():
        return net.encoder(tokens[None, :n], torch.tensor([n]))[0][0]


def test_last_reads_the_last_real_token_and_hn_the_final_states_of_both_directions():
    tokens, lengths = ragged_batch()
    for pooling in ("last", "hn"):
        net = make_net(pooling=pooling, bidirectional=True)
        captured: dict[str, torch.Tensor] = {}
        net.pooling.register_forward_hook(lambda m, i, out, c=captured: c.update(pooled=out[0]))
        logits_of(net, tokens, lengths)
        for row, n in enumerate(lengths.tolist()):
            out = lstm_outputs(net, tokens[row], n)  # [n, 2H]: forward half, backward half
            forward_end, backward_end = out[n - 1, :6], out[0, 6:]
            expected = out[n - 1] if pooling == "last" else torch.cat([forward_end, backward_end])
            torch.testing.assert_close(captured["pooled"][row], expected)


@pytest.mark.parametrize(("pooling", "reduce"), [("mean", torch.mean), ("max", torch.amax)])
def test_mean_and_max_pool_each_sequences_own_outputs(pooling, reduce):
    net = make_net(pooling=pooling, bidirectional=True)
    tokens, lengths = ragged_batch()
    with torch.no_grad():
        encoded = net.encoder(tokens, lengths, None)
        outputs, pooled = encoded.outputs, net.pooling(encoded)[0]
    for row, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(pooled[row], reduce(outputs[row, :n], dim=0))


def test_attention_weights_sum_to_one_over_real_tokens_and_are_zero_on_padding():
    net = make_net(pooling="attn")
    tokens, lengths = ragged_batch()
    _, weights = net(tokens, lengths)
    mask = torch.arange(tokens.size(1)) < lengths.unsqueeze(1)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(4))
    assert torch.all(weights[~mask] == 0)
    assert torch.all(weights[mask] > 0)


def test_other_poolings_return_no_attention_weights():
    tokens, lengths = ragged_batch()
    for pooling in ("last", "hn", "mean", "max"):
        assert make_net(pooling=pooling)(tokens, lengths)[1] is None


@pytest.mark.parametrize("pooling", POOLINGS)
def test_an_empty_sequence_is_read_as_one_padding_token(pooling):
    net = make_net(pooling=pooling, bidirectional=True)
    tokens = torch.tensor([[5, 6, 7], [PAD, PAD, PAD]])
    logits = logits_of(net, tokens, torch.tensor([3, 0]))
    one_pad = logits_of(net, torch.tensor([[PAD]]), torch.tensor([1]))
    torch.testing.assert_close(logits[1:], one_pad, rtol=1e-5, atol=1e-6)


def test_random_initial_state_is_fresh_noise_every_call():
    net = make_net(init_state="random", pooling="hn")
    tokens, lengths = ragged_batch()
    with torch.no_grad():
        assert not torch.allclose(net(tokens, lengths)[0], net(tokens, lengths)[0])


def test_zero_initial_state_is_deterministic_and_learned_state_is_trained():
    tokens, lengths = ragged_batch()
    zeros = make_net(init_state="zeros")
    with torch.no_grad():
        torch.testing.assert_close(zeros(tokens, lengths)[0], zeros(tokens, lengths)[0])

    learned = make_net(init_state="learned", pooling="hn").train()
    learned(tokens, lengths)[0].sum().backward()
    assert learned.encoder.h0.grad is not None and learned.encoder.h0.grad.abs().sum() > 0
    assert learned.encoder.c0.grad is not None and learned.encoder.c0.grad.abs().sum() > 0


def test_weight_dropout_varies_training_calls_only_and_trains_the_whole_weight():
    net = make_net(weight_dropout=0.5, bidirectional=True, num_layers=2).train()
    tokens, lengths = ragged_batch()
    first, second = net(tokens, lengths)[0], net(tokens, lengths)[0]
    assert not torch.allclose(first, second)
    (first + second).sum().backward()
    for directions in net.encoder.rnn:
        for lstm in directions:
            grad = lstm.weight_hh_l0.grad
            assert grad is not None and (grad == 0).any() and grad.abs().sum() > 0
            assert [name for name, _ in lstm.named_parameters()] == LSTM_PARAMETERS
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(tokens, lengths)[0], net(tokens, lengths)[0])


def test_evaluation_uses_the_full_recurrent_weights():
    tokens, lengths = ragged_batch()
    plain = make_net(bidirectional=True)
    dropped = make_net(bidirectional=True, weight_dropout=0.5)  # same seed, same weights
    torch.testing.assert_close(
        logits_of(dropped, tokens, lengths), logits_of(plain, tokens, lengths)
    )


def test_head_width_follows_the_loss():
    tokens, lengths = ragged_batch()
    assert make_net(head="ce")(tokens, lengths)[0].shape == (4, CLASSES)
    binary = text_classifier(VOCAB, 2, PAD, embed_dim=8, hidden_size=6, head="bce")
    assert binary(tokens, lengths)[0].shape == (4, 1)


@pytest.mark.parametrize(
    ("settings", "key", "allowed"),
    [
        ({"init_state": "ones"}, "model.encoder.init_state", INIT_STATES),
        ({"cell": "rnn"}, "model.encoder.cell", tuple(CELLS)),
        ({"head": "mse"}, "model.head", HEADS),
        ({"head": "bce"}, "model.head", ("model.head=ce",)),
        ({"layer_dropout": 0.5}, "model.encoder.layer_dropout", ("model.encoder.num_layers>=2",)),
        ({"num_layers": 0}, "model.encoder.num_layers", ("at least 1",)),
        ({"weight_dropout": 1.0}, "model.encoder.weight_dropout", ("[0, 1)",)),
        ({"cell": "gru", "forget_bias": 1.0}, "model.encoder.forget_bias", ("null",)),
    ],
)
def test_settings_that_would_silently_misbehave_are_refused_naming_the_fix(settings, key, allowed):
    """The refusal names the key, the value given and each valid choice (or the fix)."""
    with pytest.raises(ValueError) as refused:
        text_classifier(VOCAB, CLASSES, PAD, **settings)
    message = str(refused.value)
    value = settings.get(key.rsplit(".", 1)[-1])
    assert key in message and str(value) in message
    assert all(choice in message for choice in allowed)


def test_a_pooling_that_reads_the_final_state_is_refused_for_an_encoder_without_one():
    with pytest.raises(ValueError) as refused:
        text_classifier(VOCAB, CLASSES, PAD, pooling="hn", encoder=encoder_part("cnn"))
    message = str(refused.value)
    assert "FinalStatePooling" in message and "CNNEncoder" in message
    assert "model/pooling=max" in message


@pytest.mark.parametrize("pooling", POOLINGS)
def test_bf16_autocast_keeps_padding_out_too(pooling):
    """trainer.precision=bf16-mixed (the faster path on CPUs with bf16 instructions) runs the
    LSTM in bfloat16: its results move by bf16 rounding, never by padding."""
    net = make_net(pooling=pooling, bidirectional=True)
    tokens, lengths = ragged_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        before = logits_of(net, tokens, lengths).float()
        after = logits_of(net, with_extra_padding(tokens, 9), lengths).float()
    torch.testing.assert_close(after, before, rtol=0, atol=1e-3)  # padding leaks move it more
    torch.testing.assert_close(before, logits_of(net, tokens, lengths), rtol=0.05, atol=0.02)


def test_the_padding_embedding_is_zero_and_never_trained():
    """Whatever the pad id, its embedding is zero and gets no gradient (nn.Embedding's
    padding_idx): padding steps feed the LSTMs nothing."""
    torch.manual_seed(0)
    net = text_classifier(VOCAB, CLASSES, pad_id=3, embed_dim=8, hidden_size=6)
    embedding = net.encoder.embedding.weight
    assert torch.all(embedding[3] == 0) and torch.all(embedding[[0, 4]] != 0)
    tokens, lengths = ragged_batch(pad=3)
    net(tokens, lengths)[0].sum().backward()
    assert torch.all(embedding.grad[3] == 0) and embedding.grad.abs().sum() > 0


def test_dropout_acts_only_where_it_is_set():
    """With every dropout at 0, training calls give the evaluation logits; each dropout set on
    its own makes training calls differ from them."""
    tokens, lengths = ragged_batch()
    settings = {"embed_dropout": 0.5, "layer_dropout": 0.5, "weight_dropout": 0.5, "dropout": 0.5}
    for name in [None, *settings]:
        net = make_net(num_layers=2, **({name: settings[name]} if name else {}))
        evaluation = logits_of(net, tokens, lengths)
        training = logits_of(net.train(), tokens, lengths)
        assert torch.allclose(training, evaluation) == (name is None), name


def test_layer_dropout_drops_the_outputs_between_layers_only():
    """The first layer reads the embeddings as they are; the second reads the first layer's
    outputs, each zeroed or scaled by 1 / (1 - p) (nn.Dropout)."""
    net = make_net(num_layers=2, layer_dropout=0.5, bidirectional=False).train()
    inputs: list[torch.Tensor] = []
    for directions in net.encoder.rnn:
        directions[0].register_forward_hook(lambda m, args, out: inputs.append((args[0], out[0])))
    tokens, lengths = ragged_batch()
    with torch.no_grad():
        net(tokens, lengths)
    (first_in, first_out), (second_in, _) = inputs
    torch.testing.assert_close(first_in, net.encoder.embedding(tokens))
    kept = second_in != 0
    assert kept.any() and (~kept).any()
    torch.testing.assert_close(second_in[kept], 2 * first_out[kept])


def test_weight_dropout_drops_its_own_fraction_of_the_recurrent_weights():
    """weight_dropout=p zeroes about a fraction p of weight_hh (seeded: no flakiness): the
    gradient of a dropped weight is exactly zero."""
    for p in (0.2, 0.7):
        net = make_net(weight_dropout=p, bidirectional=False, hidden_size=32).train()
        tokens, lengths = ragged_batch()
        net(tokens, lengths)[0].sum().backward()
        dropped = (net.encoder.rnn[0][0].weight_hh_l0.grad == 0).float().mean().item()
        assert abs(dropped - p) < 0.05, (p, dropped)


def test_the_encoder_settings_reach_the_encoder():
    net = make_net(forget_bias=1.0, num_layers=2, bidirectional=False, init_state="learned")
    assert net.encoder.num_layers == 2 and net.encoder.num_directions == 1
    for directions in net.encoder.rnn:
        assert torch.all(directions[0].bias_ih_l0[6:12] == 1.0)
    assert net.encoder.h0.shape == (2, 1, 6)


def test_attn_dim_sets_the_width_of_the_attention_projection():
    assert make_net(pooling="attn", attn_dim=5).pooling.proj.out_features == 5
    assert make_net(pooling="attn", bidirectional=True).pooling.proj.out_features == 12
