"""python -m models train seq2seq / attention-seq2seq and python -m models
compare, run in-process on small generated data sets in the book's format
(the real files are not needed: their checksums are made to fit), and
train_seq2seq's resume file."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import minigrad as mg
from minigrad.data import sequence
from minigrad.data.sequence import numeric_dates, parse_lines
from minigrad.layers import load_weights
from models.__main__ import main
from models.seq2seq import PeekySeq2seq, Seq2seq
from models.seq2seq import train_seq2seq

PNG = b"\x89PNG\r\n\x1a\n"


def addition_lines(n, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 1000, (2, n))
    return [f"{x}+{y}".ljust(7) + "_" + str(x + y).ljust(4) for x, y in zip(a, b)]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """addition.txt and date.txt of 1,000 generated lines each, their MD5 sums
    made the expected ones, and no network."""
    def forbidden(url, dest):
        raise AssertionError(f"test tried to download {url}")
    monkeypatch.setattr(sequence, "_download", forbidden)
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    d = tmp_path / "sequence"
    d.mkdir()
    for name, lines in (("addition.txt", addition_lines(1000)),
                        ("date.txt", numeric_dates(1000))):
        text = "\n".join(lines) + "\n"
        (d / name).write_text(text)
        monkeypatch.setitem(sequence.MD5, name, hashlib.md5(text.encode()).hexdigest())
    return d


def test_train_peeky_seq2seq_writes_checkpoint_metrics_and_curves(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "seq2seq", "--data", str(data_dir), "--quick", "--reverse", "--peeky",
               "--out", str(out), "--no-progress", "--epochs", "2"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "Peeky, reversed: addition, 512 training / 100 test questions" in printed
    name = "peeky-seq2seq-reversed"
    metrics = json.loads((out / f"{name}_metrics.json").read_text())
    assert metrics["label"] == "Peeky, reversed" and metrics["reverse"] is True
    assert len(metrics["test_accuracy"]) == 2 and metrics["iters_per_epoch"] == 4
    assert metrics["test_questions"] == 100 and metrics["model"] == "PeekySeq2seq"
    assert (out / f"{name}_curves.png").read_bytes()[:8] == PNG
    # The checkpoint is the trained model: loaded into a fresh one, the same answers.
    data = sequence.load_sequence("addition", data_dir)
    model = PeekySeq2seq(data.vocab_size, 16, 32, rng=5)
    load_weights(model, out / f"{name}.npz")
    x, t = data.split("test", reverse=True)
    guesses = model.generate(x[:100], data.start_id, t.shape[1] - 1)
    acc = float((guesses == t[:100, 1:]).all(axis=1).mean())
    assert acc == metrics["test_accuracy"][-1]
    assert "test accuracy by epoch: " in printed


def test_train_attention_seq2seq_draws_maps_and_the_decoder_step(data_dir, tmp_path, capsys):
    out = tmp_path / "att"
    rc = main(["train", "attention-seq2seq", "--data", str(data_dir), "--quick",
               "--bidirectional", "--out", str(out), "--no-progress"])
    assert rc == 0
    name = "attention-seq2seq-bidirectional-reversed"
    metrics = json.loads((out / f"{name}_metrics.json").read_text())
    assert metrics["label"] == "Attention, bidirectional encoder, reversed"
    assert metrics["model"] == "AttentionSeq2seq" and metrics["dataset"] == "date"
    assert (out / f"{name}_attention.png").read_bytes()[:8] == PNG
    dot = (out / f"{name}_decoder_step.dot").read_text()
    assert dot.startswith("digraph minigrad {") and "Softmax" in dot and "LSTMSequence" in dot
    printed = capsys.readouterr().out
    assert "attention maps" in printed and "decoder step" in printed


def test_compare_draws_the_runs_in_one_figure(data_dir, tmp_path, capsys):
    paths = []
    for flags, out in ((["--reverse"], "a"), ([], "b")):
        assert main(["train", "seq2seq", "--data", str(data_dir), "--quick", "--no-progress",
                     "--out", str(tmp_path / out), *flags]) == 0
        paths += [str(p) for p in (tmp_path / out).glob("*_metrics.json")]
    capsys.readouterr()
    figure = tmp_path / "compare.png"
    assert main(["compare", *paths, "--out", str(figure)]) == 0
    assert figure.read_bytes()[:8] == PNG
    printed = capsys.readouterr().out
    assert "Seq2seq, reversed" in printed and "Seq2seq " in printed
    bad = tmp_path / "bad_metrics.json"
    bad.write_text(json.dumps({"loss": [1.0]}))
    assert main(["compare", str(bad), "--out", str(tmp_path / "x.png")]) == 2
    assert "no test_accuracy" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_options_that_do_not_fit_and_missing_data(data_dir, tmp_path, capsys):
    # Each model's own options: the other model's are not among them.
    for model, option in (("attention-seq2seq", "--peeky"), ("seq2seq", "--bidirectional")):
        with pytest.raises(SystemExit):
            main(["train", model, "--data", str(data_dir), option, "--quick"])
        assert f"unrecognized arguments: {option}" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "seq2seq", "--data", str(empty), "--quick", "--no-progress",
                 "--out", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert str(empty / "addition.txt") in err and "MINIGRAD_DATA" in err
    assert not (tmp_path / "none").exists()


def test_train_seq2seq_resumes_exactly(tmp_path):
    data = parse_lines(addition_lines(700), name="addition")

    def run(epochs, resume=None, out="full"):
        mg.random.seed(3)
        model = Seq2seq(data.vocab_size, 8, 16, rng=3)
        history = train_seq2seq(model, data, reverse=True, batch_size=64, max_epoch=epochs,
                                out_dir=tmp_path / out, name="s", progress=False,
                                checkpoint_every=5, resume=resume, test_size=50)
        return model, history

    model, full = run(3)
    run(2, out="part")                                     # stopped after 2 epochs...
    resumed_model, resumed = run(3, resume=tmp_path / "part" / "s_resume.npz", out="part")
    assert resumed["loss"] == full["loss"]                 # ...and continued: the same run
    assert resumed["test_accuracy"] == full["test_accuracy"] and len(full["test_accuracy"]) == 3
    for (name, p), (_, q) in zip(model.named_params(), resumed_model.named_params()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def test_book_stream_draws_the_books_initial_weights_and_shuffles(data_dir, tmp_path):
    # The book: seed(1984) and one shuffle of every line in load_data, then the
    # model's randn draws in its order, then one permutation per epoch.
    from models.seq2seq.cli import _book_stream
    from models.seq2seq import AttentionSeq2seq

    data = sequence.load_sequence("date", data_dir)
    saved = np.random.get_state()
    try:
        np.random.seed(1984)
        np.random.shuffle(np.arange(1000))
        V, D, H = data.vocab_size, 16, 8
        book = [np.random.randn(V, D) / 100, np.random.randn(D, 4 * H) / np.sqrt(D),
                np.random.randn(H, 4 * H) / np.sqrt(H), np.zeros(4 * H),
                np.random.randn(V, D) / 100, np.random.randn(D, 4 * H) / np.sqrt(D),
                np.random.randn(H, 4 * H) / np.sqrt(H), np.zeros(4 * H),
                np.random.randn(2 * H, V) / np.sqrt(2 * H), np.zeros(V)]
        first_epoch = np.random.permutation(np.arange(900))
    finally:
        np.random.set_state(saved)
    stream = _book_stream(data)
    weights = AttentionSeq2seq(V, D, H, rng=stream).to_weights()
    for (key, ours), theirs in zip(weights.items(), book):
        np.testing.assert_array_equal(ours, theirs.astype(np.float32), err_msg=key)
    np.testing.assert_array_equal(stream.permutation(900), first_epoch)
    assert main(["train", "attention-seq2seq", "--data", str(data_dir), "--quick",
                 "--book-stream", "--no-progress", "--out", str(tmp_path / "b")]) == 0
