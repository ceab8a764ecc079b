"""Command line: ``python -m models train MODEL [options]`` (from the repository root),
and ``python -m models experiment binary-addition`` (the course notes' experiments).

MODEL is one of two-layer-net (the book's chapter 1), simple-rnnlm, rnnlm,
better-rnnlm, cbow, skipgram, binary-addition (the course notes' program;
``--recipe minibatch`` for the faster minibatch one), seq2seq (the book's
chapter 7) and attention-seq2seq (chapter 8). Defaults are the book's (and the
notes') hyper-parameters; ``--quick`` runs a tiny version (a few iterations on
a slice of the data) for smoke tests. PTB and the sequence data sets are read
from ``--data``, else ``$MINIGRAD_DATA``, else the user cache (downloaded
there when missing and online). ``python -m models evaluate MODEL FILE``
evaluates saved weights, a run's or the book's own trained ones (the book's
``.pkl`` files, read safely): the word2vec queries for cbow and skipgram, the
perplexity on ptb.test for rnnlm, the accuracy on the date test questions for
attention-seq2seq.

    python -m models train rnnlm --data ../shared/data/ptb --out runs/rnnlm
    python -m models train better-rnnlm --cell gru --epochs 10
    python -m models train cbow --quick
    python -m models train two-layer-net
    python -m models train seq2seq --data ../shared/data/sequence --reverse --peeky
    python -m models train attention-seq2seq --data ../shared/data/sequence --bidirectional
    python -m models compare runs/seq2seq/seq2seq_metrics.json ... --out accuracy.png
    python -m models evaluate cbow runs/cbow/cbow.npz
    python -m models evaluate rnnlm ../shared/data/book-weights/Rnnlm.pkl --words 20000
    mpirun -n 2 python -m models train rnnlm --distributed --threads 1

A NaN or Inf loss or gradient ends a run with one line naming the epoch, the
iteration and the parameter; ``--anomaly`` runs in minigrad's anomaly mode,
which names the operation and the line that made it, and ``--keep-going``
trains on regardless.

``--distributed`` (language models and word2vec) trains data-parallel on the
ranks of an MPI job (``pip install 'minigrad[distributed]'``): each rank takes
its share of every batch, only rank 0 prints and writes files, and a rank
that fails ends the whole job.
"""
from __future__ import annotations

import argparse
import os
import sys

MODELS = ("two-layer-net", "simple-rnnlm", "rnnlm", "better-rnnlm", "cbow", "skipgram",
          "binary-addition", "seq2seq", "attention-seq2seq")
SEQ2SEQ_MODELS = ("seq2seq", "attention-seq2seq")

# The book's settings: (batch, time, D = H, lr, clip, epochs).
LM_DEFAULTS = {
    "simple-rnnlm": dict(batch_size=10, time_size=5, hidden=100, lr=0.1, max_grad=None, epochs=100),
    "rnnlm": dict(batch_size=20, time_size=35, hidden=100, lr=20.0, max_grad=0.25, epochs=4),
    "better-rnnlm": dict(batch_size=20, time_size=35, hidden=650, lr=20.0, max_grad=0.25,
                         epochs=40),
}
DISTRIBUTED_MODELS = ("simple-rnnlm", "rnnlm", "better-rnnlm", "cbow", "skipgram")
EVALUATED = ("cbow", "skipgram", "rnnlm", "attention-seq2seq")
W2V_DEFAULTS = dict(window=5, hidden=100, batch_size=100, lr=0.001, epochs=10)
SIMPLE_RNNLM_WORDS = 1000     # the book trains SimpleRnnlm on PTB's first 1000 words


