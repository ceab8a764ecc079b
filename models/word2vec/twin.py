"""The book's CBOW and skip-gram, layer by layer from the hand-written layers:
the twins of models.word2vec's CBOW and SkipGram."""
from __future__ import annotations

from ..book_layers.layers import Embedding, NegativeSamplingLoss

__all__ = ["twin_cbow", "twin_skipgram"]


def twin_cbow(W_in, W_out, contexts, target, negatives):
    """The book's CBOW: one Embedding per context position, h their mean.
    Returns (loss, dW_in, dW_out); negatives have shape (N, k)."""
    C = contexts.shape[1]
    ins = [Embedding(W_in.copy()) for _ in range(C)]
    ns = NegativeSamplingLoss(W_out.copy(), negatives.shape[-1])
    h = sum(layer.forward(contexts[:, i]) for i, layer in enumerate(ins)) / C
    loss = ns.forward(h, target, negatives)
    dh = ns.backward(1.0) / C
    for layer in ins:
        layer.backward(dh)
    return loss, sum(layer.grads[0] for layer in ins), ns.grads[0]


def twin_skipgram(W_in, W_out, contexts, target, negatives):
    """The book's skip-gram: one loss layer per context position, all sharing
    W_out. Returns (loss, dW_in, dW_out); negatives have shape (N, 2w, k)."""
    C, k = contexts.shape[1], negatives.shape[-1]
    emb = Embedding(W_in.copy())
    losses = [NegativeSamplingLoss(W_out.copy(), k) for _ in range(C)]
    h = emb.forward(target)
    loss = sum(layer.forward(h, contexts[:, i], negatives[:, i])
               for i, layer in enumerate(losses))
    emb.backward(sum(layer.backward(1.0) for layer in losses))
    return loss, emb.grads[0], sum(layer.grads[0] for layer in losses)
