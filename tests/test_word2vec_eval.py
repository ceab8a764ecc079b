"""The book's word2vec queries (models/word2vec/evaluate.py) and the evaluate command."""
import numpy as np
import pytest

from minigrad.data import analogy, most_similar
from minigrad.layers import CheckpointError, save_weights
from models.__main__ import main
from models.word2vec import CBOW, SkipGram
from models.word2vec.evaluate import (BOOK_ANALOGIES, BOOK_NEIGHBOURS, evaluate_vectors,
                                  format_report, load_model)

WORDS = sorted({w for q, near in BOOK_NEIGHBOURS.items() for w in (q,) + near}
               | {w for question in BOOK_ANALOGIES for w in question} | {"worse", "queen's"})
W2I = {w: i for i, w in enumerate(WORDS)}
I2W = {i: w for w, i in W2I.items()}


def _vectors(seed=0):
    return np.random.default_rng(seed).standard_normal((len(WORDS), 8)).astype(np.float32)


def test_ranks_are_positions_in_the_whole_ranking():
    vecs = _vectors()
    result = evaluate_vectors(vecs, W2I, I2W)
    for (a, b, c, answer) in BOOK_ANALOGIES:
        got = result["analogy"][f"{a}:{b}={c}:?"]
        ranking = [w for w, _ in analogy(a, b, c, W2I, I2W, vecs, top=len(WORDS))]
        assert got["answer"] == answer and got["rank"] == ranking.index(answer) + 1
        assert [w for w, _ in got["top"]] == ranking[:5]
    for q, near in BOOK_NEIGHBOURS.items():
        ranking = [w for w, _ in most_similar(q, W2I, I2W, vecs, top=len(WORDS))]
        assert result["most_similar"][q]["book"] == [(w, ranking.index(w) + 1) for w in near]


def test_the_books_answer_first_when_the_vectors_put_it_first():
    vecs = _vectors()
    # king - man + queen pointing exactly at woman: the book's answer ranks 1.
    vecs[W2I["woman"]] = 10 * (vecs[W2I["man"]] - vecs[W2I["king"]] + vecs[W2I["queen"]])
    result = evaluate_vectors(vecs, W2I, I2W)
    assert result["analogy"]["king:man=queen:?"]["rank"] == 1
    text = format_report(result)
    assert "[analogy] king:man=queen:? woman" in text
    assert "the book's answer woman: rank 1" in text
    assert text.count("[query]") == 4 and text.count("[analogy]") == 4


@pytest.mark.parametrize("cls", [CBOW, SkipGram])
def test_load_model_reads_what_training_saved(tmp_path, cls):
    model = cls(len(WORDS), 8, 2, None, counts=np.ones(len(WORDS)), rng=3)
    save_weights(model, tmp_path / "w.npz")
    loaded = load_model(tmp_path / "w.npz", cls, len(WORDS))
    assert np.array_equal(loaded.word_vecs, model.word_vecs)


def test_load_model_errors_name_the_file_and_what_to_pass(tmp_path):
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(CheckpointError, match="text.npz"):
        load_model(tmp_path / "text.npz", CBOW, 10)
    np.savez(tmp_path / "other.npz", W=np.zeros((3, 2)))
    with pytest.raises(CheckpointError, match=r"no word vectors.*\['W'\].*train cbow"):
        load_model(tmp_path / "other.npz", CBOW, 10)
    model = CBOW(12, 4, 2, None, counts=np.ones(12))
    save_weights(model, tmp_path / "v12.npz")
    with pytest.raises(CheckpointError, match=r"shape differs.*\(10, 4\).*\(12, 4\)"):
        load_model(tmp_path / "v12.npz", CBOW, 10)


def test_cli_evaluate_reports_a_bad_checkpoint_with_exit_status_2(tmp_path, capsys, monkeypatch):
    import models.__main__ as cli

    def vocabulary(split, data_dir=None):
        return None, W2I, I2W
    monkeypatch.setattr("minigrad.data.load_ptb", vocabulary)
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    assert main(["evaluate", "cbow", str(tmp_path / "bad.npz")]) == 2
    assert "bad.npz" in capsys.readouterr().err
    model = CBOW(len(WORDS), 8, 2, None, counts=np.ones(len(WORDS)), rng=0)
    save_weights(model, tmp_path / "ok.npz")
    assert cli.main(["evaluate", "cbow", str(tmp_path / "ok.npz")]) == 0
    out = capsys.readouterr().out
    assert format_report(evaluate_vectors(model.word_vecs, W2I, I2W)) in out