def build_parser():
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}",
                                     description="Train the book's models on minigrad.")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model and save checkpoint, metrics and plot")
    t.add_argument("model", choices=MODELS)
    t.add_argument("--data", help="directory of PTB or of the sequence files (default: "
                   "$MINIGRAD_DATA or the cache)")
    t.add_argument("--out", help="output directory (default: runs/MODEL)")
    t.add_argument("--epochs", type=int, help="epochs (default: the book's)")
    t.add_argument("--quick", action="store_true",
                   help="tiny run on a slice of the data, for smoke tests")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--time-size", type=int)
    t.add_argument("--hidden", type=int, help="D = H (default: the book's)")
    t.add_argument("--lr", type=float)
    t.add_argument("--max-grad", type=float, help="clip the global gradient norm (<= 0: off)")
    t.add_argument("--cell", choices=("lstm", "gru"), default="lstm",
                   help="better-rnnlm's recurrent cell")
    t.add_argument("--dropout", type=float, default=0.5, help="better-rnnlm's dropout ratio")
    t.add_argument("--window", type=int, help="word2vec window size (default 5)")
    t.add_argument("--recipe", choices=("notes", "minibatch"), default="notes",
                   help="binary-addition: the course notes' program (default) or the faster "
                        "minibatch recipe")
    t.add_argument("--iterations", type=int,
                   help="binary-addition (notes): SGD steps, one pair each (default 10,000)")
    t.add_argument("--sparse", action="store_true",
                   help="word2vec: lazy Adam, only the looked-up rows and their moments move "
                        "(PyTorch's SparseAdam; faster, other vectors). Default: the book's Adam, "
                        "every row at every step")
    t.add_argument("--sample", type=int, default=0, metavar="N",
                   help="language models: print N words generated from 'you' after training")
    t.add_argument("--eval-interval", type=int, default=20, help="batches per progress report")
    t.add_argument("--seed", type=int, help="random seed (default 0; two-layer-net: the "
                   "book's 1984)")
    t.add_argument("--checkpoint-every", type=int, metavar="N",
                   help="language models: write the whole training state every N batches (and "
                        "at each epoch's end) to OUT/NAME_resume.npz")
    t.add_argument("--resume", metavar="PATH",
                   help="language models: continue from a --checkpoint-every file; the other "
                        "options must describe the same run (--epochs may be raised)")
    t.add_argument("--reverse", action=argparse.BooleanOptionalAction,
                   help="seq2seq models: read the questions backwards (default: off for "
                        "seq2seq, on for attention-seq2seq, as in the book)")
    t.add_argument("--peeky", action="store_true", help="seq2seq: the PeekyDecoder")
    t.add_argument("--bidirectional", action="store_true",
                   help="attention-seq2seq: the book's bidirectional LSTM encoder")
    t.add_argument("--merge", choices=("concat", "sum"), default="concat",
                   help="attention-seq2seq --bidirectional: join the directions' states")
    t.add_argument("--dataset", choices=("addition", "date"),
                   help="seq2seq models: the data set (default: addition for seq2seq, date "
                        "for attention-seq2seq)")
    t.add_argument("--wordvec", type=int, help="seq2seq models: D (default: the book's 16)")
    t.add_argument("--book-stream", action="store_true",
                   help="seq2seq models: draw the initial weights and every epoch's shuffle "
                        "from the book's random stream (numpy's seed 1984, after the data's "
                        "shuffle), as the book's scripts do; --seed is then not used")
    t.add_argument("--no-progress", action="store_true", help="no progress bars or lines")
    t.add_argument("--anomaly", action="store_true",
                   help="run in minigrad's anomaly mode: the first NaN or Inf names the "
                        "operation that made it and the line that called it (slower)")
    t.add_argument("--keep-going", action="store_true",
                   help="train on through a NaN or Inf loss or gradient (by default the run "
                        "stops there, naming the epoch, the iteration and the parameter)")
    t.add_argument("--threads", type=int,
                   help="BLAS threads (set before numpy loads; 1 is fastest on a busy machine)")
    t.add_argument("--distributed", action="store_true",
                   help="data-parallel over the ranks of `mpirun -n N` (language models, "
                        "word2vec); the batch size must divide by N")
    v = sub.add_parser("evaluate", help="evaluate saved weights: a run's checkpoint or one of "
                       "the book's .pkl files")
    v.add_argument("model", choices=EVALUATED)
    v.add_argument("checkpoint", help="the .npz that `train MODEL` wrote, a resume file, or the "
                   "book's cbow_params.pkl, Rnnlm.pkl or AttentionSeq2seq.pkl")
    v.add_argument("--words", type=int, metavar="N",
                   help="rnnlm: the first N words of ptb.test (default: all of them)")
    v.add_argument("--questions", type=int, metavar="N",
                   help="attention-seq2seq: the first N date test questions (default: all)")
    v.add_argument("--data", help="PTB or sequence folder, or a root holding ptb/ and "
                   "sequence/ (default: as for train)")
    # The experiment's own module is imported only when it runs: importing it here
    # would load numpy before --threads could take effect.
    e = sub.add_parser("experiment", help="reproduce the course notes' experiments: tables "
                                          "with a verdict per claim, loss curves")
    e.add_argument("name", choices=EXPERIMENTS)
    e.add_argument("--seeds", type=int, default=5, help="runs per setting (seeds 0..N-1)")
    e.add_argument("--iterations", type=int, default=10_000)
    e.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="processes (default: 2, or 1 on a one-core machine)")
    e.add_argument("--only", help="comma-separated settings (default: all; an unknown name "
                                  "lists them)")
    e.add_argument("--out", help="output directory (default: runs/experiments/NAME)")
    c = sub.add_parser("compare", help="test accuracy by epoch of seq2seq runs in one figure")
    c.add_argument("metrics", nargs="+", help="*_metrics.json files of seq2seq runs")
    c.add_argument("--out", required=True, help="the PNG to write")
    c.add_argument("--title", default="Test accuracy by epoch")
    return parser


