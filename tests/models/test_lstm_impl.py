"""`model.lstm_impl`: the packed path (one bidirectional, stacked nn.LSTM call over a
PackedSequence) computes what the exact path (per-direction LSTMs, in-length reversal) computes,
from the same parameters, for the classifier, the language model and adversarial training.

Tests marked `gpu` run on CUDA, or on $LSTMLAB_TEST_DEVICE (`cpu`: a dry run), else skip."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import ragged_batch
from torch import Tensor, nn

from lstmlab.models import encoder
from lstmlab.models.adversarial import pushed_loss, zero_probe
from lstmlab.models.language_model import LSTMLanguageModel
from lstmlab.models.network import LSTMClassifier
from lstmlab.models.pooling import POOLINGS
from lstmlab.runs.checkpoints import load_model, read_checkpoint
from lstmlab.runs.export import export_onnx, largest_difference

VOCAB, CLASSES, PAD = 50, 3, 0
LABELS = torch.tensor([0, 1, 2, 1])
SHAPES = list(itertools.product(POOLINGS, [False, True], [1, 2], ["zeros", "learned"]))
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TIGHT = {"rtol": 1e-9, "atol": 1e-12}  # float64: the two paths differ by rounding only


def make_net(lstm_impl: str, seed: int = 0, **kwargs) -> LSTMClassifier:
    torch.manual_seed(seed)
    args = {"embed_dim": 8, "hidden_size": 6, **kwargs}
    return LSTMClassifier(VOCAB, CLASSES, PAD, lstm_impl=lstm_impl, **args)


def exact_and_packed(dtype: torch.dtype = torch.float64, **kwargs) -> list[LSTMClassifier]:
    """A classifier per implementation with the same parameters (the packed one loads the
    exact one's state dict); learned initial states moved off zero, so that they matter."""
    exact = make_net("exact", **kwargs).to(dtype)
    if kwargs.get("init_state") == "learned":
        with torch.no_grad():
            exact.encoder.h0.normal_()
            exact.encoder.c0.normal_()
    packed = make_net("packed", seed=1, **kwargs).to(dtype)
    packed.load_state_dict(exact.state_dict())
    return [exact, packed]


def padded_batch(extra: int = 2) -> tuple[Tensor, Tensor]:
    """The ragged batch (lengths 7, 3, 1, 5) with `extra` padding steps more: no row fills it."""
    tokens, lengths = ragged_batch(VOCAB, PAD)
    return torch.cat([tokens, torch.full((len(tokens), extra), PAD)], dim=1), lengths


def run(net: LSTMClassifier, tokens: Tensor, lengths: Tensor) -> dict[str, Tensor]:
    """Logits, the encoder's outputs and final states, and the gradient of every parameter of
    a cross-entropy on the logits; seeded, so that dropout and random states draw alike."""
    seen = {}
    hook = net.encoder.register_forward_hook(lambda module, args, out: seen.update(out=out))
    torch.manual_seed(7)
    logits = net(tokens, lengths)[0]
    hook.remove()
    F.cross_entropy(logits, LABELS.to(logits.device)).backward()
    outputs, finals = seen["out"]
    grads = {f"grad {name}": p.grad for name, p in net.named_parameters() if p.grad is not None}
    return {"logits": logits, "outputs": outputs, "finals": finals, **grads}


def assert_same_results(exact: dict, packed: dict, lengths: Tensor, **tolerance: float) -> None:
    """Equal logits, final states, gradients and outputs at real positions; the packed
    outputs are zero on padding."""
    assert exact.keys() == packed.keys()
    real = torch.arange(exact["outputs"].size(1)) < lengths.unsqueeze(1)  # [B, T]
    for key in exact:
        ours, theirs = exact[key], packed[key]
        if key == "outputs":
            assert not packed[key][~real.to(theirs.device)].any(), "padding outputs not zero"
            ours, theirs = ours[real.to(ours.device)], theirs[real.to(theirs.device)]
        torch.testing.assert_close(theirs, ours, **tolerance, msg=lambda m, k=key: f"{k}: {m}")


@pytest.mark.parametrize(("pooling", "bidirectional", "num_layers", "init_state"), SHAPES)
def test_packed_gives_the_exact_paths_logits_final_states_and_gradients(
    pooling, bidirectional, num_layers, init_state
):
    nets = exact_and_packed(
        pooling=pooling, bidirectional=bidirectional, num_layers=num_layers, init_state=init_state
    )
    tokens, lengths = padded_batch()
    exact, packed = (run(net.train(), tokens, lengths) for net in nets)
    assert_same_results(exact, packed, lengths, **TIGHT)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_dropout_everywhere_draws_the_same_in_both(bidirectional):
    """In training, with DropConnect, embedding and head dropout and random initial states,
    the same seed gives the same results: the packed path draws the recurrent weights' masks
    in the exact path's order (layer by layer, forward first)."""
    kwargs = {"weight_dropout": 0.5, "embed_dropout": 0.3, "dropout": 0.3, "num_layers": 2}
    nets = exact_and_packed(bidirectional=bidirectional, init_state="random", **kwargs)
    tokens, lengths = padded_batch()
    exact, packed = (run(net.train(), tokens, lengths) for net in nets)
    assert_same_results(exact, packed, lengths, **TIGHT)
    undropped = exact_and_packed(bidirectional=bidirectional, init_state="random")[1]
    assert not torch.allclose(run(undropped.train(), tokens, lengths)["logits"], packed["logits"])


class Doubling(nn.Dropout):
    """Stands in for the between-layer dropout without drawing (the two paths draw its masks
    in different shapes): it doubles every value, so where it acts changes the results."""

    def forward(self, x: Tensor) -> Tensor:
        return 2 * x


@pytest.mark.parametrize("bidirectional", [False, True])
def test_between_layer_dropout_acts_between_the_packed_paths_layers(bidirectional):
    """With `lstm_dropout` in training the packed path runs a call per layer, the dropout on
    the packed steps in between: at the same places as the exact path's."""
    nets = exact_and_packed(bidirectional=bidirectional, num_layers=3, lstm_dropout=0.5)
    for net in nets:
        net.encoder.lstm_dropout = Doubling(0.5)
    tokens, lengths = padded_batch()
    exact, packed = (run(net.train(), tokens, lengths) for net in nets)
    assert_same_results(exact, packed, lengths, **TIGHT)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_language_model_gets_the_same_loss_and_gradients(bidirectional):
    def language_model(impl: str) -> LSTMLanguageModel:
        torch.manual_seed(0)
        network = {"embed_dim": 8, "hidden_size": 6, "init_state": "learned", "lstm_impl": impl}
        network["bidirectional"] = bidirectional
        return LSTMLanguageModel(VOCAB, network, PAD, cutoffs=(10,), dropout=0.0).double()

    tokens, lengths = padded_batch()
    results = []
    for model in (language_model("exact"), language_model("packed")):
        loss = model.loss({"tokens": tokens, "lengths": lengths})
        loss.backward()
        grads = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
        results.append({"loss": loss, **grads})
    assert results[0].keys() == results[1].keys()
    for key in results[0]:
        torch.testing.assert_close(results[1][key], results[0][key], **TIGHT)


def test_adversarial_pushes_move_both_alike():
    """The push is the loss's gradient with respect to the embeddings (through the LSTMs):
    the pushed loss and every gradient of the adversarial step agree."""
    tokens, lengths = padded_batch()
    results = []
    for net in exact_and_packed(bidirectional=True, num_layers=2, pooling="attn"):

        def loss_of(push: Tensor, net: LSTMClassifier = net) -> Tensor:
            return F.cross_entropy(net(tokens, lengths, push)[0], LABELS)

        probe = zero_probe(net.encoder.embedding, tokens)
        loss = loss_of(probe)
        pushed = pushed_loss(loss_of, loss, probe, eps=1.0)
        (loss + pushed).backward()
        results.append([pushed, *(p.grad for p in net.parameters())])
    for exact, packed in zip(*results):
        torch.testing.assert_close(packed, exact, **TIGHT)


@pytest.mark.parametrize(("saved_with", "loaded_with"), [("exact", "packed"), ("packed", "exact")])
def test_a_state_dict_saved_with_one_implementation_loads_into_the_other(
    tmp_path, saved_with, loaded_with
):
    kwargs = {"bidirectional": True, "num_layers": 2, "pooling": "attn", "init_state": "learned"}
    saver = make_net(saved_with, **kwargs).eval()
    torch.save(saver.state_dict(), tmp_path / "net.pt")
    loader = make_net(loaded_with, seed=1, **kwargs).eval()
    loader.load_state_dict(torch.load(tmp_path / "net.pt", weights_only=True))  # strict
    tokens, lengths = padded_batch()
    with torch.no_grad():
        expected, logits = saver(tokens, lengths)[0], loader(tokens, lengths)[0]
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-6)


