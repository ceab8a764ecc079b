"""Comparing an autograd model with its hand-written twin: the same float64
weights in both, the same batches through both, the largest relative
difference of the loss and of every weight's gradient.

Every model's twin keeps one protocol: built from the model's weight dict
(``to_weights()``'s keys), ``forward(batch)`` returns the loss of one batch
``(inputs, targets)`` or ``(inputs, targets, extra)``, ``backward()`` runs the
book's backward pass, ``grads()`` returns the gradients keyed like the weights.

Each family's ``check.py`` builds its pairs (``build_lm_pair``,
``build_seq2seq_pair``, ...) on :func:`random_weights`; the tour and the tests
measure them with :func:`twin_errors` against :data:`TWIN_TOL`.
"""
from __future__ import annotations

import numpy as np

__all__ = ["rel_err", "random_weights", "twin_errors", "TWIN_TOL", "REL_ERR_FLOOR"]

f64 = np.float64
TWIN_TOL = 1e-6          # the bound on |autograd - twin| / |twin|

# A gradient much smaller than the terms summed into it (a bias's gradient whose
# per-position terms nearly cancel) carries their rounding, not a rounding of
# its own size: below this size the difference is measured absolutely.
REL_ERR_FLOOR = 1e-3


def rel_err(a, b) -> float:
    """max |a - b| relative to max |b| (b the twin's, the reference), or to
    ``REL_ERR_FLOOR`` when every |b| is smaller than that."""
    a, b = np.asarray(a, dtype=f64), np.asarray(b, dtype=f64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), REL_ERR_FLOOR))


def random_weights(model, seed=0, scale=0.5) -> dict:
    """float64 weights of ``model``'s layout, large enough that every tanh and
    sigmoid works off its flat parts and every bias is non-zero (small or zero
    weights would hide a gate wired to the wrong slice)."""
    r = np.random.default_rng(seed)
    return {k: scale * r.standard_normal(a.shape) for k, a in model.to_weights().items()}


def _model_loss(model, xs, ts, extra):
    """The loss of one batch; ``extra`` is what the twin's forward takes too: a
    list of dropout keep-masks (BetterRnnlm), an encoder mask (attention), the
    negatives (word2vec), or None."""
    if extra is None:
        return model.loss(xs, ts)
    if isinstance(extra, list):
        # The autograd side takes the masks already scaled, as Dropout applies them.
        return model.loss(xs, ts, masks=[k / (1.0 - model.dropout_ratio) for k in extra])
    return model.loss(xs, ts, extra)


def _dense(grad):
    """A gradient as one array: sparse row gradients (an embedding's) made whole."""
    return grad.to_dense() if hasattr(grad, "to_dense") else grad.data


def twin_errors(model, twin, batches) -> dict:
    """Run consecutive batches ``(xs, ts, extra)`` through both (stateful for the
    language models); the largest relative difference over the batches of the
    loss ("loss") and of every weight's gradient (by the book's key of
    ``model.named_weights()``). ``extra``: BetterRnnlm's dropout keep-masks (a list),
    an attention model's mask over the encoder's steps, word2vec's negatives, or None."""
    errors = {}
    weights = model.named_weights()
    for xs, ts, extra in batches:
        loss = _model_loss(model, xs, ts, extra)
        twin_loss = twin.forward((xs, ts) if extra is None else (xs, ts, extra))
        model.zero_grad()
        loss.backward()
        twin.backward()
        found = {"loss": rel_err(loss.data, twin_loss)}
        expected = twin.grads()
        if set(weights) != set(expected):
            raise KeyError(f"twin_errors: the model's weights {sorted(weights)} are not the "
                           f"twin's {sorted(expected)}")
        for key, p in weights.items():
            # A weight the batch never reached (Wh over a single step from a zero
            # state) has no gradient: that is a gradient of zeros, as the twin says.
            found[key] = rel_err(np.zeros(p.shape) if p.grad is None else _dense(p.grad),
                                 expected[key])
        for k, e in found.items():
            errors[k] = max(errors.get(k, 0.0), e)
    return errors