# Each experiment lives in its own module; this file only dispatches to it.
EXPERIMENTS = ("binary-addition",)


def _experiment_module(name):
    from .binary_addition import experiments
    return {"binary-addition": experiments}[name]


def _pick(value, default):
    return default if value is None else value


def _load(split, args):
    from minigrad.data import load_ptb
    return load_ptb(split, data_dir=args.data)


def _outputs(history, out_dir, name):
    from minigrad.training import save_outputs
    paths = save_outputs(history, out_dir, name)
    return {"checkpoint": history.get("checkpoint"), "plot": paths["plot"],
            "metrics": paths["metrics"]}


def _print_outputs(paths):
    print("outputs:")
    for key in ("checkpoint", "plot", "metrics", "boundary", "attention maps", "decoder step"):
        if key in ("checkpoint", "plot", "metrics") or key in paths:
            print(f"  {key:<14} {paths.get(key) or '(none)'}")


def run_lm(args, out_dir):
    import numpy as np

    from minigrad.distributed import is_root
    from minigrad.layers import load_weights
    from .rnnlm import BetterRnnlm, Rnnlm, SimpleRnnlm, eval_perplexity
    from .rnnlm.train import train_rnnlm

    d = LM_DEFAULTS[args.model]
    batch, time_size = _pick(args.batch_size, d["batch_size"]), _pick(args.time_size, d["time_size"])
    hidden = _pick(args.hidden, 64 if args.quick and args.model == "better-rnnlm" else d["hidden"])
    lr, epochs = _pick(args.lr, d["lr"]), _pick(args.epochs, 2 if args.quick else d["epochs"])
    max_grad = _pick(args.max_grad, d["max_grad"])
    max_grad = max_grad if max_grad and max_grad > 0 else None
    eval_batch = 10
    train, _, _ = _load("train", args)
    rng = np.random.default_rng(args.seed)

    if args.model == "simple-rnnlm":
        train = train[:SIMPLE_RNNLM_WORDS]
        valid = test = None          # its vocabulary is that slice's, test words fall outside
        vocab = int(train.max()) + 1
        model = SimpleRnnlm(vocab, hidden, hidden, rng=rng)
        schedule = None
    else:
        valid, _, _ = _load("valid", args)
        test, _, _ = _load("test", args)
        vocab = 10000
        if args.model == "rnnlm":
            model, schedule = Rnnlm(vocab, hidden, hidden, rng=rng), None
        else:
            model = BetterRnnlm(vocab, hidden, hidden, dropout_ratio=args.dropout, cell=args.cell,
                                rng=rng)
            schedule = "divide_by_4_when_worse"
    if args.quick:
        # A few batches each: enough to run every path (validation, checkpoint, test).
        train = train[:batch * time_size * 3 + 1]
        if valid is not None:
            valid = valid[:eval_batch * time_size * 2 + 1]
            test = test[:eval_batch * time_size * 2 + 1]

    name = args.model if args.model != "better-rnnlm" else f"better-rnnlm-{args.cell}"
    print(f"{name}: {len(train)} training words, vocabulary {vocab}, batch {batch}, "
          f"time {time_size}, D = H = {hidden}, lr {lr}, clip {max_grad}, {epochs} epochs")
    comm = args.comm
    history = train_rnnlm(model, train, valid, batch_size=batch, time_size=time_size, lr=lr,
                          max_epoch=epochs, max_grad=max_grad, lr_schedule=schedule,
                          out_dir=out_dir, name=name, progress=not args.no_progress,
                          eval_interval=args.eval_interval, eval_batch_size=eval_batch,
                          checkpoint_every=args.checkpoint_every, resume=args.resume, comm=comm,
                          stop_on_nonfinite=not args.keep_going)
    if test is not None:
        if history["checkpoint"]:
            if is_root(comm):
                load_weights(model, history["checkpoint"])   # the best validation model
            if comm is not None:
                comm.broadcast_params(model.params())        # rank 0 read the file
        if comm is None:
            history["test_ppl"] = eval_perplexity(model, test, batch_size=eval_batch,
                                                  time_size=time_size)
        else:
            from minigrad.distributed import perplexity
            history["test_ppl"] = perplexity(model, test, comm, batch_size=eval_batch,
                                             time_size=time_size)
    if not is_root(comm):
        return 0                                  # rank 0 writes and reports
    paths = _outputs(history, out_dir, name)
    _print_outputs(paths)
    print(f"final training perplexity: {history['train_ppl'][-1]:.2f}")
    if history["valid_ppl"]:
        print(f"best validation perplexity: {history['best_valid_ppl']:.2f} "
              f"(epoch {history['best_epoch']})")
    if test is not None:
        what = "first words of ptb.test, --quick" if args.quick else "ptb.test"
        print(f"test perplexity ({what}): {history['test_ppl']:.2f}")
    if args.sample > 0 and args.model != "simple-rnnlm":
        print(_sample_text(model, args.sample, args.seed, args))
    return 0


