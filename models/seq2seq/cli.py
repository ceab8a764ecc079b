"""``python -m models train seq2seq | attention-seq2seq``, ``python -m models
evaluate attention-seq2seq`` and ``python -m models compare``: the book's
ch07/train_seq2seq.py, ch08/train.py and its evaluation, and the accuracy
figures of chapters 7 and 8."""
from __future__ import annotations

import argparse
import os

from ..shared import cli as common
from ..shared.cli import book_default, pick, positive_or_off

TRAIN = {
    "seq2seq": "chapter 7: the encoder-decoder (--peeky: the Peeky decoder), on addition",
    "attention-seq2seq": "chapter 8: the encoder-decoder with attention, on dates",
}
EVALUATE = {"attention-seq2seq": "accuracy on the date test questions of a run's weights or "
                                 "the book's AttentionSeq2seq.pkl"}

DATASET = {"seq2seq": "addition", "attention-seq2seq": "date"}
QUICK = dict(epochs=1, hidden=32, train_batches=4, test_size=200, generated=1000)
DATA_HELP = ("directory of the sequence files (default: $MINIGRAD_DATA or the cache; with "
             "--quick and no --data, generated questions)")


def add_train_options(parser, model):
    from .train import BOOK_SETTINGS

    attention = model == "attention-seq2seq"
    book = BOOK_SETTINGS[DATASET[model]]
    common.add_train_options(parser, data=DATA_HELP, epochs=(book["max_epoch"], QUICK["epochs"]))
    parser.add_argument("--dataset", choices=("addition", "date"),
                        help=f"the data set (default: {DATASET[model]}, as in the book)")
    parser.add_argument("--reverse", action=argparse.BooleanOptionalAction,
                        help=f"read the questions backwards (the book's: "
                             f"{'on' if attention else 'off'})")
    parser.add_argument("--wordvec", type=int, help=book_default("D", book["wordvec_size"]))
    parser.add_argument("--hidden", type=int, help=book_default("H", book["hidden_size"],
                                                                QUICK["hidden"]))
    parser.add_argument("--batch-size", type=int, help=book_default("batch size",
                                                                    book["batch_size"]))
    parser.add_argument("--lr", type=float, help=book_default("Adam learning rate", book["lr"]))
    parser.add_argument("--max-grad", type=float,
                        help=book_default("clip the global gradient norm (<= 0: off)",
                                          book["max_grad"]))
    if attention:
        parser.add_argument("--bidirectional", action="store_true",
                            help="the book's bidirectional LSTM encoder")
        parser.add_argument("--merge", choices=("concat", "sum"), default="concat",
                            help="--bidirectional: join the directions' states (default "
                                 "concat)")
    else:
        parser.add_argument("--peeky", action="store_true", help="the PeekyDecoder")
    parser.add_argument("--book-stream", action="store_true",
                        help="draw the initial weights and every epoch's shuffle from the "
                             "book's random stream (numpy's seed 1984, after the data's "
                             "shuffle), as the book's scripts do; --seed is then not used")


def generated_data(dataset, lines, seed=0):
    """A :class:`~minigrad.data.SequenceData` of ``lines`` generated questions of
    the book's kind, for runs without the files: sums of two numbers below
    1000 (``"16+75  _91  "``) or dates written M/D/YY."""
    import numpy as np

    from minigrad.data.sequence import numeric_dates, parse_lines

    if dataset == "date":
        return parse_lines(numeric_dates(lines, seed=seed), name="date (generated)")
    a, b = np.random.default_rng(seed).integers(0, 1000, (2, lines))
    return parse_lines([f"{f'{x}+{y}':<7}_{x + y:<4}" for x, y in zip(a, b)],
                       name="addition (generated)")


def _name(args, attention, dataset, reverse):
    """runs/NAME and the label of the accuracy figure, from the options."""
    peeky = getattr(args, "peeky", False)
    bidirectional = getattr(args, "bidirectional", False)
    base = "attention-seq2seq" if attention else ("peeky-seq2seq" if peeky else "seq2seq")
    label = "Attention" if attention else ("Peeky" if peeky else "Seq2seq")
    if bidirectional:
        base += "-bidirectional" + ("-sum" if args.merge == "sum" else "")
        label += ", bidirectional encoder" + (" (sum)" if args.merge == "sum" else "")
    if dataset != DATASET[args.model]:
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


