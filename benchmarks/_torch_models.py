"""The suite's workloads in PyTorch, built from the book's weight dicts.

Imported by suite.py only when torch imports: torch is a point of comparison,
never a dependency of minigrad. Every model here starts from the same numbers
as the minigrad model and its twin (the dicts of ``to_weights()``), converted
to torch's layouts:

* Linear: torch stores W as (out, in) and computes x @ W.T; the book's W is (in, out).
* LSTM: torch packs the gates i, f, g, o, the book's f, g, i, o; torch has two
  biases (b_ih + b_hh), the book's one (b_hh is set to zero).
* GRU: torch packs r, z, n and applies the reset gate *after* the recurrent
  matmul (n = tanh(W_in x + r * (W_hn h + b_hn))) and weighs the old state by z;
  the book applies it before ((r * h) @ Whh) and weigh the candidate by z. Same
  shapes and matmuls, slightly different math: timed, not checked for equality.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as TF
from torch import nn

# Position in the book's packing of each of torch's gate blocks, in torch's order.
BOOK_BLOCK_OF_TORCH_GATE = {"lstm": [2, 0, 1, 3], "gru": [1, 0, 2]}


def tensor(a, dtype=np.float32):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=dtype))


def ids(a):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))


def _assign(param, array):
    with torch.no_grad():
        param.copy_(tensor(array))


def load_rnn_layer(rnn, layer, Wx, Wh, b, cell):
    H = Wh.shape[0]
    cols = np.concatenate([np.arange(g * H, (g + 1) * H) for g in BOOK_BLOCK_OF_TORCH_GATE[cell]])
    _assign(getattr(rnn, f"weight_ih_l{layer}"), Wx[:, cols].T)
    _assign(getattr(rnn, f"weight_hh_l{layer}"), Wh[:, cols].T)
    _assign(getattr(rnn, f"bias_ih_l{layer}"), b[cols])
    _assign(getattr(rnn, f"bias_hh_l{layer}"), np.zeros_like(b))


class LanguageModel(nn.Module):
    """Rnnlm (``better=False``: one recurrent layer, its own output Linear) or
    BetterRnnlm (two layers, dropout after the embedding and after each layer,
    output weight tied to the embedding), stateful like the book's models: the
    last state of a call starts the next one, detached (truncated BPTT)."""

    def __init__(self, weights, cell, better, dropout_ratio=0.5):
        super().__init__()
        V, D = weights["embed.W"].shape
        names = [f"{cell}0", f"{cell}1"] if better else [cell]
        H = weights[f"{names[0]}.Wh"].shape[0]
        self.vocab, self.better = V, better
        self.embed = nn.Embedding(V, D)
        _assign(self.embed.weight, weights["embed.W"])
        rnn_class = nn.LSTM if cell == "lstm" else nn.GRU
        # Two stacked layers in one module: torch applies the dropout between them itself.
        self.rnn = rnn_class(D, H, num_layers=len(names), batch_first=True,
                             dropout=dropout_ratio if better else 0.0)
        for layer, name in enumerate(names):
            load_rnn_layer(self.rnn, layer, weights[f"{name}.Wx"], weights[f"{name}.Wh"],
                            weights[f"{name}.b"], cell)
        self.drop = nn.Dropout(dropout_ratio) if better else nn.Identity()
        if better:
            self.out_b = nn.Parameter(tensor(weights["affine.b"]))
        else:
            self.affine = nn.Linear(H, V)
            _assign(self.affine.weight, weights["affine.W"].T)
            _assign(self.affine.bias, weights["affine.b"])
        self.state = None

    def reset_state(self):
        self.state = None

    def forward(self, xs, ts):
        h = self.drop(self.embed(xs))
        h, state = self.rnn(h, self.state)
        self.state = (tuple(s.detach() for s in state) if isinstance(state, tuple)
                      else state.detach())
        h = self.drop(h)
        scores = (TF.linear(h, self.embed.weight, self.out_b) if self.better
                  else self.affine(h))
        return TF.cross_entropy(scores.reshape(-1, self.vocab), ts.reshape(-1))


class Seq2seq(nn.Module):
    """The book's Seq2seq (``attention=False``: the encoder's last state starts
    the decoder) or AttentionSeq2seq (``attention=True``: the decoder's Linear
    reads [context, LSTM output], the context being dot-product attention over
    the encoder's states, all decoder steps in one batched product), from a
    weight dict of models.seq2seq's layout. The loss: cross-entropy of the
    decoder fed ts[:, :-1] against ts[:, 1:]."""

    def __init__(self, weights, attention=False):
        super().__init__()
        V, D = weights["encoder.embed.W"].shape
        H = weights["encoder.lstm.Wh"].shape[0]
        self.vocab, self.attention = V, attention
        for side in ("encoder", "decoder"):
            embed, rnn = nn.Embedding(V, D), nn.LSTM(D, H, batch_first=True)
            _assign(embed.weight, weights[f"{side}.embed.W"])
            load_rnn_layer(rnn, 0, weights[f"{side}.lstm.Wx"], weights[f"{side}.lstm.Wh"],
                           weights[f"{side}.lstm.b"], "lstm")
            setattr(self, f"{side}_embed", embed)
            setattr(self, f"{side}_lstm", rnn)
        self.affine = nn.Linear(*weights["decoder.affine.W"].shape)
        _assign(self.affine.weight, weights["decoder.affine.W"].T)
        _assign(self.affine.bias, weights["decoder.affine.b"])

    def forward(self, xs, ts):
        hs_enc, _ = self.encoder_lstm(self.encoder_embed(xs))
        h0 = hs_enc[:, -1].unsqueeze(0).contiguous()
        hs, _ = self.decoder_lstm(self.decoder_embed(ts[:, :-1]), (h0, torch.zeros_like(h0)))
        if self.attention:
            a = torch.softmax(hs @ hs_enc.transpose(1, 2), dim=-1)
            hs = torch.cat([a @ hs_enc, hs], dim=-1)
        scores = self.affine(hs)
        return TF.cross_entropy(scores.reshape(-1, self.vocab), ts[:, 1:].reshape(-1))


class CBOW(nn.Module):
    """The book's CBOW with negative sampling: h = mean of the contexts' input
    vectors, loss = sum over the positive and the k negatives of each term's
    batch-mean binary cross-entropy. ``sparse``: both embeddings give sparse
    gradients (for SparseAdam)."""

    def __init__(self, W_in, W_out, sparse):
        super().__init__()
        self.emb_in = nn.Embedding.from_pretrained(tensor(W_in), freeze=False, sparse=sparse)
        self.emb_out = nn.Embedding.from_pretrained(tensor(W_out), freeze=False, sparse=sparse)

    def forward(self, contexts, target, negatives):
        h = self.emb_in(contexts).mean(dim=1)                           # (N, H)
        words = torch.cat([target[:, None], negatives], dim=1)          # (N, 1 + k)
        scores = (self.emb_out(words) * h[:, None, :]).sum(dim=-1)
        labels = torch.zeros_like(scores)
        labels[:, 0] = 1
        return TF.binary_cross_entropy_with_logits(scores, labels) * words.shape[1]


class MLP(nn.Module):
    """Linear -> sigmoid -> Linear -> softmax cross-entropy, from the book's (in, out) weights."""

    def __init__(self, weights):
        super().__init__()
        self.fc1 = nn.Linear(*weights["fc1.W"].shape)
        self.fc2 = nn.Linear(*weights["fc2.W"].shape)
        for name in ("fc1", "fc2"):
            layer = getattr(self, name)
            _assign(layer.weight, weights[f"{name}.W"].T)
            _assign(layer.bias, weights[f"{name}.b"])

    def forward(self, x, t):
        return TF.cross_entropy(self.fc2(torch.sigmoid(self.fc1(x))), t)


class NotesAdder(nn.Module):
    """The course notes' binary adder: z_t = sigmoid(x_t W_in + z_{t-1} W),
    y_t = sigmoid(z_t W_out), no biases, loss = sum over the steps of the
    halved squared error of the step's bit. The book's (in, out) layouts as they
    are (x @ W); the input projection of all steps is one matmul, the steps a
    Python loop (nn.RNN has no sigmoid units)."""

    def __init__(self, W_in, W, W_out):
        super().__init__()
        self.W_in, self.W, self.W_out = (nn.Parameter(torch.from_numpy(a.copy()))
                                         for a in (W_in, W, W_out))

    def forward(self, x, d):
        xw = x @ self.W_in                                     # (T, H)
        z, zs = None, []
        for t in range(xw.shape[0]):
            u = xw[t:t + 1] if z is None else xw[t:t + 1] + z @ self.W
            z = torch.sigmoid(u)
            zs.append(z)
        y = torch.sigmoid(torch.cat(zs) @ self.W_out)          # (T, 1)
        return 0.5 * ((y[:, 0] - d) ** 2).sum()


def train_step(model, optimizers, loss_fn, max_grad=None):
    """One training step as a torch user writes it: a function of no arguments."""
    params = [p for p in model.parameters()]

    def step():
        loss = loss_fn()
        for opt in optimizers:
            opt.zero_grad()
        loss.backward()
        if max_grad is not None:
            nn.utils.clip_grad_norm_(params, max_grad)
        for opt in optimizers:
            opt.step()
    return step


def loss_value(model, loss_fn):
    """The loss in eval mode (no dropout), without a graph, as a float."""
    model.eval()
    try:
        with torch.no_grad():
            return float(loss_fn())
    finally:
        model.train()