def _sample_text(model, length, seed, args):
    """The book's generate_text.py: start at 'you', never draw N, <unk> or $."""
    from .rnnlm.generate_text import generate, ids_to_text

    _, word_to_id, id_to_word = _load("train", args)
    skip = [word_to_id[w] for w in ("N", "<unk>", "$") if w in word_to_id]
    ids = generate(model, word_to_id["you"], length, skip_ids=skip, rng=seed)
    return "sample:\n" + ids_to_text(ids, id_to_word)


def run_word2vec(args, out_dir):
    import numpy as np

    from minigrad.data import create_contexts_target
    from minigrad.distributed import is_root
    from minigrad.optimizers import Adam
    from .word2vec.train import train_word2vec
    from .word2vec import CBOW, SkipGram
    from .word2vec.evaluate import evaluate_vectors, format_report

    d = W2V_DEFAULTS
    window, hidden = _pick(args.window, d["window"]), _pick(args.hidden, d["hidden"])
    batch, lr = _pick(args.batch_size, d["batch_size"]), _pick(args.lr, d["lr"])
    epochs = _pick(args.epochs, 1 if args.quick else d["epochs"])
    corpus, word_to_id, id_to_word = _load("train", args)
    if args.quick:
        corpus = corpus[:batch * 30 + 2 * window]
    contexts, target = create_contexts_target(corpus, window)
    cls = CBOW if args.model == "cbow" else SkipGram
    # Row gradients either way; the optimizer decides whether only those rows move.
    model = cls(len(word_to_id), hidden, window, corpus, sparse=True,
                rng=np.random.default_rng(args.seed))
    adam = "lazy Adam (--sparse)" if args.sparse else "the book's Adam"
    print(f"{args.model}: {len(target)} pairs, vocabulary {len(word_to_id)}, window {window}, "
          f"H {hidden}, batch {batch}, {adam} lr {lr}, {epochs} epochs, seed {args.seed}")
    history = train_word2vec(model, contexts, target, batch_size=batch, max_epoch=epochs,
                             optimizer=Adam(model, lr=lr, lazy=args.sparse),
                             out_dir=out_dir, name=args.model, progress=not args.no_progress,
                             eval_interval=args.eval_interval, comm=args.comm,
                             shuffle_seed=args.seed, stop_on_nonfinite=not args.keep_going)
    if not is_root(args.comm):
        return 0                                  # rank 0 writes and reports
    history.update(adam="lazy" if args.sparse else "book", seed=args.seed)
    # The vocabulary is PTB's whole one even with --quick: every query word is in it.
    history["evaluation"] = evaluate_vectors(model.word_vecs, word_to_id, id_to_word)
    paths = _outputs(history, out_dir, args.model)
    _print_outputs(paths)
    print(f"final loss: {history['loss'][-1]:.4f}")
    print(format_report(history["evaluation"]))
    return 0


