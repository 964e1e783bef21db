"""The recurrent encoder that the classifier and the language model share: token ids -> one
vector per position (embedding, per-direction recurrent layers of one cell, LSTM or GRU,
DropConnect, initial states, forget bias).

Two implementations compute the same function from the same weights (`model.encoder.impl`):

- `exact`: padding is kept out without packing. On right-padded input a forward layer reads
  every real token before any padding, so its outputs at real positions are exact; the
  backward direction gets the same property by reversing each sequence *within its own
  length*, running forward, and reversing back. This is an exact bidirectional RNN
  (tests/models/test_encoder.py compares it with nn.LSTM(bidirectional=True)) and faster on a
  CPU than packing (docs/speed.md).
- `packed`: one bidirectional, stacked call over a `PackedSequence`, which cuDNN runs with
  both directions at once. The weights stay in the per-direction modules and are handed to
  that call in torch's own order (`weight_ih_l0`, `weight_ih_l0_reverse`, ...), so one state
  dict serves both. Padding positions come out as zeros.
- `auto` picks per call from the input's device: `packed` on CUDA, `exact` elsewhere. Per
  call, not once, because a model moves (trained on a GPU, served on a CPU) and both
  implementations give the same results from the same parameters.

Its state-dict keys are `embedding.weight`, `rnn.<layer>.<direction>.*`, `h0` (and `c0`);
files written when the layers were called `lstm.` load through `_rename_lstm_keys`, and
`move_encoder_keys` upgrades classifier checkpoints written before it owned an encoder.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstmlab.models.encoders.base import Encoded, Encoder, real_positions

CELLS: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU}
INIT_STATES = ("zeros", "random", "learned")
IMPLS = ("auto", "exact", "packed")
RNN_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # torch's, per layer
# every key of an encoder's state dict, and the old name of its layers
STATE_PREFIXES = ("embedding.", "rnn.", "lstm.", "h0", "c0")


class RecurrentEncoder(Encoder):
    """Embeds right-padded token batches and reads them with (bidirectional, stacked) recurrent
    layers of one cell (LSTM or GRU); padding never influences the outputs at real positions.

    Args:
        vocab_size, pad_id, embed_dim, embed_dropout: the embedding's, see `base.Encoder`.
        cell: the recurrent cell, one of CELLS.
        hidden_size: hidden size per direction.
        num_layers: stacked layers.
        bidirectional: also read each sequence right to left.
        layer_dropout: dropout between stacked layers (needs num_layers >= 2).
        weight_dropout: DropConnect on every layer's hidden-to-hidden weights (AWD-LSTM, Merity
            et al., 2018): while training, each batch runs with a fraction of those weights
            zeroed, the same ones at every time step, which regularises the recurrence itself
            (dropout on the inputs or outputs cannot). Evaluation uses the full weights.
        init_state: initial states (h0, and c0 for an LSTM): `zeros`, `random` (fresh noise
            every batch, as one source notebook did; kept to show what it costs) or `learned`
            (trained parameters).
        forget_bias: initial forget-gate bias of an LSTM (None: PyTorch's default, about 0). A
            positive bias (Jozefowicz et al., 2015: 1.0) makes the cell keep its memory from
            the start, which a model read from its final state needs on long texts.
        impl: how the layers run, one of IMPLS (see the module's docstring); the results and
            the parameters are the same for each.
    """

    has_final = True

    def __init__(
        self,
        vocab_size: int,
        pad_id: int = 0,
        embed_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        embed_dropout: float = 0.0,
        layer_dropout: float = 0.0,
        weight_dropout: float = 0.0,
        init_state: str = "zeros",
        forget_bias: float | None = None,
        impl: str = "auto",
        cell: str = "lstm",
    ) -> None:
        super().__init__(vocab_size, pad_id, embed_dim, embed_dropout)
        _check_args(cell, num_layers, layer_dropout, weight_dropout, init_state, impl, forget_bias)
        self.cell, self.rnn_class = cell, CELLS[cell]
        self.init_state, self.weight_dropout, self.impl = init_state, weight_dropout, impl
        self.num_directions = 2 if bidirectional else 1
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.output_dim = hidden_size * self.num_directions
        # rnn[layer][direction]: one unidirectional layer each, direction 1 reading backwards
        self.rnn = nn.ModuleList(
            nn.ModuleList(
                self.rnn_class(
                    embed_dim if layer == 0 else self.output_dim, hidden_size, batch_first=True
                )
                for _ in range(self.num_directions)
            )
            for layer in range(num_layers)
        )
        if forget_bias is not None:
            for directions in self.rnn:
                for lstm in directions:
                    set_forget_bias(lstm, forget_bias)
        self.layer_dropout = nn.Dropout(layer_dropout)
        if init_state == "learned":
            state_shape = (num_layers * self.num_directions, 1, hidden_size)
            self.h0 = nn.Parameter(torch.zeros(state_shape))
            if cell == "lstm":
                self.c0 = nn.Parameter(torch.zeros(state_shape))
        # weightless (meta) stacks that the packed path runs with this encoder's weights, by
        # (first layer, layer count); a plain dict, so neither state dict nor .to() sees them
        self._stacks: dict[tuple[int, int], nn.RNNBase] = {}
        self.register_load_state_dict_pre_hook(_rename_lstm_keys)

    def get_output_dim(self) -> int:
        return self.output_dim

    def encode(self, x: Tensor, lengths: Tensor) -> Encoded:
        """Top-layer outputs [B, T, dirs*H] (exact at real positions, whatever follows them)
        and the top layer's final hidden states [B, dirs*H] at each sequence's real end
        (forward, then backward)."""
        mask = real_positions(lengths, x.size(1))
        if self._impl_for(x) == "packed":
            outputs, h_n = self._encode_packed(x, lengths)
            return Encoded(outputs, mask, torch.cat(list(h_n), dim=-1))
        reverse = reversal_index(lengths, x.size(1))  # [B, T]
        states = self._initial_states(x)
        for layer, directions in enumerate(self.rnn):
            if layer > 0:
                x = self.layer_dropout(x)
            outputs = []
            for direction, rnn in enumerate(directions):
                backward = direction == 1
                inputs = take_steps(x, reverse) if backward else x
                i = layer * self.num_directions + direction
                state = None if states is None else tuple(s[i : i + 1] for s in states)
                out, _ = self._run(rnn, inputs, state)
                outputs.append(take_steps(out, reverse) if backward else out)  # [B, T, H]
            x = torch.cat(outputs, dim=-1)  # [B, T, dirs*H]
        rows = torch.arange(x.size(0), device=x.device)
        finals = [outputs[0][rows, lengths - 1]]  # forward: state after the last real token
        if self.num_directions == 2:
            finals.append(outputs[1][:, 0])  # backward: state after reading back to token 0
        return Encoded(x, mask, torch.cat(finals, dim=-1))

    def _impl_for(self, x: Tensor) -> str:
        """`exact` or `packed` for this input. A traced export (ONNX) records one batch's
        packing as constants, so it gets the exact path, whose trace holds for any batch."""
        if torch.jit.is_tracing():
            return "exact"
        if self.impl == "auto":
            return "packed" if x.is_cuda else "exact"
        return self.impl

    def _encode_packed(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Outputs and final hidden states [dirs, B, H] as one bidirectional, stacked call over
        the packed real steps. With dropout between layers (training), one call per layer, the
        dropout on the packed steps in between (other draws than the exact path's, from the
        same distribution)."""
        states = self._initial_states(x)
        data = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        per_layer = self.training and self.layer_dropout.p > 0
        spans = [(n, 1) for n in range(self.num_layers)] if per_layer else [(0, self.num_layers)]
        for first, count in spans:
            if first > 0:
                data = PackedSequence(self.layer_dropout(data.data), *data[1:])
            rows = slice(first * self.num_directions, (first + count) * self.num_directions)
            state = None if states is None else tuple(s[rows] for s in states)
            stack = self._stack(first, count).train(torch.is_grad_enabled())
            with warnings.catch_warnings():  # cuDNN copies the separate weights into one buffer
                warnings.filterwarnings("ignore", "RNN module weights are not part of single")
                data, hidden = functional_call(
                    stack, self._stack_weights(first, count), (data, self._cell_state(state))
                )
        h_n = hidden[0] if isinstance(hidden, tuple) else hidden  # an LSTM's (h, c)
        outputs, _ = pad_packed_sequence(data, batch_first=True, total_length=x.size(1))
        return outputs, h_n[-self.num_directions :]

    def _stack(self, first: int, count: int) -> nn.RNNBase:
        """A weightless stack of the cell shaped like layers first..first+count-1 of this
        encoder. Its training flag only tells cuDNN to keep what a backward pass needs (dropout
        is 0)."""
        if (first, count) not in self._stacks:
            self._stacks[first, count] = self.rnn_class(
                self.rnn[first][0].input_size,
                self.hidden_size,
                num_layers=count,
                bidirectional=self.num_directions == 2,
                batch_first=True,
                device="meta",
            )
        return self._stacks[first, count]

    def _stack_weights(self, first: int, count: int) -> dict[str, Tensor]:
        """The weights of layers first..first+count-1 under torch's names for a stack of
        `count` layers (`weight_hh_l1_reverse`, ...), with DropConnect applied as in `_run`,
        drawn in the same order (layer by layer, forward first)."""
        weights = {}
        for layer in range(count):
            for direction, rnn in enumerate(self.rnn[first + layer]):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                own = (
                    rnn.weight_ih_l0,
                    self._recurrent_weight(rnn),
                    rnn.bias_ih_l0,
                    rnn.bias_hh_l0,
                )
                weights.update({name + suffix: w for name, w in zip(RNN_WEIGHTS, own)})
        return weights

    def _run(
        self, rnn: nn.RNNBase, x: Tensor, state: tuple[Tensor, ...] | None
    ) -> tuple[Tensor, Any]:
        """`rnn(x, state)`, in training with DropConnect on `weight_hh_l0`: the parameter stays
        whole (checkpoints, optimiser) and the call uses a dropped copy, through which the
        gradient reaches it."""
        state = self._cell_state(state)
        if not (self.training and self.weight_dropout):
            return rnn(x, state)
        return functional_call(rnn, {"weight_hh_l0": self._recurrent_weight(rnn)}, (x, state))

    def _cell_state(self, state: tuple[Tensor, ...] | None) -> Any:
        """The state as the cell takes it: (h, c) for an LSTM, h for a GRU."""
        if state is None or self.cell == "lstm":
            return state
        return state[0]

    def _recurrent_weight(self, rnn: nn.RNNBase) -> Tensor:
        """`rnn.weight_hh_l0`, with DropConnect in training."""
        if not (self.training and self.weight_dropout):
            return rnn.weight_hh_l0
        return F.dropout(rnn.weight_hh_l0, self.weight_dropout)

    def _initial_states(self, x: Tensor) -> tuple[Tensor, ...] | None:
        """(h0, c0) for an LSTM, (h0,) for a GRU, each [layers*dirs, B, H] in torch's order
        (layer by layer, forward first); None means zeros (torch's own, not allocated here)."""
        count, batch = self.num_layers * self.num_directions, x.size(0)
        states = 2 if self.cell == "lstm" else 1
        if self.init_state == "zeros":
            return None
        if self.init_state == "learned":
            learned = (self.h0, self.c0)[:states]
            return tuple(s.expand(-1, batch, -1).contiguous() for s in learned)
        shape = (count, batch, self.hidden_size)  # random: fresh noise for every batch
        return tuple(torch.randn(shape, device=x.device, dtype=x.dtype) for _ in range(states))


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


def _rename_lstm_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
    """Files written when the layers were called `lstm.` (encoder.pt, checkpoints) hold them
    as `<prefix>lstm.*`: they now live under `<prefix>rnn.`."""
    for key in [k for k in state_dict if k.startswith(prefix + "lstm.")]:
        state_dict[prefix + "rnn." + key[len(prefix + "lstm.") :]] = state_dict.pop(key)


def _check_args(
    cell: str,
    num_layers: int,
    layer_dropout: float,
    weight_dropout: float,
    init_state: str,
    impl: str,
    forget_bias: float | None,
) -> None:
    """Refuse settings that would silently do something other than what they say."""
    for key, value, allowed in (
        ("cell", cell, CELLS),
        ("init_state", init_state, INIT_STATES),
        ("impl", impl, IMPLS),
    ):
        if value not in allowed:
            raise ValueError(
                f"model.encoder.{key}={value!r}: expected one of {', '.join(allowed)}"
                + (" (auto: packed on CUDA, exact elsewhere)" if key == "impl" else "")
            )
    if forget_bias is not None and cell != "lstm":
        raise ValueError(
            f"model.encoder.forget_bias={forget_bias}: a {cell.upper()} has no forget gate. "
            "Set model.encoder.forget_bias=null (conf/model/encoder/gru.yaml does)."
        )
    if num_layers < 1:
        raise ValueError(f"model.encoder.num_layers={num_layers}: expected at least 1")
    if layer_dropout > 0 and num_layers == 1:
        raise ValueError(
            f"model.encoder.layer_dropout={layer_dropout} has no effect with "
            "model.encoder.num_layers=1: it acts only between stacked layers. Set "
            "model.encoder.num_layers>=2, or use model.encoder.embed_dropout / model.dropout, "
            "which act with any number of layers."
        )
    if not 0 <= weight_dropout < 1:
        raise ValueError(
            f"model.encoder.weight_dropout={weight_dropout}: expected a probability in [0, 1)"
        )