def test_a_checkpoint_written_before_lstm_impl_gives_its_logits_with_the_packed_path():
    expected = json.loads((FIXTURES / "expected_89da58f.json").read_text())
    checkpoint = read_checkpoint(FIXTURES / "classifier_89da58f.ckpt")
    checkpoint["hyper_parameters"]["lstm_impl"] = "packed"
    model = load_model(checkpoint)
    with torch.no_grad():
        logits, _ = model(torch.tensor(expected["tokens"]), torch.tensor(expected["lengths"]))
    torch.testing.assert_close(
        logits, torch.tensor(expected["classifier_logits"]), rtol=0, atol=1e-6
    )


def packings(monkeypatch: pytest.MonkeyPatch) -> list[Tensor]:
    """The lengths of every batch the encoder packs from now on."""
    calls = []

    def recording(x: Tensor, lengths: Tensor, **kwargs) -> nn.utils.rnn.PackedSequence:
        calls.append(lengths)
        return nn.utils.rnn.pack_padded_sequence(x, lengths, **kwargs)

    monkeypatch.setattr(encoder, "pack_padded_sequence", recording)
    return calls


def test_auto_runs_the_exact_path_on_a_cpu(monkeypatch):
    calls = packings(monkeypatch)
    tokens, lengths = padded_batch()
    make_net("auto")(tokens, lengths)
    assert calls == []
    make_net("packed")(tokens, lengths)
    assert len(calls) == 1


