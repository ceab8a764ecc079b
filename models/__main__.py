"""Command line: ``python -m models train MODEL [options]`` (from the repository
root; installed, ``python -m minigrad_models``), ``python -m models evaluate
MODEL FILE``, ``python -m models experiment binary-addition`` (the course
notes' experiments) and ``python -m models compare`` (seq2seq runs' accuracy).

MODEL is one of two-layer-net (the book's chapter 1), binary-addition (the
course notes' program; ``--recipe minibatch`` for the faster minibatch one),
cbow, skipgram (chapter 4), simple-rnnlm, rnnlm, better-rnnlm (chapters 5 and
6), seq2seq (chapter 7) and attention-seq2seq (chapter 8). Each has options of
its own, with the book's (and the notes') hyper-parameters as defaults:
``python -m models train MODEL --help`` lists them. ``--quick`` runs a tiny
version for smoke tests, offline: on the small corpus that ships with minigrad
(the language models, word2vec) or on generated questions (seq2seq), unless
``--data`` names the real files. PTB and the sequence data sets are read from
``--data``, else ``$MINIGRAD_DATA``, else the user cache (downloaded there
when missing and online). ``evaluate`` takes saved weights, a run's or the
book's own trained ones (the book's ``.pkl`` files, read safely): the
word2vec queries for cbow and skipgram, the perplexity on ptb.test for rnnlm,
the accuracy on the date test questions for attention-seq2seq.

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

``--distributed`` (every model; the binary adder in its minibatch recipe)
trains data-parallel on the ranks of an MPI job (``pip install
'minigrad[distributed]'``): each rank takes its share of every batch, only
rank 0 prints and writes files, and a rank that fails ends the whole job.
With ``--quick`` it needs nothing downloaded:
``mpirun -n 2 python -m models train MODEL --distributed --quick``.

Each model family's ``cli.py`` holds its options and its run; this file only
gathers them.
"""
from __future__ import annotations

import argparse
import os
import sys

EXPERIMENTS = ("binary-addition",)


def _set_threads(argv):
    """``--threads N`` takes effect only before numpy's BLAS starts, and the
    families' options import numpy: so it is read, and set, first."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--threads", type=int)
    threads = early.parse_known_args(argv)[0].threads
    if threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)


def _families():
    """Each family's command line, in the book's order."""
    from .binary_addition import cli as binary_addition
    from .rnnlm import cli as rnnlm
    from .seq2seq import cli as seq2seq
    from .two_layer_net import cli as two_layer_net
    from .word2vec import cli as word2vec

    return (two_layer_net, binary_addition, word2vec, rnnlm, seq2seq)


def build_parser():
    from .seq2seq import cli as seq2seq

    parser = argparse.ArgumentParser(prog=f"python -m {__package__}",
                                     description="Train the book's models on minigrad.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model and save checkpoint, metrics and plot",
                           description="Train one of the book's models; `train MODEL --help` "
                                       "lists that model's options and the book's defaults.")
    train_models = train.add_subparsers(dest="model", required=True, metavar="MODEL")
    evaluate = sub.add_parser("evaluate", help="evaluate saved weights: a run's checkpoint or "
                                               "one of the book's .pkl files")
    evaluate_models = evaluate.add_subparsers(dest="model", required=True, metavar="MODEL")
    for family in _families():
        for model, text in family.TRAIN.items():
            p = train_models.add_parser(model, help=text, description=text)
            family.add_train_options(p, model)
            p.set_defaults(run=family.train)
        for model, text in family.EVALUATE.items():
            p = evaluate_models.add_parser(model, help=text, description=text)
            p.add_argument("checkpoint", help="the .npz that `train MODEL` wrote, a resume "
                                              "file, or the book's .pkl")
            p.add_argument("--data", help="PTB or sequence folder, or a root holding ptb/ and "
                                          "sequence/ (default: as for train)")
            family.add_evaluate_options(p, model)
            p.set_defaults(run=family.evaluate)
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
    seq2seq.add_compare_options(c)
    c.set_defaults(run=seq2seq.compare)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    _set_threads(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "experiment":
        from .binary_addition import experiments
        return {"binary-addition": experiments}[args.name].main(args)
    if args.command == "evaluate":
        from minigrad.data import DataError
        from minigrad.layers import CheckpointError

        from .shared.weights import WeightsError
        return _reporting(args.run, (DataError, CheckpointError, WeightsError), args)
    if args.command == "compare":
        return _reporting(args.run, (OSError, ValueError), args)
    if getattr(args, "resume", None) and not os.path.isfile(args.resume):
        # Before the data and the model load, so a mistyped path costs nothing.
        parser.error(f"--resume {args.resume}: no such file; it is the NAME_resume.npz that "
                     "--checkpoint-every writes into the run's output folder")
    if not getattr(args, "distributed", False):
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
    from minigrad import AnomalyError, CompileError, detect_anomaly
    from minigrad.data import DataError
    from minigrad.layers import CheckpointError
    from minigrad.training import NonFiniteError, eager

    if args.comm is None:
        minigrad.random.seed(args.seed)
    else:   # dropout masks and negative samples: each rank its own draws
        from minigrad.distributed import seed
        seed(args.seed, args.comm.rank)
    out_dir = args.out or os.path.join("runs", args.model)
    # Every rank meets these alike (the same data, the same resume file).
    with detect_anomaly() if args.anomaly else contextlib.nullcontext(), \
            eager() if getattr(args, "eager", False) else contextlib.nullcontext():
        return _reporting(args.run, (DataError, CheckpointError, NonFiniteError, AnomalyError,
                                     CompileError), args, out_dir)


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
