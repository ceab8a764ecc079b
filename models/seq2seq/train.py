"""Training the encoder-decoder models as the book's ch07/train_seq2seq.py and
ch08/train.py do: the book's ``Trainer`` (here :class:`minigrad.training.Trainer`)
with Adam and global-norm clipping, one epoch at a time, and after each epoch
the exact-match accuracy on the test questions.

The book evaluates one question at a time; here the 5,000 test questions go
through :meth:`generate` in batches, which gives the same answers (the tests
check batched against one-at-a-time generation).
"""
from __future__ import annotations

from minigrad.data import ShuffledBatches

from ..shared.training import fit
from .model import exact_match_accuracy

__all__ = ["train_seq2seq", "BOOK_SETTINGS", "show_answers"]

# The book's hyper-parameters (ch07/train_seq2seq.py, ch08/train.py).
BOOK_SETTINGS = {
    "addition": dict(wordvec_size=16, hidden_size=128, batch_size=128, max_epoch=25, lr=1e-3,
                     max_grad=5.0),
    "date": dict(wordvec_size=16, hidden_size=256, batch_size=128, max_epoch=10, lr=1e-3,
                 max_grad=5.0),
}


def show_answers(model, data, xs, ts, guesses, reverse, count=3) -> list:
    """The book's verbose lines for the first ``count`` questions: Q (as
    written, whatever the model read), T (the answer), then the guess marked
    with a check or a cross."""
    lines = []
    for x, t, g in zip(xs[:count], ts[:count], guesses[:count]):
        question = data.decode(x[::-1] if reverse else x)
        truth, guess = data.decode(t[1:]), data.decode(g)
        lines.append(f"Q {question}  T {truth}  {'ok' if guess == truth else 'X '} {guess}")
    return lines


def train_seq2seq(model, data, *, reverse=False, batch_size=128, max_epoch=25, lr=1e-3,
                  optimizer="adam", max_grad=5.0, out_dir=None, name="seq2seq", progress=True,
                  report_every=20, eval_batch_size=1000, test_size=None, checkpoint_every=None,
                  resume=None, comm=None, rng=None, stop_on_nonfinite=True, anomaly=False):
    """Train ``model`` on ``data`` (a :class:`~minigrad.data.SequenceData`); returns
    the history. The options are every trainer's (:mod:`models.shared.training`).

    Each epoch is one pass over the training questions in shuffled minibatches
    (``len // batch_size`` of them, the book's Trainer), Adam (``lr``, the
    book's update) and gradients clipped to global norm ``max_grad``. After each
    epoch the book's exact-match accuracy on the test set (its first
    ``test_size`` questions if given) is recorded in ``history["test_accuracy"]``
    and, with ``out_dir``, the weights are saved to ``out_dir/{name}.npz``
    (atomically). ``reverse``: the questions are read backwards, in training and
    in testing. ``rng``: the generator of the epochs' shuffles (default
    minigrad.random's).
    """
    x_train, t_train = data.split("train", reverse)
    x_test, t_test = data.split("test", reverse)
    if test_size is not None:
        x_test, t_test = x_test[:test_size], t_test[:test_size]

    def test(loop, epoch):
        acc, guesses = exact_match_accuracy(model, x_test, t_test, batch_size=eval_batch_size)
        loop.history["test_accuracy"].append(acc)
        for line in show_answers(model, data, x_test, t_test, guesses, reverse):
            loop.note(f"  {line}")
        loop.note(f"| epoch {epoch + 1} | test accuracy {100 * acc:.2f}% "
                  f"({len(t_test)} questions)")

    batches = ShuffledBatches(x_train, t_train, batch_size=batch_size, rng=rng)
    return fit(model, batches, max_epoch=max_epoch, lr=lr, optimizer=optimizer,
               max_grad=max_grad, out_dir=out_dir, name=name, progress=progress,
               report_every=report_every, checkpoint_every=checkpoint_every, resume=resume,
               comm=comm, stop_on_nonfinite=stop_on_nonfinite, anomaly=anomaly,
               after_epoch=test, trainer="train_seq2seq",
               history={"batch_size": batch_size, "data": data.name, "reverse": bool(reverse),
                        "test_questions": len(t_test), "test_accuracy": []})