def test_an_onnx_export_of_a_packed_model_holds_for_any_batch(tmp_path):
    """Tracing records the exact path (a trace of packing would hold one batch's lengths)."""
    net = make_net("packed", bidirectional=True, num_layers=2, pooling="attn").eval()
    export_onnx(net, tmp_path / "model.onnx", VOCAB, PAD)
    assert largest_difference(net, tmp_path / "model.onnx", VOCAB, PAD) < 1e-5


def test_an_unknown_implementation_is_refused_with_the_choices():
    with pytest.raises(
        ValueError, match=r"model.lstm_impl='cudnn': expected one of auto, exact, packed"
    ):
        make_net("cudnn")


def batch_on(device: torch.device, extra: int = 2) -> tuple[Tensor, Tensor]:
    return tuple(t.to(device) for t in padded_batch(extra))


@pytest.mark.gpu
@pytest.mark.parametrize("pooling", POOLINGS)
def test_packed_equals_exact_on_the_device(gpu_test_device, pooling, monkeypatch):
    """In 32-bit, without TF32 (which would round both paths' products to 10 bits)."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    kwargs = {"bidirectional": True, "num_layers": 2, "init_state": "learned"}
    nets = [net.to(gpu_test_device).train() for net in exact_and_packed(torch.float32, **kwargs)]
    exact, packed = (run(net, *batch_on(gpu_test_device)) for net in nets)
    assert_same_results(exact, packed, padded_batch()[1], rtol=1e-4, atol=1e-5)


BF16_CPU = torch.ops.mkldnn._is_mkldnn_bf16_supported()  # oneDNN's bf16 LSTM needs it


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "bf16-true"])
@pytest.mark.parametrize("lstm_impl", ["exact", "packed"])
def test_padding_never_reaches_the_logits_on_the_device(gpu_test_device, lstm_impl, precision):
    kwargs = {"bidirectional": True, "num_layers": 2, "pooling": "attn", "init_state": "learned"}
    net = make_net(lstm_impl, **kwargs).to(gpu_test_device).eval()
    if precision == "bf16-mixed" and gpu_test_device.type == "cpu" and not BF16_CPU:
        pytest.skip("this CPU has no bf16 instructions: oneDNN builds no bf16-mixed LSTM")
    if precision == "bf16-true":
        net = net.to(torch.bfloat16)
    (tokens, lengths), (longer, _) = batch_on(gpu_test_device, 0), batch_on(gpu_test_device, 9)
    mixed = torch.autocast(gpu_test_device.type, torch.bfloat16, enabled=precision == "bf16-mixed")
    with torch.no_grad(), mixed:
        before, after = net(tokens, lengths)[0].float(), net(longer, lengths)[0].float()
    # a leak moves logits by 1e-2 or more; bf16 rounding (and cuDNN's choice of kernels) less
    torch.testing.assert_close(after, before, rtol=0, atol=1e-5 if precision == "32-true" else 2e-3)


@pytest.mark.gpu
def test_auto_runs_the_packed_path_on_cuda_only(gpu_test_device, monkeypatch):
    calls = packings(monkeypatch)
    make_net("auto").to(gpu_test_device)(*batch_on(gpu_test_device))
    assert len(calls) == (gpu_test_device.type == "cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("lstm_impl", ["auto", "packed"])
def test_gradients_in_evaluation_mode_reach_the_embeddings_on_the_device(
    gpu_test_device, lstm_impl
):
    """Integrated gradients (models/attribution.py) differentiate a model in eval mode, which
    cuDNN allows only for calls made in training mode: the packed path makes them so
    whenever autograd records."""
    net = make_net(lstm_impl, bidirectional=True, pooling="attn").to(gpu_test_device).eval()
    tokens, lengths = batch_on(gpu_test_device)
    probe = zero_probe(net.encoder.embedding, tokens)
    net(tokens, lengths, probe)[0].sum().backward()
    assert probe.grad is not None and probe.grad.abs().sum() > 0


def stack_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The layer count of every stacked nn.LSTM call the packed path makes from now on."""
    calls = []

    def recording(stack: nn.LSTM, weights: dict, args: tuple) -> tuple:
        calls.append(stack.num_layers)
        return torch.func.functional_call(stack, weights, args)

    monkeypatch.setattr(encoder, "functional_call", recording)
    return calls