def train(args, out_dir):
    """The book's ch07/train_seq2seq.py and ch08/train.py: Adam, clipping 5,
    batch 128; accuracy on the 5,000 test questions after each epoch."""
    import dataclasses

    import numpy as np

    from minigrad.data import load_sequence
    from minigrad.distributed import is_root

    from .model import AttentionSeq2seq, PeekySeq2seq, Seq2seq
    from .pictures import plot_attention_maps, plot_decoder_step_graph
    from .train import BOOK_SETTINGS, train_seq2seq

    attention = args.model == "attention-seq2seq"
    dataset = args.dataset or DATASET[args.model]
    reverse = attention if args.reverse is None else args.reverse
    book = BOOK_SETTINGS[dataset]
    D, H = pick(args.wordvec, book["wordvec_size"]), pick(args.hidden, book["hidden_size"])
    batch, lr = pick(args.batch_size, book["batch_size"]), pick(args.lr, book["lr"])
    epochs = pick(args.epochs, QUICK["epochs"] if args.quick else book["max_epoch"])
    max_grad = positive_or_off(pick(args.max_grad, book["max_grad"]))
    if args.quick and args.data is None:
        data = generated_data(dataset, QUICK["generated"], seed=args.seed)
    else:
        data = load_sequence(dataset, args.data)
    test_size = None
    if args.quick:
        H = pick(args.hidden, QUICK["hidden"])
        keep = batch * QUICK["train_batches"]
        data = dataclasses.replace(data, x_train=data.x_train[:keep], t_train=data.t_train[:keep])
        test_size = QUICK["test_size"]
    name, label = _name(args, attention, dataset, reverse)
    out_dir = args.out or os.path.join("runs", name)
    # On several ranks every rank must draw the same order (each takes its rows).
    rng, batches_rng = args.seed, None if args.comm is None else np.random.default_rng(args.seed)
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
                            progress=not args.no_progress, report_every=args.report_every,
                            test_size=test_size, checkpoint_every=args.checkpoint_every,
                            resume=args.resume, comm=args.comm, rng=batches_rng,
                            stop_on_nonfinite=not args.keep_going)
    if not is_root(args.comm):
        return 0                                  # rank 0 writes and reports
    history.update(label=label, wordvec_size=D, hidden_size=H, dataset=dataset)
    paths = common.write_outputs(history, out_dir, name)
    if attention:
        paths["attention maps"] = plot_attention_maps(
            model, data, os.path.join(out_dir, f"{name}_attention.png"), reverse=reverse)
        paths["decoder step"] = plot_decoder_step_graph(
            model, os.path.join(out_dir, f"{name}_decoder_step.png"), data)
    common.print_outputs(paths)
    accuracies = history["test_accuracy"]
    print("test accuracy by epoch: " + ", ".join(f"{100 * a:.2f}%" for a in accuracies))
    return 0


def add_evaluate_options(parser, model):
    parser.add_argument("--questions", type=int, metavar="N",
                        help="the first N date test questions (default: all)")


def evaluate(args):
    """The book's ch08 evaluation: exact-match accuracy on the date test split,
    questions reversed."""
    from minigrad.data import load_sequence

    from .model import AttentionSeq2seq, exact_match_accuracy

    data = load_sequence("date", args.data)
    xs, ts = data.split("test", reverse=True)
    n = args.questions or len(xs)
    model = AttentionSeq2seq.from_file(args.checkpoint)
    accuracy, _ = exact_match_accuracy(model, xs[:n], ts[:n])
    print(f"attention-seq2seq {args.checkpoint}: V {model.vocab_size}, D {model.wordvec_size}, "
          f"H {model.hidden_size}")
    print(f"accuracy ({min(n, len(xs))} date test questions, reversed): {100 * accuracy:.1f}%")
    return 0


def add_compare_options(parser):
    parser.add_argument("metrics", nargs="+", help="*_metrics.json files of seq2seq runs")
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("--title", default="Test accuracy by epoch")


def compare(args):
    """Test accuracy by epoch of several runs in one figure."""
    from .pictures import plot_accuracy_by_epoch, read_accuracy_runs

    runs = read_accuracy_runs(args.metrics)
    path = plot_accuracy_by_epoch(runs, args.out, title=args.title)
    for label, accuracies in runs:
        print(f"  {label:<40} " + " ".join(f"{100 * a:5.1f}" for a in accuracies))
    print(f"wrote {path}" if path else "no picture written (matplotlib is missing)")
    return 0