def run_evaluate(args):
    if args.model == "rnnlm":
        return _evaluate_rnnlm(args)
    if args.model == "attention-seq2seq":
        return _evaluate_attention_seq2seq(args)
    from .word2vec import CBOW, SkipGram
    from .word2vec.evaluate import evaluate_vectors, format_report, load_vectors

    cls = CBOW if args.model == "cbow" else SkipGram
    vectors = load_vectors(args.checkpoint, cls, args.data)
    print(f"{args.model} {args.checkpoint}: vocabulary {len(vectors.word_to_id)}, "
          f"H {vectors.word_vecs.shape[1]}")
    print(format_report(evaluate_vectors(*vectors)))
    return 0


def _evaluate_rnnlm(args):
    """The book's ch06/eval.py: perplexity on ptb.test, batch 20 x time 35."""
    from .rnnlm import Rnnlm, eval_perplexity

    test, _, _ = _load("test", args)
    test = test[:args.words] if args.words else test
    model = Rnnlm.from_file(args.checkpoint)
    ppl = eval_perplexity(model, test, batch_size=20, time_size=35)
    print(f"rnnlm {args.checkpoint}: V {model.embed.W.shape[0]}, D {model.embed.W.shape[1]}, "
          f"H {model.lstm.hidden_size}")
    print(f"test perplexity ({len(test)} words of ptb.test): {ppl:.2f}")
    return 0


def _evaluate_attention_seq2seq(args):
    """The book's ch08 evaluation: exact-match accuracy on the date test split,
    questions reversed."""
    from minigrad.data import load_sequence
    from .seq2seq import AttentionSeq2seq, exact_match_accuracy

    data = load_sequence("date", args.data)
    xs, ts = data.split("test", reverse=True)
    n = args.questions or len(xs)
    model = AttentionSeq2seq.from_file(args.checkpoint)
    accuracy, _ = exact_match_accuracy(model, xs[:n], ts[:n])
    print(f"attention-seq2seq {args.checkpoint}: V {model.vocab_size}, D {model.wordvec_size}, "
          f"H {model.hidden_size}")
    print(f"accuracy ({min(n, len(xs))} date test questions, reversed): {100 * accuracy:.1f}%")
    return 0