@pytest.mark.parametrize(
    ("lstm_dropout", "train", "expected"),
    [(0.0, True, [3]), (0.5, False, [3]), (0.5, True, [1, 1, 1])],
)
def test_the_packed_path_runs_all_layers_in_one_call_unless_dropout_acts_between_them(
    monkeypatch, lstm_dropout, train, expected
):
    """One call per layer only where the between-layer dropout draws (training with a
    positive rate); otherwise one call over the whole stack, which cuDNN runs at once."""
    net = make_net("packed", bidirectional=True, num_layers=3, lstm_dropout=lstm_dropout)
    calls = stack_calls(monkeypatch)
    net.train(train)(*padded_batch())
    assert calls == expected


@pytest.mark.parametrize("init_state", ["learned", "random"])
def test_each_layers_call_starts_from_that_layers_initial_states(init_state):
    """With a call per layer (between-layer dropout in training), layer n's call gets rows
    n*dirs..(n+1)*dirs-1 of the initial states, as the exact path's layer n does."""
    kwargs = {"bidirectional": True, "num_layers": 3, "lstm_dropout": 0.5}
    nets = exact_and_packed(init_state=init_state, **kwargs)
    for net in nets:
        net.encoder.lstm_dropout = Doubling(0.5)
    tokens, lengths = padded_batch()
    exact, packed = (run(net.train(), tokens, lengths) for net in nets)
    assert_same_results(exact, packed, lengths, **TIGHT)


def test_three_stacked_layers_in_evaluation_give_the_exact_results_without_dropconnect():
    """One call over three layers hands each layer its own weights (layer 2 too), and in
    evaluation DropConnect leaves the recurrent weights whole, as in the exact path."""
    kwargs = {"bidirectional": True, "num_layers": 3, "weight_dropout": 0.5}
    nets = exact_and_packed(init_state="learned", **kwargs)
    tokens, lengths = padded_batch()
    exact, packed = (run(net.eval(), tokens, lengths) for net in nets)
    assert_same_results(exact, packed, lengths, **TIGHT)


def test_the_refusal_of_an_unknown_implementation_says_what_auto_picks():
    expected = (
        "model.lstm_impl='cudnn': expected one of auto, exact, packed "
        "(auto: packed on CUDA, exact elsewhere)"
    )
    with pytest.raises(ValueError) as refusal:
        make_net("cudnn")
    assert str(refusal.value) == expected
