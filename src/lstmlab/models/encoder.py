"""The LSTM encoder that the classifier and the language model share: token ids -> one vector
per position (embedding, per-direction LSTMs, DropConnect, initial states, forget bias).

Two implementations compute the same function from the same weights (`model.lstm_impl`):

- `exact`: padding is kept out without packing. On right-padded input a forward LSTM reads
  every real token before any padding, so its outputs at real positions are exact; the
  backward direction gets the same property by reversing each sequence *within its own
  length*, running forward, and reversing back. This is an exact BiLSTM
  (tests/models/test_encoder.py compares it with nn.LSTM(bidirectional=True)) and faster on a
  CPU than packing (docs/speed.md).
- `packed`: one bidirectional, stacked LSTM call over a `PackedSequence`, which cuDNN runs
  with both directions at once. The weights stay in the per-direction modules and are handed
  to that call in nn.LSTM's own order (`weight_ih_l0`, `weight_ih_l0_reverse`, ...), so one
  state dict serves both. Padding positions come out as zeros.
- `auto` picks per call from the input's device: `packed` on CUDA, `exact` elsewhere. Per
  call, not once, because a model moves (trained on a GPU, served on a CPU) and both
  implementations give the same results from the same parameters.

Its state-dict keys (`embedding.weight`, `lstm.<layer>.<direction>.*`, `h0`, `c0`) are the
ones the classifier had before it owned an encoder, which is what `encoder.pt` files hold;
`move_encoder_keys` upgrades checkpoints written before that change.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

INIT_STATES = ("zeros", "random", "learned")
LSTM_IMPLS = ("auto", "exact", "packed")
LSTM_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # nn.LSTM's, per layer
STATE_PREFIXES = ("embedding.", "lstm.", "h0", "c0")  # every key of an encoder's state dict


class LSTMEncoder(nn.Module):
    """Embeds right-padded token batches and reads them with (bidirectional, stacked) LSTMs;
    padding never influences the outputs at real positions.

    Args:
        vocab_size: number of token ids (from the datamodule).
        pad_id: id of the padding token; its embedding is fixed at zero.
        embed_dim: width of the token embeddings.
        hidden_size: LSTM hidden size per direction.
        num_layers: stacked LSTM layers.
        bidirectional: also read each sequence right to left.
        embed_dropout: dropout on the token embeddings.
        lstm_dropout: dropout between stacked LSTM layers (needs num_layers >= 2).
        weight_dropout: DropConnect on every LSTM's hidden-to-hidden weights (AWD-LSTM, Merity
            et al., 2018): while training, each batch runs with a fraction of those weights
            zeroed, the same ones at every time step, which regularises the recurrence itself
            (dropout on the inputs or outputs cannot). Evaluation uses the full weights.
        init_state: initial (h0, c0): `zeros`, `random` (fresh noise every batch, as one source
            notebook did; kept to show what it costs) or `learned` (trained parameters).
        forget_bias: initial forget-gate bias (None: PyTorch's default, about 0). A positive
            bias (Jozefowicz et al., 2015: 1.0) makes the cell keep its memory from the start,
            which a model read from its final state needs on long texts.
        lstm_impl: how the LSTMs run, one of LSTM_IMPLS (see the module's docstring); the
            results and the parameters are the same for each.
    """

    def __init__(
        self,
        vocab_size: int,
        pad_id: int = 0,
        embed_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        embed_dropout: float = 0.0,
        lstm_dropout: float = 0.0,
        weight_dropout: float = 0.0,
        init_state: str = "zeros",
        forget_bias: float | None = None,
        lstm_impl: str = "auto",
    ) -> None:
        super().__init__()
        _check_args(num_layers, lstm_dropout, weight_dropout, init_state, lstm_impl)
        self.init_state, self.weight_dropout, self.lstm_impl = init_state, weight_dropout, lstm_impl
        self.num_directions = 2 if bidirectional else 1
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.output_dim = hidden_size * self.num_directions
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.embed_dropout = nn.Dropout(embed_dropout)
        # lstm[layer][direction]: one unidirectional LSTM each, direction 1 reading backwards
        self.lstm = nn.ModuleList(
            nn.ModuleList(
                nn.LSTM(embed_dim if layer == 0 else self.output_dim, hidden_size, batch_first=True)
                for _ in range(self.num_directions)
            )
            for layer in range(num_layers)
        )
        if forget_bias is not None:
            for directions in self.lstm:
                for lstm in directions:
                    set_forget_bias(lstm, forget_bias)
        self.lstm_dropout = nn.Dropout(lstm_dropout)
        if init_state == "learned":
            state_shape = (num_layers * self.num_directions, 1, hidden_size)
            self.h0 = nn.Parameter(torch.zeros(state_shape))
            self.c0 = nn.Parameter(torch.zeros(state_shape))
        # weightless (meta) nn.LSTMs that the packed path runs with this encoder's weights, by
        # (first layer, layer count); a plain dict, so neither state dict nor .to() sees them
        self._stacks: dict[tuple[int, int], nn.LSTM] = {}

    def forward(
        self, tokens: Tensor, lengths: Tensor, push: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """`encode` of the embedded tokens [B, T] (lengths [B], each >= 1); push [B, T, E] is
        added to the embeddings (adversarial training)."""
        return self.encode(self.embed(tokens, push), lengths)

    def embed(self, tokens: Tensor, push: Tensor | None = None) -> Tensor:
        """Token embeddings [B, T, E] (plus `push`), after the embedding dropout."""
        x = self.embedding(tokens)  # [B, T, E]
        return self.embed_dropout(x if push is None else x + push)

    def encode(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Top-layer outputs [B, T, dirs*H] (exact at real positions, whatever follows them)
        and the top layer's final hidden states [dirs, B, H] at each sequence's real end."""
        if self._impl_for(x) == "packed":
            return self._encode_packed(x, lengths)
        reverse = reversal_index(lengths, x.size(1))  # [B, T]
        states = self._initial_states(x)
        for layer, directions in enumerate(self.lstm):
            if layer > 0:
                x = self.lstm_dropout(x)
            outputs = []
            for direction, lstm in enumerate(directions):
                backward = direction == 1
                inputs = take_steps(x, reverse) if backward else x
                i = layer * self.num_directions + direction
                state = None if states is None else (states[0][i : i + 1], states[1][i : i + 1])
                out, _ = self._run_lstm(lstm, inputs, state)
                outputs.append(take_steps(out, reverse) if backward else out)  # [B, T, H]
            x = torch.cat(outputs, dim=-1)  # [B, T, dirs*H]
        rows = torch.arange(x.size(0), device=x.device)
        finals = [outputs[0][rows, lengths - 1]]  # forward: state after the last real token
        if self.num_directions == 2:
            finals.append(outputs[1][:, 0])  # backward: state after reading back to token 0
        return x, torch.stack(finals)

    def _impl_for(self, x: Tensor) -> str:
        """`exact` or `packed` for this input. A traced export (ONNX) records one batch's
        packing as constants, so it gets the exact path, whose trace holds for any batch."""
        if torch.jit.is_tracing():
            return "exact"
        if self.lstm_impl == "auto":
            return "packed" if x.is_cuda else "exact"
        return self.lstm_impl

    def _encode_packed(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """`encode` as one bidirectional, stacked LSTM call over the packed real steps. With
        dropout between layers (training), one call per layer, the dropout on the packed
        steps in between (other draws than the exact path's, from the same distribution)."""
        states = self._initial_states(x)
        data = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        per_layer = self.training and self.lstm_dropout.p > 0
        spans = [(n, 1) for n in range(self.num_layers)] if per_layer else [(0, self.num_layers)]
        for first, count in spans:
            if first > 0:
                data = PackedSequence(self.lstm_dropout(data.data), *data[1:])
            rows = slice(first * self.num_directions, (first + count) * self.num_directions)
            state = None if states is None else (states[0][rows], states[1][rows])
            stack = self._stack(first, count).train(torch.is_grad_enabled())
            with warnings.catch_warnings():  # cuDNN copies the separate weights into one buffer
                warnings.filterwarnings("ignore", "RNN module weights are not part of single")
                data, (h_n, _) = functional_call(
                    stack, self._stack_weights(first, count), (data, state)
                )
        outputs, _ = pad_packed_sequence(data, batch_first=True, total_length=x.size(1))
        return outputs, h_n[-self.num_directions :]

    def _stack(self, first: int, count: int) -> nn.LSTM:
        """A weightless nn.LSTM shaped like layers first..first+count-1 of this encoder. Its
        training flag only tells cuDNN to keep what a backward pass needs (dropout is 0)."""
        if (first, count) not in self._stacks:
            self._stacks[first, count] = nn.LSTM(
                self.lstm[first][0].input_size,
                self.hidden_size,
                num_layers=count,
                bidirectional=self.num_directions == 2,
                batch_first=True,
                device="meta",
            )
        return self._stacks[first, count]

    def _stack_weights(self, first: int, count: int) -> dict[str, Tensor]:
        """The weights of layers first..first+count-1 under nn.LSTM's names for a stack of
        `count` layers (`weight_hh_l1_reverse`, ...), with DropConnect applied as in
        `_run_lstm`, drawn in the same order (layer by layer, forward first)."""
        weights = {}
        for layer in range(count):
            for direction, lstm in enumerate(self.lstm[first + layer]):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                own = (
                    lstm.weight_ih_l0,
                    self._recurrent_weight(lstm),
                    lstm.bias_ih_l0,
                    lstm.bias_hh_l0,
                )
                weights.update({name + suffix: w for name, w in zip(LSTM_WEIGHTS, own)})
        return weights

    def _run_lstm(
        self, lstm: nn.LSTM, x: Tensor, state: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """`lstm(x, state)`, in training with DropConnect on `weight_hh_l0`: the parameter stays
        whole (checkpoints, optimiser) and the call uses a dropped copy, through which the
        gradient reaches it."""
        if not (self.training and self.weight_dropout):
            return lstm(x, state)
        return functional_call(lstm, {"weight_hh_l0": self._recurrent_weight(lstm)}, (x, state))

    def _recurrent_weight(self, lstm: nn.LSTM) -> Tensor:
        """`lstm.weight_hh_l0`, with DropConnect in training."""
        if not (self.training and self.weight_dropout):
            return lstm.weight_hh_l0
        return F.dropout(lstm.weight_hh_l0, self.weight_dropout)

    def _initial_states(self, x: Tensor) -> tuple[Tensor, Tensor] | None:
        """(h0, c0), each [layers*dirs, B, H] in nn.LSTM's order (layer by layer, forward
        first); None means zeros (nn.LSTM's own, without allocating them here)."""
        count, batch = self.num_layers * self.num_directions, x.size(0)
        if self.init_state == "zeros":
            return None
        if self.init_state == "learned":
            return tuple(s.expand(-1, batch, -1).contiguous() for s in (self.h0, self.c0))
        shape = (count, batch, self.hidden_size)  # random: fresh noise for every batch
        return tuple(torch.randn(shape, device=x.device, dtype=x.dtype) for _ in range(2))


def move_encoder_keys(state_dict: dict[str, Any], old: str, new: str) -> None:
    """Renames, in place, the encoder's keys under `old` (e.g. `net.`) to `new` (`net.encoder.`):
    checkpoints written before the encoder was a module of its own keep loading."""
    for key in [k for k in state_dict if k.startswith(old)]:
        if key[len(old) :].startswith(STATE_PREFIXES):
            state_dict[new + key[len(old) :]] = state_dict.pop(key)


def set_forget_bias(lstm: nn.LSTM, value: float) -> None:
    """Biases hold the gates in the order input, forget, cell, output; nn.LSTM adds its two
    biases, so `bias_ih` gets the value and `bias_hh`'s forget part is zeroed."""
    h = lstm.hidden_size
    with torch.no_grad():
        lstm.bias_ih_l0[h : 2 * h].fill_(value)
        lstm.bias_hh_l0[h : 2 * h].zero_()


def reversal_index(lengths: Tensor, steps: int) -> Tensor | None:
    """[B, T] time indices that reverse each sequence's first `length` steps and leave its
    padding in place; applying it twice restores the order. None when no row is padded: then
    the reversal is a plain flip, cheaper than the gather (and its scatter-add gradient) on a
    CPU, and many of IMDB's batches are unpadded (docs/speed.md)."""
    if bool((lengths == steps).all()):
        return None
    t = torch.arange(steps, device=lengths.device)
    last = (lengths - 1).unsqueeze(1)  # [B, 1]
    return torch.where(t < lengths.unsqueeze(1), last - t, t)


def take_steps(x: Tensor, index: Tensor | None) -> Tensor:
    """x [B, T, F] reordered in time by index [B, T] (None: reversed)."""
    if index is None:
        return x.flip(1)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


def _check_args(
    num_layers: int, lstm_dropout: float, weight_dropout: float, init_state: str, lstm_impl: str
) -> None:
    """Refuse settings that would silently do something other than what they say."""
    if init_state not in INIT_STATES:
        raise ValueError(
            f"model.init_state={init_state!r}: expected one of {', '.join(INIT_STATES)}"
        )
    if lstm_impl not in LSTM_IMPLS:
        raise ValueError(
            f"model.lstm_impl={lstm_impl!r}: expected one of {', '.join(LSTM_IMPLS)} (auto: "
            "packed on CUDA, exact elsewhere)"
        )
    if num_layers < 1:
        raise ValueError(f"model.num_layers={num_layers}: expected at least 1")
    if lstm_dropout > 0 and num_layers == 1:
        raise ValueError(
            f"model.lstm_dropout={lstm_dropout} has no effect with model.num_layers=1: nn.LSTM "
            "applies dropout only between stacked layers. Set model.num_layers>=2, or use "
            "model.embed_dropout / model.dropout, which act with any number of layers."
        )
    if not 0 <= weight_dropout < 1:
        raise ValueError(f"model.weight_dropout={weight_dropout}: expected a probability in [0, 1)")
