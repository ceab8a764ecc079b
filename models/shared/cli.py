"""What the command line of every model family shares: the options each
``train MODEL`` takes, help that states the book's default, the corpus a
``--quick`` run reads offline, and the outputs a run leaves.

Each family's ``cli.py`` adds its own options to its own subcommand, so
``python -m models train MODEL --help`` lists that model's options only.
"""
from __future__ import annotations

__all__ = ["pick", "book_default", "add_train_options", "load_words", "write_outputs",
           "print_outputs", "positive_or_off"]

# The small corpus a --quick run reads when no --data is given (4,621 words): 80% to
# train on, 10% each to validate and test, enough for one batch of 10 x 35 each.
QUICK_SPLITS = {"train": (0.0, 0.8), "valid": (0.8, 0.9), "test": (0.9, 1.0)}


def pick(value, default):
    """An option's value, or the default when it was not given."""
    return default if value is None else value


def book_default(text, book, quick=None):
    """Help text that states the book's value, and the --quick one where it differs."""
    shown = f"the book's: {book}"
    if quick is not None and quick != book:
        shown += f"; --quick: {quick}"
    return f"{text} ({shown})"


def add_train_options(parser, *, data=None, epochs, seed=0, report_every=20):
    """The options every ``train MODEL`` takes. ``data``: what ``--data`` reads
    (None: the model takes no data); ``epochs``: (book, quick); ``seed``: the
    default seed (the book's own where it has one)."""
    if data is not None:
        parser.add_argument("--data", help=data)
    parser.add_argument("--out", help="output directory (default: runs/MODEL)")
    parser.add_argument("--epochs", type=int, help=book_default("epochs", *epochs))
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run for smoke tests, offline unless --data is given")
    parser.add_argument("--seed", type=int, default=seed,
                        help="random seed (default %(default)s)")
    parser.add_argument("--report-every", type=int, default=report_every, metavar="N",
                        help="batches per progress report (default %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars or lines")
    parser.add_argument("--anomaly", action="store_true",
                        help="run in minigrad's anomaly mode: the first NaN or Inf names the "
                             "operation that made it and the line that called it (slower)")
    parser.add_argument("--eager", action="store_true",
                        help="run every training step eagerly, graph and all (by default a "
                             "step is recorded once and replayed, with the same results)")
    parser.add_argument("--keep-going", action="store_true",
                        help="train on through a NaN or Inf loss or gradient (by default the "
                             "run stops there, naming the epoch, the iteration and the "
                             "parameter)")
    parser.add_argument("--threads", type=int,
                        help="BLAS threads (set before numpy loads; 1 is fastest on a busy "
                             "machine)")
    parser.add_argument("--checkpoint-every", type=int, metavar="N",
                        help="write the whole training state every N batches (and at each "
                             "epoch's end) to OUT/NAME_resume.npz")
    parser.add_argument("--resume", metavar="PATH",
                        help="continue from a --checkpoint-every file; the other options must "
                             "describe the same run (--epochs may be raised)")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the ranks of `mpirun -n N` (pip install "
                             "'minigrad[distributed]'); the batch size must divide by N")


def load_words(split, args):
    """``(corpus, word_to_id, id_to_word)`` of one split: PTB's (from ``--data``,
    else $MINIGRAD_DATA or the cache), or with ``--quick`` and no ``--data`` a
    slice of the small corpus that ships with minigrad, so that the run needs
    no download."""
    from minigrad.data import load_ptb, load_small_corpus

    if not (args.quick and args.data is None):
        return load_ptb(split, data_dir=args.data)
    corpus, word_to_id, id_to_word = load_small_corpus()
    start, end = (int(len(corpus) * f) for f in QUICK_SPLITS[split])
    return corpus[start:end], word_to_id, id_to_word


def write_outputs(history, out_dir, name):
    """The run's metrics (JSON) and curves (PNG), and where its checkpoint is."""
    from minigrad.training import save_outputs

    paths = save_outputs(history, out_dir, name)
    return {"checkpoint": history.get("checkpoint"), "plot": paths["plot"],
            "metrics": paths["metrics"]}


def print_outputs(paths):
    print("outputs:")
    for key in ("checkpoint", "plot", "metrics", "boundary", "attention maps", "decoder step"):
        if key in ("checkpoint", "plot", "metrics") or key in paths:
            print(f"  {key:<14} {paths.get(key) or '(none)'}")


def positive_or_off(value):
    """A clipping norm from the command line: <= 0 turns clipping off."""
    return value if value and value > 0 else None

