"""The book's shipped trained weights (Rnnlm.pkl, AttentionSeq2seq.pkl,
cbow_params.pkl): read without running anything a pickle names, loaded into
minigrad's models, and giving what the book's own code computes from them
(the figures of ../shared/data/book-weights/README.md)."""
import io
import pickle
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad.data import analogy, load_ptb, load_sequence
from minigrad.layers import (CheckpointError, UnsafePickleError, book_params, load_pickle,
                             load_weights)
from models.__main__ import main
from models.rnnlm import Rnnlm, eval_perplexity
from models.shared.weights import WeightsError
from models.seq2seq import AttentionSeq2seq, exact_match_accuracy
from models.word2vec import CBOW
from models.word2vec.evaluate import BOOK_ANALOGIES

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BOOK = DATA / "book-weights"
PTB, SEQUENCE = DATA / "ptb", DATA / "sequence"
RNNLM_WORDS = 20_000          # the README's figure: the first 20,000 test words, 20 x 35
BOOK_PERPLEXITY = 123.23
DATE_QUESTIONS = 1_000


class _WritesMarker:
    """Unpickling this calls exec, which writes ``path``: what a hostile file does."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return exec, (f"open({self.path!r}, 'w').write('ran')",)


@pytest.mark.parametrize("nested", [False, True])
def test_a_pickle_that_would_run_code_is_refused_before_it_runs(tmp_path, nested):
    marker = tmp_path / "marker"
    payload = _WritesMarker(marker)
    data = pickle.dumps([np.ones(3, np.float16), {"x": payload}] if nested else payload)
    with pytest.raises(UnsafePickleError, match=r"refused the global 'builtins\.exec'.*Nothing"):
        load_pickle(io.BytesIO(data))
    assert not marker.exists()
    path = tmp_path / "hostile.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafePickleError, match="hostile.pkl"):
        load_weights(Rnnlm(5, 2, 2, rng=0), path)
    assert not marker.exists()
    pickle.loads(data)             # the file really runs code under plain pickle
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_of_every_protocol_loads(protocol):
    grid = np.arange(12, dtype=np.float16).reshape(3, 4)
    data = {"arrays": [grid, grid.T, np.array([1, 2], np.int64)], "name": "x", "n": (3, 2.5)}
    back = load_pickle(io.BytesIO(pickle.dumps(data, protocol=protocol)))
    assert back["name"] == "x" and back["n"] == (3, 2.5)
    for got, want in zip(back["arrays"], data["arrays"]):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_a_damaged_pickle_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes((BOOK / "Rnnlm.pkl").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="cut.pkl is not a readable pickle"):
        load_pickle(path)


def test_the_books_files_hold_plain_data():
    arrays = book_params(BOOK / "Rnnlm.pkl")
    assert [a.shape for a in arrays] == [(10000, 100), (100, 400), (100, 400), (400,),
                                         (100, 10000), (10000,)]
    assert {a.dtype for a in arrays} == {np.dtype(np.float16)}
    assert len(book_params(BOOK / "AttentionSeq2seq.pkl")) == 10
    with pytest.raises(CheckpointError, match=r"holds a dict with keys \['id_to_word', "
                                              r"'word_to_id', 'word_vecs'\]"):
        book_params(BOOK / "cbow_params.pkl")


def test_load_weights_takes_the_books_params_in_order_cast_to_the_models_dtype():
    model = Rnnlm(10000, 100, 100, rng=0)
    load_weights(model, BOOK / "Rnnlm.pkl")
    arrays = book_params(BOOK / "Rnnlm.pkl")
    for (name, p), a in zip(model.named_params(), arrays):
        assert p.dtype == np.float32, name
        np.testing.assert_array_equal(p.data, a.astype(np.float32))
    before = {name: p.data.copy() for name, p in model.named_params()}
    with pytest.raises(CheckpointError, match=r"holds 10 arrays.*has 6 parameters.*nothing was"):
        load_weights(model, BOOK / "AttentionSeq2seq.pkl")
    with pytest.raises(CheckpointError, match=r"lstm\.Wh: shape differs: the model has \(50, 200\), the file has \(100, 400\)"):
        load_weights(Rnnlm(10000, 100, 50, rng=0), BOOK / "Rnnlm.pkl")
    for name, p in model.named_params():
        np.testing.assert_array_equal(p.data, before[name])


def test_from_book_refuses_another_models_file():
    with pytest.raises(CheckpointError, match=r"holds 6 arrays.*AttentionSeq2seq\) has 10"):
        AttentionSeq2seq.from_book(BOOK / "Rnnlm.pkl")
    with pytest.raises(CheckpointError, match="word_vecs"):
        Rnnlm.from_book(BOOK / "cbow_params.pkl")


def test_from_book_needs_an_embedding_and_a_recurrent_layer(tmp_path):
    path = tmp_path / "short.pkl"
    path.write_bytes(pickle.dumps([np.ones((4, 2), np.float16)]))
    with pytest.raises(WeightsError, match=r"Rnnlm.from_book: .*short.pkl holds \(4, 2\) "
                                           "float16; the book's params list begins"):
        Rnnlm.from_book(path)


@pytest.mark.slow
def test_rnnlm_pkl_gives_the_books_perplexity():
    model = Rnnlm.from_book(BOOK / "Rnnlm.pkl")
    assert model.embed.W.dtype == np.float32        # the book's code computes in float32
    test, _, _ = load_ptb("test", data_dir=PTB)
    ppl = eval_perplexity(model, test[:RNNLM_WORDS], batch_size=20, time_size=35)
    assert round(ppl, 2) == BOOK_PERPLEXITY


@pytest.mark.slow
def test_attention_seq2seq_pkl_answers_every_date_question():
    model = AttentionSeq2seq.from_book(BOOK / "AttentionSeq2seq.pkl")
    assert (model.vocab_size, model.wordvec_size, model.hidden_size) == (59, 16, 256)
    xs, ts = load_sequence("date", SEQUENCE).split("test", reverse=True)
    accuracy, _ = exact_match_accuracy(model, xs[:DATE_QUESTIONS], ts[:DATE_QUESTIONS])
    assert accuracy == 1.0


def test_cbow_params_pkl_gives_the_books_analogies():
    vecs, word_to_id, id_to_word = CBOW.from_book(BOOK / "cbow_params.pkl")
    assert vecs.dtype == np.float16 and vecs.shape == (10000, 100)
    _, ptb_word_to_id, _ = load_ptb("train", data_dir=PTB)
    assert word_to_id == ptb_word_to_id
    for a, b, c, answer in BOOK_ANALOGIES:
        assert analogy(a, b, c, word_to_id, id_to_word, vecs, top=1)[0][0] == answer


@pytest.mark.slow
def test_the_evaluate_command_reads_the_books_files(capsys):
    assert main(["evaluate", "rnnlm", str(BOOK / "Rnnlm.pkl"), "--words", str(RNNLM_WORDS),
                 "--data", str(PTB)]) == 0
    assert f"test perplexity ({RNNLM_WORDS} words of ptb.test): {BOOK_PERPLEXITY}" in \
        capsys.readouterr().out
    assert main(["evaluate", "attention-seq2seq", str(BOOK / "AttentionSeq2seq.pkl"),
                 "--questions", str(DATE_QUESTIONS), "--data", str(SEQUENCE)]) == 0
    assert "accuracy (1000 date test questions, reversed): 100.0%" in capsys.readouterr().out
    assert main(["evaluate", "cbow", str(BOOK / "cbow_params.pkl")]) == 0
    out = capsys.readouterr().out
    for answer in ("woman", "went", "children", "more"):
        assert f"the book's answer {answer}: rank 1" in out


def test_the_evaluate_command_reports_a_file_of_another_model(capsys):
    assert main(["evaluate", "rnnlm", str(BOOK / "AttentionSeq2seq.pkl"),
                 "--data", str(PTB)]) == 2
    err = capsys.readouterr().err
    assert "holds 10 arrays" in err and "Traceback" not in err


def test_from_weights_points_a_params_list_at_from_book():
    arrays = book_params(BOOK / "AttentionSeq2seq.pkl")
    with pytest.raises(WeightsError, match=r"AttentionSeq2seq.from_weights: weights must be a "
                                           r"dict.*got a list.*AttentionSeq2seq.from_book"):
        AttentionSeq2seq.from_weights(arrays)
    with pytest.raises(WeightsError, match=r"CBOW.from_weights: .*got a tuple"):
        CBOW.from_weights(tuple(arrays), window_size=5)


def test_the_books_weights_load_on_the_models_device(xp):
    model = Rnnlm(10000, 100, 100, rng=0)
    if xp is not np:
        model.to_gpu()
    load_weights(model, BOOK / "Rnnlm.pkl")
    for (name, p), a in zip(model.named_params(), book_params(BOOK / "Rnnlm.pkl")):
        assert isinstance(p.data, xp.ndarray) and p.dtype == np.float32, name
        np.testing.assert_array_equal(mg.to_cpu(p.data), a.astype(np.float32))
