"""The newcomer's tour of the book's models: ``python -m models.tour [--out DIR] [--data DIR]``.

Without ``--data`` it needs no network and no GPU and takes a few minutes on
two cores. It

a. trains the binary-addition RNN until every one of the 128 x 128 sums is right;
b. checks a GRU language model (BetterRnnlm, dropout on, weights tied) against
   its hand-written twin (models/rnnlm/twin.py) over two stateful batches: the loss and
   the gradient of every parameter, in float64;
c. trains a small LSTM language model (Rnnlm) on the shipped small corpus and
   prints training and validation perplexity epoch by epoch;
d. trains word2vec (CBOW, sparse gradients) on the same corpus and prints the
   nearest words of a few queries and two analogies (king : man = queen : woman);
e. checks AttentionSeq2seq (chapter 8) against its hand-written twin and
   trains it, in seconds, to rewrite dates written M/D/YY as YYYY-MM-DD
   (generated questions of the kind a quarter of the book's date set is),
   drawing its attention maps and the graph of one decoder step;
f. writes the GRU cell's graph, a 3-step unrolled RNN and the loss curves into
   the output folder (default ``./minigrad-tour/``).

It exits non-zero when a check fails: binary addition below 100%, a twin
difference above 1e-6, or the date model below 90% on its test questions. With ``--data DIR`` (the PTB files) it hands over to
the real experiments (``python -m models train rnnlm --data DIR``).

Every check here is the tests' own: each family's ``check.py`` builds a model
and its twin from the same weights, and ``models.shared.twin_check`` measures
how far apart they are.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .rnnlm.check import build_lm_pair, dropout_keeps
from .seq2seq.check import build_seq2seq_pair
from .shared.twin_check import TWIN_TOL, twin_errors

__all__ = ["run_tour", "main"]


# ---------------------------------------------------------------- the report
@dataclass
class TourResult:
    ok: bool = True
    lines: list = field(default_factory=list)
    files: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    results: dict = field(default_factory=dict)


class _Report:
    def __init__(self, result, echo):
        self.result, self.echo = result, echo

    def __call__(self, line=""):
        self.result.lines.append(line)
        if self.echo:
            print(line, flush=True)

    def section(self, title):
        self()
        self(title)
        self("-" * len(title))

    def fail(self, why):
        self.result.ok = False
        self.result.failures.append(why)
        self(f"  FAILED: {why}")

    def wrote(self, path):
        self.result.files.append(Path(path))


# ---------------------------------------------------------------- the steps
def _binary_addition(say, quick):
    import minigrad as mg
    from .binary_addition import MinibatchAdder, train_minibatch_adder

    start = time.perf_counter()
    mg.random.seed(0)
    rng = np.random.default_rng(0)
    history = train_minibatch_adder(MinibatchAdder(16, rng=rng), max_epoch=40, rng=rng,
                                    progress=False)
    acc = history["accuracy"][-1]
    elapsed = time.perf_counter() - start
    say(f"  accuracy on all 128 x 128 sums: {100 * acc:.1f}% in {elapsed:.1f} s")
    say.result.results["binary_addition"] = acc
    if acc < 1.0:
        say.fail(f"binary addition reached only {100 * acc:.2f}%, not 100%")


def _twin_check(say, quick):
    rng = np.random.default_rng(0)
    V, H, N, T = (20, 6, 2, 4) if quick else (40, 16, 4, 8)
    model, twin, _ = build_lm_pair("better-gru", V, H, seed=1)
    batches = []
    for _ in range(2):
        xs, ts = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
        batches.append((xs, ts, dropout_keeps(model, rng, N, T)))
    errors = twin_errors(model, twin, batches)
    say(f"  BetterRnnlm(cell='gru', V={V}, D=H={H}, dropout 0.5, tied), float64, "
        f"2 stateful batches of {N} x {T}")
    say(f"  largest relative difference, autograd vs twin (bound {TWIN_TOL:g}):")
    width = max(map(len, errors))
    for name, e in errors.items():
        what = "loss" if name == "loss" else f"d loss / d {name}"
        say(f"    {what:<{width + 11}} {e:.1e}")
    worst = max(errors.values())
    say(f"  twin agreement: {worst:.1e} <= {TWIN_TOL:g}" if worst <= TWIN_TOL else
        f"  twin agreement: {worst:.1e} > {TWIN_TOL:g}")
    say.result.results["twin"] = errors
    if not worst <= TWIN_TOL:          # written so that a NaN fails too
        say.fail(f"the GRU model and its twin differ by {worst:.1e} > {TWIN_TOL:g}")


def _split(corpus, fraction=0.9):
    cut = int(len(corpus) * fraction)
    return corpus[:cut], corpus[cut:]


def _language_model(say, quick, corpus, vocab):
    import minigrad as mg
    from minigrad.optimizers import Adam
    from .rnnlm import Rnnlm, eval_perplexity, train_rnnlm

    train, valid = _split(corpus)
    V = len(vocab)
    H = 24 if quick else 64
    B, T = 10, 10
    epochs = 2 if quick else 8
    mg.random.seed(0)
    model = Rnnlm(V, H, H, rng=0)
    say(f"  Rnnlm (LSTM, V={V}, D=H={H}), Adam lr 0.01, batch {B} x {T} steps, "
        f"{len(train)} training / {len(valid)} validation words")
    start_valid = eval_perplexity(model, valid, B, T)
    say(f"  before training:           validation perplexity {start_valid:7.2f}")
    start = time.perf_counter()
    # The book clips at 0.25 with SGD lr 20, i.e. steps of at most 5; Adam's
    # steps are bounded by lr already, so the clip here only guards against a
    # stray huge gradient.
    trained = train_rnnlm(model, train, valid, batch_size=B, time_size=T, lr=None,
                          optimizer=Adam(model, lr=0.01), max_grad=5.0, max_epoch=epochs,
                          progress=False, report_every=None, eval_batch_size=B)
    history = {"train_ppl": [math.exp(loss) for loss in trained["epoch_loss"]],
               "valid_ppl": [start_valid] + trained["valid_ppl"], "losses": trained["loss"]}
    for epoch, (train_ppl, valid_ppl) in enumerate(zip(history["train_ppl"],
                                                       history["valid_ppl"][1:])):
        say(f"  epoch {epoch + 1}: training perplexity {train_ppl:7.2f}, "
            f"validation perplexity {valid_ppl:7.2f}")
    fell = history["valid_ppl"][-1] < start_valid and (
        len(history["train_ppl"]) < 2 or history["train_ppl"][-1] < history["train_ppl"][0])
    say(f"  perplexity fell: {'yes' if fell else 'NO'} (validation {start_valid:.1f} -> "
        f"{history['valid_ppl'][-1]:.1f}) in {time.perf_counter() - start:.1f} s")
    say.result.results["lm"] = {**history, "fell": fell}
    return history


# The analogies the tour asks (a : b = c : expected), relations the small
# corpus carries (minigrad/data/small_corpus.py).
ANALOGIES = (("king", "man", "queen", "woman"), ("man", "woman", "king", "queen"))


def _word2vec(say, quick):
    import minigrad as mg
    from minigrad.data import analogy, create_contexts_target, load_small_corpus, most_similar
    from .word2vec import CBOW, train_word2vec

    # The same sizes in the quick run: word2vec takes a few seconds here, and
    # 2000 sentences are what gives the analogies enough examples of each word.
    sentences, window, H, batch, epochs, lr = 2000, 2, 50, 100, 10, 0.005
    corpus, word_to_id, id_to_word = load_small_corpus(sentences)
    contexts, target = create_contexts_target(corpus, window)
    mg.random.seed(0)
    model = CBOW(len(word_to_id), H, window, corpus, sample_size=5, sparse=True, rng=0)
    say(f"  CBOW (window {window}, H={H}, 5 negatives, sparse row gradients), "
        f"Adam lr {lr}, {len(corpus)} words ({sentences} sentences), {epochs} epochs")
    start = time.perf_counter()
    losses = train_word2vec(model, contexts, target, batch_size=batch, max_epoch=epochs, lr=lr,
                            progress=False)["epoch_loss"]
    say(f"  loss {losses[0]:.3f} -> {losses[-1]:.3f} in {time.perf_counter() - start:.1f} s")
    vecs = model.word_vecs
    for q in ("king", "cat", "monday"):
        near = most_similar(q, word_to_id, id_to_word, vecs, top=5)
        say(f"  {q:>7} -> " + ", ".join(f"{w} ({c:.2f})" for w, c in near))
    # Scored by cosine (every vector normalised first, as word2vec's own
    # analogy tool does): the book's raw dot product favours the long vectors
    # of frequent words, which on a corpus this small outweighs the relation.
    found = {}
    for a, b, c, expected in ANALOGIES:
        ranked = analogy(a, b, c, word_to_id, id_to_word, vecs, top=len(word_to_id),
                         score="cosine")
        rank = 1 + [w for w, _ in ranked].index(expected)
        say(f"  {a} : {b} = {c} : ? -> " + ", ".join(f"{w} ({s:.2f})" for w, s in ranked[:3])
            + f"; '{expected}' ranks {rank} of {len(ranked)}")
        found[f"{a} : {b} = {c} : ?"] = (ranked[0][0], rank)
    say.result.results["word2vec"] = {"losses": losses, "analogies": found}
    return losses


def _seq2seq_twin_check(say):
    """AttentionSeq2seq with the bidirectional encoder against its twin, float64."""
    rng = np.random.default_rng(0)
    model, twin, _ = build_seq2seq_pair("attention-bi", 12, 4, 5, seed=2)
    batches = [(rng.integers(0, 12, (3, 6)), rng.integers(0, 12, (3, 5)), None)
               for _ in range(2)]
    errors = twin_errors(model, twin, batches)
    worst = max(errors.values())
    say(f"  AttentionSeq2seq(bidirectional=True) vs its twin, float64, {len(errors) - 1} weights: "
        f"largest relative difference {worst:.1e} (bound {TWIN_TOL:g})")
    say.result.results["seq2seq_twin"] = errors
    if not worst <= TWIN_TOL:
        say.fail(f"AttentionSeq2seq and its twin differ by {worst:.1e} > {TWIN_TOL:g}")


def _seq2seq_training(say, quick, out):
    """A short training run on generated numeric dates; its attention maps and
    one decoder step drawn."""
    import minigrad as mg
    from minigrad.data.sequence import numeric_dates, parse_lines
    from minigrad.optimizers import Adam, ClipGradNorm
    from .seq2seq import AttentionSeq2seq, exact_match_accuracy
    from .seq2seq.pictures import plot_attention_maps, plot_decoder_step_graph

    # The accuracy jumps from ~0 to ~100% somewhere between steps 250 and 450.
    steps, H, batch, lr = (200, 32, 64, 0.01) if quick else (600, 32, 64, 0.01)
    data = parse_lines(numeric_dates(6000, seed=0), name="numeric dates")
    x, t = data.split("train", reverse=True)
    x_test, t_test = data.split("test", reverse=True)
    mg.random.seed(0)
    rng = np.random.default_rng(1)
    model = AttentionSeq2seq(data.vocab_size, 16, H, rng=0)
    opt = Adam(model, lr=lr)
    opt.add_hook(ClipGradNorm(5.0))
    say(f"  {len(x)} generated questions like '6/3/73' -> '1973-06-03' (the date set's "
        f"numeric kind), reversed input, D 16, H {H}, Adam lr {lr}, batch {batch}, {steps} steps")
    before, _ = exact_match_accuracy(model, x_test, t_test)
    losses, start = [], time.perf_counter()
    for _ in range(steps):
        idx = rng.integers(0, len(x), batch)
        loss = model.loss(x[idx], t[idx])
        model.zero_grad()
        loss.backward()
        opt.update()
        losses.append(float(loss.data))
    acc, guesses = exact_match_accuracy(model, x_test, t_test)
    say(f"  loss {losses[0]:.3f} -> {np.mean(losses[-20:]):.3f}, test accuracy "
        f"{100 * before:.1f}% -> {100 * acc:.1f}% ({len(t_test)} questions) in "
        f"{time.perf_counter() - start:.1f} s")
    for q, g in zip(x_test[:3], guesses[:3]):
        say(f"    {data.decode(q[::-1]).strip():>9} -> {data.decode(g)}")
    say.result.results["seq2seq"] = {"accuracy": acc, "losses": losses}
    if not quick and acc < 0.9:
        say.fail(f"the date model reached only {100 * acc:.1f}%, not 90%")
    if quick and not np.mean(losses[-20:]) < losses[0]:
        say.fail("the date model's loss did not fall")
    for path in (plot_attention_maps(model, data, out / "attention_maps.png", reverse=True),
                 plot_decoder_step_graph(model, out / "decoder_step.png", data)):
        if path is not None:
            say.wrote(path)


def _pictures(say, out, lm_history, w2v_losses):
    import shutil

    from minigrad.viz import GraphvizNotFoundError, examples, plot, to_dot

    for name, make in (("gru_cell", examples.gru_cell), ("rnn_3_steps", lambda: examples.rnn(T=3))):
        outputs = make()
        dot_path = out / f"{name}.dot"
        # The DOT text is written whatever happens next, so the graph is never lost.
        dot_path.write_text(to_dot(*outputs), encoding="utf-8")
        say.wrote(dot_path)
        try:
            plot(*outputs, path=out / f"{name}.png")
        except GraphvizNotFoundError as e:
            why = "graphviz Python package" if shutil.which("dot") else "Graphviz `dot` program"
            say(f"  {name}: the {why} is missing, so only {dot_path} was written "
                f"(pip install 'minigrad[viz]'; apt-get, brew or conda install graphviz) "
                f"[{type(e).__name__}]")
        else:
            say.wrote(out / f"{name}.png")
    try:
        # A bare Figure, not pyplot: no display needed, and the caller's backend
        # (a notebook's, say) is left alone.
        from matplotlib.figure import Figure
    except ImportError:
        say("  matplotlib is missing, so no loss curves were drawn (pip install 'minigrad[plot]')")
        return
    fig = Figure(figsize=(10, 4))
    a, b = fig.subplots(1, 2)
    epochs = np.arange(len(lm_history["valid_ppl"]))
    a.plot(epochs[1:], lm_history["train_ppl"], "o-", label="training")
    a.plot(epochs, lm_history["valid_ppl"], "s-", label="validation")
    a.set(xlabel="epoch", ylabel="perplexity", yscale="log", title="Rnnlm on the small corpus")
    a.legend()
    b.plot(np.arange(1, len(w2v_losses) + 1), w2v_losses, "o-")
    b.set(xlabel="epoch", ylabel="mean loss", title="CBOW on the small corpus")
    fig.tight_layout()
    path = out / "loss_curves.png"
    fig.savefig(path, dpi=80)
    say.wrote(path)


REAL_EXPERIMENTS = ("rnnlm", "cbow")


def _real_experiments(say, data, out, quick):
    """With PTB: the book's Rnnlm and CBOW through ``python -m models train``
    (models/__main__.py, run in this process), or the commands to run."""
    commands = [["train", name, "--data", str(data), "--out", str(out / name)]
                + (["--quick"] if quick else []) for name in REAL_EXPERIMENTS]
    try:
        from .__main__ import main as models_main
    except ImportError:
        say("  models/__main__.py is not there; run the real experiments with")
        for argv in commands:
            say("    python -m models " + " ".join(argv))
        return
    for argv in commands:
        say("  python -m models " + " ".join(argv))
        rc = models_main(argv)
        if rc:
            say.fail(f"`python -m models {' '.join(argv[:2])}` exited with {rc}")


def run_tour(out="minigrad-tour", data=None, quick=False, echo=True) -> TourResult:
    """Run the tour, printing its report (``echo``); returns a TourResult with
    the report lines, the files written and whether every check passed.
    ``quick`` shrinks sizes and epochs (for the tests); the checks stay the same."""
    from minigrad.data import load_small_corpus

    result = TourResult()
    say = _Report(result, echo)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    say(f"minigrad tour{' (quick)' if quick else ''}: the book's models, checked and trained")
    if data is not None:
        say.section(f"Real experiments on PTB from {data}")
        _real_experiments(say, data, out, quick)
    else:
        corpus, word_to_id, _ = load_small_corpus()
        say.section("a. Binary addition with a simple RNN")
        _binary_addition(say, quick)
        say.section("b. GRU language model vs its hand-written twin")
        _twin_check(say, quick)
        say.section("c. A language model on the small corpus")
        history = _language_model(say, quick, corpus, word_to_id)
        say.section("d. word2vec (CBOW) on the small corpus")
        w2v = _word2vec(say, quick)
        say.section("e. Sequence to sequence with attention (chapter 8)")
        _seq2seq_twin_check(say)
        _seq2seq_training(say, quick, out)
        say.section(f"f. Pictures in {out}")
        _pictures(say, out, history, w2v)
        for path in result.files:
            say(f"  wrote {path}")
    say()
    total = time.perf_counter() - started
    if result.ok:
        say(f"All checks passed in {total:.1f} s.")
    else:
        say(f"{len(result.failures)} check(s) FAILED in {total:.1f} s: "
            + "; ".join(result.failures))
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.tour",
                                     description="The book's models trained, checked against "
                                     "their hand-written twins, and drawn.")
    parser.add_argument("--out", default="minigrad-tour", help="folder for pictures and plots "
                        "(default: ./minigrad-tour)")
    parser.add_argument("--data", default=None, help="folder with the PTB files: run the real "
                        "experiments instead of the small tour")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer epochs")
    args = parser.parse_args(argv)
    return 0 if run_tour(args.out, args.data, quick=args.quick).ok else 1


if __name__ == "__main__":
    sys.exit(main())
