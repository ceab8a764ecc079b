"""``python -m models train simple-rnnlm | rnnlm | better-rnnlm`` and
``python -m models evaluate rnnlm``: the book's ch05/train.py,
ch06/train_rnnlm.py, ch06/train_better_rnnlm.py and ch06/eval.py."""
from __future__ import annotations

from ..shared import cli as common
from ..shared.cli import book_default, load_words, pick, positive_or_off

TRAIN = {
    "simple-rnnlm": "chapter 5: the simple RNN language model, on PTB's first 1000 words",
    "rnnlm": "chapter 6: the LSTM language model on PTB",
    "better-rnnlm": "chapter 6: two LSTM (or GRU) layers, dropout, tied weights, on PTB",
}
EVALUATE = {"rnnlm": "perplexity on ptb.test of a run's weights or the book's Rnnlm.pkl"}

# The book's settings, and the hidden size a --quick better-rnnlm uses.
BOOK = {
    "simple-rnnlm": dict(batch_size=10, time_size=5, hidden=100, lr=0.1, max_grad=None, epochs=100),
    "rnnlm": dict(batch_size=20, time_size=35, hidden=100, lr=20.0, max_grad=0.25, epochs=4),
    "better-rnnlm": dict(batch_size=20, time_size=35, hidden=650, lr=20.0, max_grad=0.25,
                         epochs=40),
}
QUICK = {"epochs": 2, "better-rnnlm hidden": 64}
SIMPLE_RNNLM_WORDS = 1000     # the book trains SimpleRnnlm on PTB's first 1000 words
EVAL_BATCH = 10
DATA_HELP = ("directory of PTB (default: $MINIGRAD_DATA or the cache; with --quick and no "
             "--data, the small corpus that ships with minigrad)")


def add_train_options(parser, model):
    book = BOOK[model]
    common.add_train_options(parser, data=DATA_HELP, epochs=(book["epochs"], QUICK["epochs"]))
    parser.add_argument("--batch-size", type=int, help=book_default("batch size",
                                                                    book["batch_size"]))
    parser.add_argument("--time-size", type=int, help=book_default("truncated BPTT length",
                                                                   book["time_size"]))
    quick_hidden = QUICK["better-rnnlm hidden"] if model == "better-rnnlm" else None
    parser.add_argument("--hidden", type=int, help=book_default("D = H", book["hidden"],
                                                                quick_hidden))
    parser.add_argument("--lr", type=float, help=book_default("SGD learning rate", book["lr"]))
    parser.add_argument("--max-grad", type=float,
                        help=book_default("clip the global gradient norm (<= 0: off)",
                                          book["max_grad"] or "off"))
    if model == "better-rnnlm":
        parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm",
                            help="the recurrent cell (the book's: lstm)")
        parser.add_argument("--dropout", type=float, default=0.5,
                            help="dropout ratio (the book's: 0.5)")
    if model != "simple-rnnlm":
        parser.add_argument("--sample", type=int, default=0, metavar="N",
                            help="print N words generated from 'you' after training")