def run_two_layer_net(args, out_dir):
    """The book's ch01/train.py: hidden 10, SGD lr 1.0, batch 30, 300 epochs on
    the spiral; the loss curve and the decision-boundary picture."""
    from pathlib import Path

    from minigrad.layers import save_weights
    from .two_layer_net import accuracy, plot_decision_boundary, train_two_layer_net

    hidden, lr = _pick(args.hidden, 10), _pick(args.lr, 1.0)
    batch, epochs = _pick(args.batch_size, 30), _pick(args.epochs, 10 if args.quick else 300)
    print(f"two-layer-net: spiral 300 points, 3 classes, hidden {hidden}, SGD lr {lr}, "
          f"batch {batch}, {epochs} epochs")
    model, trainer, x, t = train_two_layer_net(hidden_size=hidden, lr=lr, batch_size=batch,
                                               max_epoch=epochs, seed=_pick(args.seed, 1984),
                                               progress=not args.no_progress,
                                               eval_interval=args.eval_interval,
                                               stop_on_nonfinite=not args.keep_going)
    history = trainer.history
    history["accuracy"] = accuracy(model, x, t)
    history["final_loss"] = float(model.loss(x, t).data)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    history["checkpoint"] = str(Path(out_dir) / "two-layer-net.npz")
    save_weights(model, history["checkpoint"])
    paths = _outputs(history, out_dir, "two-layer-net")
    paths["boundary"] = plot_decision_boundary(model, x, t,
                                               Path(out_dir) / "two-layer-net_boundary.png")
    _print_outputs(paths)
    print(f"training accuracy: {history['accuracy']:.3f}, loss over all points: "
          f"{history['final_loss']:.4f}")
    return 0


def run_binary_addition(args, out_dir):
    """The course notes' program (SGD, one random pair per iteration, 10,000
    iterations), or with ``--recipe minibatch`` the faster minibatch recipe."""
    from minigrad.layers import save_weights

    os.makedirs(out_dir, exist_ok=True)
    checkpoint = os.path.join(out_dir, "binary-addition.npz")
    if args.recipe == "minibatch":
        from .binary_addition import train_minibatch_adder

        epochs = _pick(args.epochs, 1 if args.quick else 40)
        kwargs = {"hidden_size": args.hidden} if args.hidden else {}
        if args.batch_size:
            kwargs["batch_size"] = args.batch_size
        model, acc = train_minibatch_adder(epochs=epochs, lr=_pick(args.lr, 0.01),
                                           seed=args.seed, verbose=not args.no_progress,
                                           **kwargs)
        history = {"model": "MinibatchAdder", "epochs": epochs, "accuracy": acc}
    else:
        import numpy as np

        from .binary_addition import train_notes_adder

        iterations = _pick(args.iterations, 500 if args.quick else 10_000)
        hidden, lr = _pick(args.hidden, 16), _pick(args.lr, 0.1)
        print(f"binary-addition (the course notes' program): hidden {hidden}, SGD lr {lr}, "
              f"one random pair per iteration, {iterations} iterations")
        run = train_notes_adder(iterations=iterations, lr=lr, hidden_size=hidden, seed=args.seed,
                                verbose=not args.no_progress)
        model, acc = run.model, run.accuracy()
        per = 100       # the curve: the mean loss over each 100 pairs
        ends = np.arange(per, iterations + 1, per)
        history = {"model": "NotesAdder", "iterations": iterations, "accuracy": acc,
                   "converged_at": run.converged_at, "loss": run.losses,
                   "train_iters": ends,
                   "train_loss": [float(run.losses[e - per:e].mean()) for e in ends]}
        print("every bit of the last 100 pairs right after "
              + (f"{run.converged_at} iterations" if run.converged_at else
                 f"(not within {iterations} iterations)"))
    save_weights(model, checkpoint)
    history["checkpoint"] = checkpoint
    _print_outputs(_outputs(history, out_dir, "binary-addition"))
    print(f"accuracy over all 16,384 sums: {acc:.4f}")
    return 0


