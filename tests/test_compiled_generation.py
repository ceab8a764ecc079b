"""The seq2seq models' greedy generation, compiled: recorded once per
signature (batch size, length, start id) and replayed, each step's argmax
feeding the next step's Embedding. The answers equal eager generation's."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad.compiled import replayed_generations
from models.seq2seq import AttentionSeq2seq, PeekySeq2seq, Seq2seq

V, Te, LENGTH, START = 13, 7, 6, 6


def _sharp(model):
    """Large weights, so that the answers depend on the questions and vary
    from step to step (a frozen argmax would show)."""
    for p in model.params():
        p.data *= 40
    return model


def _questions(batches, batch_size, last, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [batch_size] * (batches - 1) + [last]
    return [rng.integers(0, V, (n, Te)) for n in sizes]


@pytest.mark.parametrize("cls", [Seq2seq, PeekySeq2seq, AttentionSeq2seq])
def test_compiled_greedy_generation_gives_the_eager_answers_over_many_batches(cls):
    model = _sharp(cls(V, 8, 16, rng=0))
    questions = _questions(12, batch_size=5, last=2)
    # Every answer kept until the end: a replay must not overwrite an earlier one.
    compiled = [model.generate(xs, START, LENGTH) for xs in questions]
    eager = [model.generate(xs, START, LENGTH, compiled=False) for xs in questions]
    for i, (got, want) in enumerate(zip(compiled, eager)):
        np.testing.assert_array_equal(got, want, err_msg=f"batch {i}")
    answers = np.concatenate(eager)
    assert len(np.unique(answers)) > 3 and (answers[:, 1:] != answers[:, :-1]).any()
    assert len({a.tobytes() for a in eager[:-1]}) == len(eager) - 1   # batches differ
    (gen,) = replayed_generations(model)
    # At most four recordings: the first call (no LSTM state left on the layers
    # yet), two of 5 questions, one of the last 2; the rest replayed.
    assert gen.recordings <= 4 and gen.replays == 12 - gen.recordings


def test_a_replayed_generation_follows_weights_changed_by_training_in_between():
    model = _sharp(Seq2seq(V, 8, 16, rng=0))
    xs = _questions(1, 4, 4)[0]
    for _ in range(3):
        model.generate(xs, START, LENGTH)                   # recorded, recorded, replayed
    for p in model.params():
        p.data[...] = np.random.default_rng(1).normal(size=p.shape) * 40
    np.testing.assert_array_equal(model.generate(xs, START, LENGTH),
                                  model.generate(xs, START, LENGTH, compiled=False))


def test_a_copy_of_the_model_generates_with_its_own_weights():
    import copy
    model = _sharp(AttentionSeq2seq(V, 8, 16, rng=0))
    xs = _questions(1, 4, 4)[0]
    for _ in range(3):
        model.generate(xs, START, LENGTH)
    twin = copy.deepcopy(model)
    for p in twin.params():
        p.data[...] = np.random.default_rng(2).normal(size=p.shape) * 40
    for questions in (xs, _questions(1, 3, 3, seed=1)[0]):    # recorded before, and not
        for _ in range(3):
            got = twin.generate(questions, START, LENGTH)
        np.testing.assert_array_equal(got, twin.generate(questions, START, LENGTH,
                                                         compiled=False))
        assert (got != model.generate(questions, START, LENGTH)).any()


def test_a_new_length_or_start_id_is_another_signature():
    model = _sharp(PeekySeq2seq(V, 8, 16, rng=0))
    xs = _questions(1, 4, 4)[0]
    for length, start in [(4, START), (5, START), (4, 2), (4, START), (4, START)]:
        np.testing.assert_array_equal(model.generate(xs, start, length),
                                      model.generate(xs, start, length, compiled=False))
    (gen,) = replayed_generations(model)
    assert gen.replays == 0 and gen.recordings == 5


def test_generation_runs_eagerly_in_an_eager_block_with_a_mask_and_in_anomaly_mode():
    model = _sharp(AttentionSeq2seq(V, 8, 16, rng=0))
    xs = _questions(1, 3, 3)[0]
    mask = np.ones(xs.shape, dtype=bool)
    mask[0, :2] = False
    with mg.training.eager():
        model.generate(xs, START, LENGTH)
    model.generate(xs, START, LENGTH, mask=mask)
    with mg.detect_anomaly():
        model.generate(xs, START, LENGTH)
    assert not replayed_generations(model)


def test_an_argmax_taken_in_numpy_would_be_frozen_and_is_refused():
    model = _sharp(Seq2seq(V, 8, 16, rng=0))

    def numpy_argmax(xs):
        with mg.no_grad():
            state = model.decoder.begin(model.encoder(xs))[0]
            x, picks = np.full((len(xs), 1), START), []
            for _ in range(3):
                scores, state = model.decoder.run(x, state, None)
                x = scores.data[:, -1].argmax(axis=-1).reshape(-1, 1)   # not an operation
                picks.append(x)
            return scores

    fast = mg.compile(numpy_argmax, model)
    with pytest.raises(mg.CompileError, match="GetItem.*other values in the second call"):
        for xs in _questions(3, 4, 4):    # two recordings of one signature at most
            fast(xs)


def test_ids_an_operation_computed_are_an_input_of_the_lookup_with_the_gradient_of_before():
    rng = np.random.default_rng(0)
    W = mg.Variable(rng.normal(size=(5, 3)))
    scores = mg.Variable(rng.normal(size=(4, 5)))
    ids = F.argmax_ids(scores * 1.0)
    looked_up = F.embedding(W, ids)
    assert looked_up.creator.inputs[1] is ids
    (looked_up ** 2).sum().backward()
    W_plain = mg.Variable(W.data.copy())
    (F.embedding(W_plain, ids.data) ** 2).sum().backward()
    np.testing.assert_array_equal(W.grad.data, W_plain.grad.data)
    assert scores.grad is None
