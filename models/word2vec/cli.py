"""``python -m models train cbow | skipgram`` and ``python -m models evaluate
cbow | skipgram``: the book's ch04/train.py and ch04/eval.py."""
from __future__ import annotations

from ..shared import cli as common
from ..shared.cli import book_default, load_words, pick, positive_or_off

TRAIN = {
    "cbow": "chapter 4: CBOW with negative sampling on PTB",
    "skipgram": "chapter 4: skip-gram with negative sampling on PTB",
}
EVALUATE = {name: "the book's queries and analogies on a run's vectors or the book's "
                  "cbow_params.pkl" for name in TRAIN}

BOOK = dict(window=5, hidden=100, batch_size=100, lr=0.001, epochs=10)
QUICK_EPOCHS = 1
QUICK_BATCHES = 30
DATA_HELP = ("directory of PTB (default: $MINIGRAD_DATA or the cache; with --quick and no "
             "--data, the small corpus that ships with minigrad)")


def add_train_options(parser, model):
    common.add_train_options(parser, data=DATA_HELP, epochs=(BOOK["epochs"], QUICK_EPOCHS))
    parser.add_argument("--window", type=int, help=book_default("window size", BOOK["window"]))
    parser.add_argument("--hidden", type=int, help=book_default("H, the vectors' size",
                                                                BOOK["hidden"]))
    parser.add_argument("--batch-size", type=int, help=book_default("batch size",
                                                                    BOOK["batch_size"]))
    parser.add_argument("--lr", type=float, help=book_default("Adam learning rate", BOOK["lr"]))
    parser.add_argument("--max-grad", type=float,
                        help="clip the global gradient norm (the book's: off)")
    parser.add_argument("--sparse", action="store_true",
                        help="lazy Adam, only the looked-up rows and their moments move "
                             "(PyTorch's SparseAdam; faster, other vectors). Default: the "
                             "book's Adam, every row at every step")


def train(args, out_dir):
    import numpy as np

    from minigrad.data import create_contexts_target
    from minigrad.distributed import is_root
    from minigrad.optimizers import Adam

    from .evaluate import BOOK_QUERIES, SMALL_CORPUS_QUERIES, evaluate_vectors, format_report
    from .model import CBOW, SkipGram
    from .train import train_word2vec

    window, hidden = pick(args.window, BOOK["window"]), pick(args.hidden, BOOK["hidden"])
    batch, lr = pick(args.batch_size, BOOK["batch_size"]), pick(args.lr, BOOK["lr"])
    epochs = pick(args.epochs, QUICK_EPOCHS if args.quick else BOOK["epochs"])
    max_grad = positive_or_off(args.max_grad)
    corpus, word_to_id, id_to_word = load_words("train", args)
    if args.quick:
        corpus = corpus[:batch * QUICK_BATCHES + 2 * window]
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
                             report_every=args.report_every, max_grad=max_grad,
                             checkpoint_every=args.checkpoint_every, resume=args.resume,
                             comm=args.comm,
                             shuffle_seed=args.seed, stop_on_nonfinite=not args.keep_going)
    if not is_root(args.comm):
        return 0                                  # rank 0 writes and reports
    history.update(adam="lazy" if args.sparse else "book", seed=args.seed)
    # The whole vocabulary even with --quick: every query word the corpus has is in it.
    queries = SMALL_CORPUS_QUERIES if args.quick and args.data is None else BOOK_QUERIES
    history["evaluation"] = evaluate_vectors(model.word_vecs, word_to_id, id_to_word,
                                             queries=queries)
    common.print_outputs(common.write_outputs(history, out_dir, args.model))
    print(f"final loss: {history['loss'][-1]:.4f}")
    print(format_report(history["evaluation"]))
    return 0


def add_evaluate_options(parser, model):
    """The vectors' file is all an evaluation takes."""


def evaluate(args):
    from .evaluate import evaluate_vectors, format_report, load_vectors
    from .model import CBOW, SkipGram

    cls = CBOW if args.model == "cbow" else SkipGram
    vectors = load_vectors(args.checkpoint, cls, args.data)
    print(f"{args.model} {args.checkpoint}: vocabulary {len(vectors.word_to_id)}, "
          f"H {vectors.word_vecs.shape[1]}")
    print(format_report(evaluate_vectors(*vectors)))
    return 0