def _seq2seq_name(args, attention, dataset, reverse):
    """runs/NAME and the label of the accuracy figure, from the options."""
    base = "attention-seq2seq" if attention else ("peeky-seq2seq" if args.peeky else "seq2seq")
    label = "Attention" if attention else ("Peeky" if args.peeky else "Seq2seq")
    if args.bidirectional:
        base += "-bidirectional" + ("-sum" if args.merge == "sum" else "")
        label += ", bidirectional encoder" + (" (sum)" if args.merge == "sum" else "")
    if dataset != ("date" if attention else "addition"):
        base += f"-{dataset}"
        label += f", {dataset}"
    if reverse:
        base += "-reversed"
        label += ", reversed"
    return base, label


def _book_stream(data):
    """numpy's global stream as the book's scripts leave it after loading the
    data (``seed(1984)``, one shuffle of every line), as a RandomState of its
    own: the book then draws the weights from it, then each epoch's order."""
    import numpy as np

    from minigrad.data.sequence import SEED

    stream = np.random.RandomState(SEED)
    stream.shuffle(np.arange(len(data.x_train) + len(data.x_test)))
    return stream


def run_seq2seq(args, out_dir):
    """The book's ch07/train_seq2seq.py and ch08/train.py: Adam, clipping 5,
    batch 128; accuracy on the 5,000 test questions after each epoch."""
    import dataclasses

    from minigrad.data import load_sequence
    from .seq2seq import AttentionSeq2seq, PeekySeq2seq, Seq2seq
    from .seq2seq.train import BOOK_SETTINGS, train_seq2seq

    attention = args.model == "attention-seq2seq"
    if args.peeky and attention:
        raise SystemExit("error: --peeky is for seq2seq (attention-seq2seq has its own decoder)")
    if args.bidirectional and not attention:
        raise SystemExit("error: --bidirectional is for attention-seq2seq")
    dataset = args.dataset or ("date" if attention else "addition")
    reverse = attention if args.reverse is None else args.reverse
    book = BOOK_SETTINGS[dataset]
    D, H = _pick(args.wordvec, book["wordvec_size"]), _pick(args.hidden, book["hidden_size"])
    batch, lr = _pick(args.batch_size, book["batch_size"]), _pick(args.lr, book["lr"])
    epochs = _pick(args.epochs, 1 if args.quick else book["max_epoch"])
    max_grad = _pick(args.max_grad, book["max_grad"])
    max_grad = max_grad if max_grad and max_grad > 0 else None
    data = load_sequence(dataset, args.data)
    test_size = None
    if args.quick:
        H = _pick(args.hidden, 32)
        data = dataclasses.replace(data, x_train=data.x_train[:batch * 4],
                                   t_train=data.t_train[:batch * 4])
        test_size = 200
    name, label = _seq2seq_name(args, attention, dataset, reverse)
    out_dir = args.out or os.path.join("runs", name)
    rng, batches_rng = args.seed, None
    if args.book_stream:
        rng = batches_rng = _book_stream(data)
        label += ", the book's random stream"
    if attention:
        model = AttentionSeq2seq(data.vocab_size, D, H, bidirectional=args.bidirectional,
                                 merge=args.merge, rng=rng)
    else:
        model = (PeekySeq2seq if args.peeky else Seq2seq)(data.vocab_size, D, H, rng=rng)
    print(f"{label}: {data.name}, {len(data.x_train)} training / "
          f"{min(test_size or len(data.x_test), len(data.x_test))} test questions, "
          f"V {data.vocab_size}, D {D}, H {H}, "
          f"batch {batch}, Adam lr {lr}, clip {max_grad}, {epochs} epochs")
    history = train_seq2seq(model, data, reverse=reverse, batch_size=batch, max_epoch=epochs,
                            lr=lr, max_grad=max_grad, out_dir=out_dir, name=name,
                            progress=not args.no_progress, eval_interval=args.eval_interval,
                            test_size=test_size, checkpoint_every=args.checkpoint_every,
                            resume=args.resume, rng=batches_rng,
                            stop_on_nonfinite=not args.keep_going)
    history.update(label=label, wordvec_size=D, hidden_size=H, dataset=dataset)
    paths = _outputs(history, out_dir, name)
    if attention:
        from .seq2seq.pictures import plot_attention_maps, plot_decoder_step_graph

        paths["attention maps"] = plot_attention_maps(
            model, data, os.path.join(out_dir, f"{name}_attention.png"), reverse=reverse)
        paths["decoder step"] = plot_decoder_step_graph(
            model, os.path.join(out_dir, f"{name}_decoder_step.png"), data)
    _print_outputs(paths)
    accuracies = history["test_accuracy"]
    print("test accuracy by epoch: " + ", ".join(f"{100 * a:.2f}%" for a in accuracies))
    return 0