def train(args, out_dir):
    import numpy as np

    from minigrad.distributed import is_root
    from minigrad.layers import load_weights

    from minigrad.training import perplexity

    from .model import BetterRnnlm, Rnnlm, SimpleRnnlm
    from .train import train_rnnlm

    d = BOOK[args.model]
    batch, time_size = pick(args.batch_size, d["batch_size"]), pick(args.time_size, d["time_size"])
    quick_hidden = QUICK["better-rnnlm hidden"] if args.model == "better-rnnlm" else d["hidden"]
    hidden = pick(args.hidden, quick_hidden if args.quick else d["hidden"])
    lr, epochs = pick(args.lr, d["lr"]), pick(args.epochs, QUICK["epochs"] if args.quick
                                                  else d["epochs"])
    max_grad = positive_or_off(pick(args.max_grad, d["max_grad"]))
    train_words, word_to_id, _ = load_words("train", args)
    rng = np.random.default_rng(args.seed)

    if args.model == "simple-rnnlm":
        train_words = train_words[:SIMPLE_RNNLM_WORDS]
        valid = test = None          # its vocabulary is that slice's, test words fall outside
        vocab = int(train_words.max()) + 1
        model = SimpleRnnlm(vocab, hidden, hidden, rng=rng)
        schedule = None
    else:
        valid, _, _ = load_words("valid", args)
        test, _, _ = load_words("test", args)
        vocab = len(word_to_id)
        if args.model == "rnnlm":
            model, schedule = Rnnlm(vocab, hidden, hidden, rng=rng), None
        else:
            model = BetterRnnlm(vocab, hidden, hidden, dropout_ratio=args.dropout, cell=args.cell,
                                rng=rng)
            schedule = "divide_by_4_when_worse"
    if args.quick:
        # A few batches each: enough to run every path (validation, checkpoint, test).
        train_words = train_words[:batch * time_size * 3 + 1]
        if valid is not None:
            valid = valid[:EVAL_BATCH * time_size * 2 + 1]
            test = test[:EVAL_BATCH * time_size * 2 + 1]

    name = args.model if args.model != "better-rnnlm" else f"better-rnnlm-{args.cell}"
    print(f"{name}: {len(train_words)} training words, vocabulary {vocab}, batch {batch}, "
          f"time {time_size}, D = H = {hidden}, lr {lr}, clip {max_grad}, {epochs} epochs")
    comm = args.comm
    history = train_rnnlm(model, train_words, valid, batch_size=batch, time_size=time_size, lr=lr,
                          max_epoch=epochs, max_grad=max_grad, lr_schedule=schedule,
                          out_dir=out_dir, name=name, progress=not args.no_progress,
                          report_every=args.report_every, eval_batch_size=EVAL_BATCH,
                          checkpoint_every=args.checkpoint_every, resume=args.resume, comm=comm,
                          stop_on_nonfinite=not args.keep_going)
    if test is not None:
        if history["checkpoint"]:
            if is_root(comm):
                load_weights(model, history["checkpoint"])   # the best validation model
            if comm is not None:
                comm.broadcast_params(model.params())        # rank 0 read the file
        history["test_ppl"] = perplexity(model, test, batch_size=EVAL_BATCH,
                                         time_size=time_size, comm=comm)
    if not is_root(comm):
        return 0                                  # rank 0 writes and reports
    common.print_outputs(common.write_outputs(history, out_dir, name))
    print(f"final training perplexity: {history['train_ppl'][-1]:.2f}")
    if history["valid_ppl"]:
        print(f"best validation perplexity: {history['best_valid_ppl']:.2f} "
              f"(epoch {history['best_epoch']})")
    if test is not None:
        what = "ptb.test" if not args.quick else (
            "first words of ptb.test, --quick" if args.data else "the small corpus' test words")
        print(f"test perplexity ({what}): {history['test_ppl']:.2f}")
    if getattr(args, "sample", 0) > 0:
        print(_sample_text(model, args.sample, args.seed, args))
    return 0


def _sample_text(model, length, seed, args):
    """The book's generate_text.py: start at 'you', never draw N, <unk> or $."""
    from .generate_text import generate, ids_to_text

    _, word_to_id, id_to_word = load_words("train", args)
    skip = [word_to_id[w] for w in ("N", "<unk>", "$") if w in word_to_id]
    start = word_to_id.get("you", 0)     # the small corpus has no 'you'
    ids = generate(model, start, length, skip_ids=skip, rng=seed)
    return "sample:\n" + ids_to_text(ids, id_to_word)


def add_evaluate_options(parser, model):
    parser.add_argument("--words", type=int, metavar="N",
                        help="the first N words of ptb.test (default: all of them)")


def evaluate(args):
    """The book's ch06/eval.py: perplexity on ptb.test, batch 20 x time 35."""
    from minigrad.data import load_ptb

    from minigrad.training import perplexity

    from .model import Rnnlm

    test, _, _ = load_ptb("test", data_dir=args.data)
    test = test[:args.words] if args.words else test
    model = Rnnlm.from_file(args.checkpoint)
    ppl = perplexity(model, test, batch_size=20, time_size=35)
    print(f"rnnlm {args.checkpoint}: V {model.embed.W.shape[0]}, D {model.embed.W.shape[1]}, "
          f"H {model.lstm.hidden_size}")
    print(f"test perplexity ({len(test)} words of ptb.test): {ppl:.2f}")
    return 0
