"""Training loops, outputs, sampling and the command line (models.rnnlm.train,
models.word2vec.train, models.rnnlm.generate_text, python -m models), on tiny
generated corpora."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad.random
from minigrad.data import create_contexts_target, load_small_corpus
from minigrad.layers import load_weights
from minigrad.optimizers import SGD
from models.__main__ import main
from models.rnnlm.generate_text import generate, ids_to_text
from models.rnnlm import Rnnlm, SimpleRnnlm, eval_perplexity
from minigrad.training import save_outputs
from models.rnnlm import train_rnnlm
from models.word2vec import train_word2vec
from models.word2vec import CBOW

ROOT = Path(__file__).resolve().parents[1]
PTB = ROOT.parent / "shared" / "data" / "ptb"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def corpus():
    words, word_to_id, id_to_word = load_small_corpus(300)
    split = int(len(words) * 0.8)
    return words[:split], words[split:], len(word_to_id), id_to_word


def small_lm(vocab, seed=0):
    return Rnnlm(vocab, 16, 16, rng=seed)


def stub_evaluate(values):
    """An evaluate() that hands out the given perplexities, one per epoch."""
    it = iter(values)
    return lambda model, corpus: next(it)


# --------------------------------------------------------------- train_rnnlm
def test_rnnlm_perplexity_falls_and_outputs_are_written(corpus, tmp_path):
    train, valid, vocab, _ = corpus
    model = small_lm(vocab)
    start_valid = eval_perplexity(model, valid, batch_size=5, time_size=10)
    history = train_rnnlm(model, train, valid, batch_size=10, time_size=10, lr=0.01,
                          optimizer="adam", max_epoch=3, max_grad=1.0, out_dir=tmp_path,
                          name="lm", progress=False, report_every=10, eval_batch_size=5)
    # Starts near the vocabulary size (uniform guessing) and must fall well below it.
    assert history["train_ppl"][0] > 0.5 * vocab
    assert history["train_ppl"][-1] < 0.3 * history["train_ppl"][0]
    assert history["valid_ppl"][-1] < 0.3 * start_valid
    assert history["valid_ppl"] == sorted(history["valid_ppl"], reverse=True)
    per = history["iters_per_epoch"]
    assert per == (len(train) - 1) // 100 and history["train_iters"][-1] == 3 * per
    assert history["best_epoch"] == 3 and Path(history["checkpoint"]).is_file()

    paths = save_outputs(history, tmp_path, "lm")
    assert Path(paths["plot"]).read_bytes()[:8] == PNG_MAGIC
    saved = json.loads(Path(paths["metrics"]).read_text())
    assert saved["valid_ppl"] == pytest.approx(history["valid_ppl"])
    assert saved["train_ppl"] == pytest.approx(history["train_ppl"])
    assert saved["checkpoint"] == history["checkpoint"]
    # No temporaries left behind by the atomic writes.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lm_best.npz", "lm_curves.png",
                                                           "lm_metrics.json"]


def test_best_checkpoint_is_the_best_validation_model(corpus, tmp_path):
    train, valid, vocab, _ = corpus
    calls = []

    def evaluate(model, c):
        # Real perplexities, but every epoch except the second made to look bad,
        # so the best model is not simply the last one.
        ppl = eval_perplexity(model, c, batch_size=5, time_size=10)
        calls.append(ppl)
        return ppl if len(calls) == 2 else ppl * 100

    model = small_lm(vocab)
    history = train_rnnlm(model, train, valid, batch_size=10, time_size=10, lr=0.01,
                          optimizer="adam", max_epoch=3, out_dir=tmp_path, progress=False,
                          evaluate=evaluate)
    assert history["best_epoch"] == 2 and history["best_valid_ppl"] == calls[1]
    reloaded = small_lm(vocab, seed=1)
    load_weights(reloaded, history["checkpoint"])
    assert eval_perplexity(reloaded, valid, 5, 10) == pytest.approx(calls[1], rel=1e-6)
    final = eval_perplexity(model, valid, 5, 10)
    assert final == pytest.approx(calls[2], rel=1e-6) and final != pytest.approx(calls[1])


def test_lr_schedule_divides_by_4_when_validation_gets_worse(corpus):
    train, valid, vocab, _ = corpus
    model = small_lm(vocab)
    opt = SGD(model, lr=1.0)
    history = train_rnnlm(model, train, valid, batch_size=10, time_size=10, lr=None,
                          optimizer=opt, max_epoch=5, lr_schedule="divide_by_4_when_worse",
                          progress=False, evaluate=stub_evaluate([10, 8, 9, 7, 7]))
    # worse at epoch 3 and a tie at epoch 5 (not better: the book divides too)
    assert history["lr"] == [1.0, 1.0, 1.0, 0.25, 0.25]
    assert opt.lr == 1.0 / 16
    assert history["best_valid_ppl"] == 7 and history["best_epoch"] == 4
    assert history["checkpoint"] is None     # no out_dir: nothing saved


def test_no_schedule_keeps_lr_and_bad_schedule_is_rejected(corpus):
    train, valid, vocab, _ = corpus
    opt = SGD(small_lm(vocab), lr=1.0)
    history = train_rnnlm(opt.model, train, valid, batch_size=10, time_size=10, lr=None,
                          optimizer=opt, max_epoch=2, progress=False,
                          evaluate=stub_evaluate([5, 9]))
    assert history["lr"] == [1.0, 1.0] and opt.lr == 1.0
    with pytest.raises(ValueError, match="lr_schedule"):
        train_rnnlm(opt.model, train, valid, batch_size=10, time_size=10, lr=1.0,
                    max_epoch=1, lr_schedule="halve")
    # A validation corpus too short to evaluate fails before any training.
    before = opt.model.affine.W.data.copy()
    with pytest.raises(ValueError, match="valid_corpus has 50 words"):
        train_rnnlm(opt.model, train, valid[:50], batch_size=10, time_size=10, lr=1.0,
                    max_epoch=1, progress=False)
    np.testing.assert_array_equal(opt.model.affine.W.data, before)


def test_without_validation_the_final_model_is_saved(corpus, tmp_path):
    train, _, vocab, _ = corpus
    model = SimpleRnnlm(vocab, 8, 8, rng=0)
    history = train_rnnlm(model, train[:400], batch_size=5, time_size=5, lr=0.1, max_epoch=1,
                          out_dir=tmp_path, name="simple", progress=False)
    assert history["valid_ppl"] == [] and history["checkpoint"] == str(tmp_path / "simple.npz")
    copy = SimpleRnnlm(vocab, 8, 8, rng=1)
    load_weights(copy, history["checkpoint"])
    np.testing.assert_array_equal(copy.affine.W.data, model.affine.W.data)


def test_progress_with_tqdm_without_tqdm_and_off(corpus, capsys, monkeypatch):
    tqdm_module = pytest.importorskip("tqdm")
    train, _, vocab, _ = corpus
    kwargs = dict(batch_size=10, time_size=10, lr=0.1, max_epoch=1, report_every=5)
    short = train[:501]                        # 5 batches: one report

    bars = []

    class Recording(tqdm_module.tqdm):
        # tqdm redraws at most every 0.1 s, so the captured text may miss the
        # last steps: record the bar's own count instead.
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)
    monkeypatch.setattr(tqdm_module, "tqdm", Recording)
    # A bar is drawn only on a terminal (elsewhere lines are printed).
    monkeypatch.setattr("minigrad.training.progress._on_a_terminal", lambda stream: True)
    train_rnnlm(small_lm(vocab), short, progress=True, **kwargs)
    out, err = capsys.readouterr()
    assert "epoch 1/1" in err and out == ""
    assert len(bars) == 1 and (bars[0].n, bars[0].total) == (5, 5)
    assert "iter 5 | perplexity" in bars[0].postfix

    monkeypatch.setitem(sys.modules, "tqdm", None)      # import tqdm now fails
    train_rnnlm(small_lm(vocab), short, progress=True, **kwargs)
    out, err = capsys.readouterr()
    assert "| epoch 1/1 | iter 5 | perplexity" in out and err == ""

    train_rnnlm(small_lm(vocab), short, progress=False, **kwargs)
    assert capsys.readouterr() == ("", "")


# --------------------------------------------------------------- outputs
def test_missing_matplotlib_gives_a_note_and_still_writes_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    history = {"model": "X", "train_iters": [1, 2], "train_loss": [np.float32(2.0), 1.0],
               "shape": np.arange(2)}
    paths = save_outputs(history, tmp_path / "new", "x")
    assert "pip install 'minigrad[plot]'" in capsys.readouterr().out
    assert paths["plot"] is None and not list((tmp_path / "new").glob("*.png"))
    assert json.loads(Path(paths["metrics"]).read_text()) == {
        "model": "X", "train_iters": [1, 2], "train_loss": [2.0, 1.0], "shape": [0, 1]}


def test_loss_curves_are_plotted(tmp_path):
    pytest.importorskip("matplotlib")
    paths = save_outputs({"model": "CBOW", "train_iters": [1, 2, 3], "train_loss": [3, 2, 1]},
                         tmp_path, "w2v")
    assert Path(paths["plot"]).read_bytes()[:8] == PNG_MAGIC


# --------------------------------------------------------------- train_word2vec
def test_word2vec_loss_falls_repeatably_and_is_saved(corpus, tmp_path):
    train, _, vocab, _ = corpus
    contexts, target = create_contexts_target(train, window_size=2)

    def run(out_dir=None):
        minigrad.random.seed(3)
        model = CBOW(vocab, 16, 2, train, rng=0)
        return model, train_word2vec(model, contexts, target, batch_size=50, max_epoch=4,
                                     lr=0.01, out_dir=out_dir, name="cbow", progress=False)

    model, history = run(tmp_path)
    assert history["iters_per_epoch"] == len(target) // 50
    assert history["epoch_loss"][-1] < 0.8 * history["epoch_loss"][0]
    copy = CBOW(vocab, 16, 2, train, rng=1)
    load_weights(copy, history["checkpoint"])
    np.testing.assert_array_equal(copy.word_vecs, model.word_vecs)
    # The same seed gives the same shuffles, hence the same losses.
    assert run()[1]["loss"] == history["loss"]


@pytest.mark.parametrize("data_on_device", [True, False])
def test_word2vec_trains_on_each_backend(corpus, xp, data_on_device):
    # The model on the device, its pairs moved there too (the book's recipe)
    # or left on the host: the same run as on the CPU.
    train, _, vocab, _ = corpus
    contexts, target = create_contexts_target(train, window_size=2)

    def run(on):
        minigrad.random.seed(3)
        model = CBOW(vocab, 16, 2, train, rng=0)
        pairs = (contexts, target)
        if on is not np:
            model.to_gpu()
            pairs = [minigrad.to_gpu(a) for a in pairs] if data_on_device else pairs
        history = train_word2vec(model, *pairs, batch_size=50, max_epoch=1, lr=0.01,
                                 progress=False)
        return history["loss"], minigrad.to_cpu(model.word_vecs)

    (loss, vecs), (expected_loss, expected_vecs) = run(xp), run(np)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5)
    np.testing.assert_allclose(vecs, expected_vecs, rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------- generate
def test_generate_is_seeded_valid_and_skips(corpus):
    _, _, vocab, id_to_word = corpus
    model = small_lm(vocab)
    a = generate(model, 0, 40, rng=7)
    assert a == generate(model, 0, 40, rng=7)          # the state is reset each time
    assert a != generate(model, 0, 40, rng=8)
    assert len(a) == 40 and a[0] == 0 and all(0 <= i < vocab for i in a)
    # Skipping all but three words: only those three may follow the start.
    allowed = {3, 5, 8}
    b = generate(model, 0, 60, skip_ids=set(range(vocab)) - allowed, rng=np.random.default_rng(0))
    assert set(b[1:]) <= allowed and len(set(b[1:])) > 1
    # Near-zero temperature picks the most likely word every time.
    model.reset_state()
    first = int(np.argmax(model.predict(np.array([[0]]))[0, -1]))
    assert generate(model, 0, 2, temperature=1e-4, rng=1)[1] == first
    with pytest.raises(ValueError):
        generate(model, 0, 5, skip_ids=range(vocab))
    text = ids_to_text(a[:5], id_to_word)
    assert text.split() == [id_to_word[i] for i in a[:5]]
    assert ids_to_text([0, 1, 0, 1], {0: "a", 1: "<eos>"}) == "a\na\n"


# --------------------------------------------------------------- command line
def test_cli_small_models_in_process(tmp_path, capsys):
    if not PTB.is_dir():
        pytest.skip("PTB not available")
    assert main(["train", "simple-rnnlm", "--data", str(PTB), "--quick", "--no-progress",
                 "--out", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "final training perplexity" in out and (tmp_path / "s" / "simple-rnnlm.npz").is_file()
    assert main(["train", "better-rnnlm", "--cell", "gru", "--hidden", "16", "--data", str(PTB),
                 "--quick", "--no-progress", "--sample", "12", "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "test perplexity" in out
    assert out.split("sample:\n")[1].split()[0] == "you"
    assert (tmp_path / "b" / "better-rnnlm-gru_best.npz").is_file()


def test_cli_reports_missing_data_clearly(tmp_path, capsys, monkeypatch):
    import minigrad.data.ptb as ptb

    def offline(url, dest):
        raise OSError("network is unreachable")
    monkeypatch.setattr(ptb, "_download", offline)
    assert main(["train", "rnnlm", "--data", str(tmp_path / "nothing"), "--quick"]) == 2
    err = capsys.readouterr().err
    assert "PTB files are missing" in err and "network is unreachable" in err


@pytest.mark.skipif(not PTB.is_dir(), reason="PTB not available")
def test_cli_subprocess_rnnlm_and_cbow_quick(tmp_path):
    # One BLAS thread: on a shared 2-core machine threads fight and a step runs 10x slower.
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    for model, name in (("rnnlm", "rnnlm_best.npz"), ("cbow", "cbow.npz")):
        out_dir = tmp_path / model
        proc = subprocess.run([sys.executable, "-m", "models", "train", model, "--data", str(PTB),
                               "--quick", "--out", str(out_dir)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        for path in (out_dir / name, out_dir / f"{model}_curves.png",
                     out_dir / f"{model}_metrics.json"):
            assert str(path) in proc.stdout and path.is_file()
        metrics = json.loads((out_dir / f"{model}_metrics.json").read_text())
        if model == "rnnlm":
            assert "test perplexity" in proc.stdout and math.isfinite(metrics["test_ppl"])
        else:
            assert "[query] you:" in proc.stdout and "[analogy] king:man=queen:?" in proc.stdout
            assert "the book's answer woman: rank" in proc.stdout
            found = metrics["evaluation"]
            assert len(found["most_similar"]["toyota"]["top"]) == 5
            assert 1 <= found["analogy"]["king:man=queen:?"]["rank"] <= 10000
            assert metrics["adam"] == "book"
            # The evaluate command reads the checkpoint back: the same report.
            ev = subprocess.run([sys.executable, "-m", "models", "evaluate", "cbow",
                                 str(out_dir / name), "--data", str(PTB)], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
            assert ev.returncode == 0, ev.stderr
            report = ev.stdout.split("\n", 1)[1]
            assert report.strip() and report in proc.stdout


def test_generate_from_a_model_on_each_backend(corpus, xp):
    # The scores come back to the CPU for sampling; the model's ids go to its device.
    _, _, vocab, _ = corpus
    expected = generate(small_lm(vocab), 0, 20, skip_ids=[1], rng=3)
    model = small_lm(vocab)
    if xp is not np:
        model.to_gpu()
    assert generate(model, 0, 20, skip_ids=[1], rng=3) == expected