def run_compare(args):
    from .seq2seq.pictures import plot_accuracy_by_epoch, read_accuracy_runs

    runs = read_accuracy_runs(args.metrics)
    path = plot_accuracy_by_epoch(runs, args.out, title=args.title)
    for label, accuracies in runs:
        print(f"  {label:<40} " + " ".join(f"{100 * a:5.1f}" for a in accuracies))
    print(f"wrote {path}" if path else "no picture written (matplotlib is missing)")
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "experiment":
        return _experiment_module(args.name).main(args)
    if args.command == "evaluate":
        from minigrad.data import DataError
        from minigrad.layers import CheckpointError
        from .shared.weights import WeightsError
        return _reporting(run_evaluate, (DataError, CheckpointError, WeightsError), args)
    if args.command == "compare":
        return _reporting(run_compare, (OSError, ValueError), args)
    resumable = tuple(LM_DEFAULTS) + SEQ2SEQ_MODELS
    if (args.checkpoint_every or args.resume) and args.model not in resumable:
        parser.error("--checkpoint-every and --resume are for the language and seq2seq models "
                     f"({', '.join(resumable)})")
    if args.resume and not os.path.isfile(args.resume):
        # Before the data and the model load, so a mistyped path costs nothing.
        parser.error(f"--resume {args.resume}: no such file; it is the NAME_resume.npz that "
                     "--checkpoint-every writes into the run's output folder")
    if args.distributed and args.model not in DISTRIBUTED_MODELS:
        parser.error(f"--distributed is for {', '.join(DISTRIBUTED_MODELS)}")
    if args.threads:
        # Only effective before numpy's BLAS starts, hence the late imports below.
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    if not args.distributed:
        args.comm = None
        return _run(args)
    from minigrad import distributed

    # A rank that raises aborts the job: the others would wait for it forever.
    with distributed.abort_on_error():
        args.comm = distributed.create_communicator()
        if not distributed.is_root(args.comm):
            # Rank 0 speaks for the job; the others keep their errors (stderr).
            sys.stdout = open(os.devnull, "w")
        return _run(args)


def _run(args):
    import contextlib

    import minigrad.random
    from minigrad import AnomalyError, detect_anomaly
    from minigrad.data import DataError
    from minigrad.layers import CheckpointError
    from minigrad.training import NonFiniteError

    if args.seed is None and args.model != "two-layer-net":
        args.seed = 0
    if args.seed is not None:
        if args.comm is None:
            minigrad.random.seed(args.seed)
        else:   # dropout masks and negative samples: each rank its own draws
            from minigrad.distributed import seed
            seed(args.seed, args.comm.rank)
    out_dir = args.out or os.path.join("runs", args.model)
    runner = {"cbow": run_word2vec, "skipgram": run_word2vec, "two-layer-net": run_two_layer_net,
              "binary-addition": run_binary_addition, "seq2seq": run_seq2seq,
              "attention-seq2seq": run_seq2seq}.get(args.model, run_lm)
    # Every rank meets these alike (the same data, the same resume file).
    with detect_anomaly() if args.anomaly else contextlib.nullcontext():
        return _reporting(runner, (DataError, CheckpointError, NonFiniteError, AnomalyError),
                          args, out_dir)


def _reporting(run, expected, *args):
    """``run(*args)``; an ``expected`` failure (missing data, a checkpoint that
    does not fit, ...) is one line on stderr and exit status 2, not a traceback."""
    try:
        return run(*args)
    except expected as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
