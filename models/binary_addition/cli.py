"""``python -m models train binary-addition``: the course notes' program (SGD,
one random pair per iteration) or, with ``--recipe minibatch``, the faster
minibatch recipe; and ``python -m models experiment binary-addition``, the
notes' experiments (experiments.py)."""
from __future__ import annotations

from ..shared import cli as common
from ..shared.cli import book_default, pick, positive_or_off

TRAIN = {"binary-addition": "the course notes' RNN that adds two 7-bit numbers bit by bit"}
EVALUATE = {}

NOTES = dict(iterations=10_000, hidden=16, lr=0.1)
MINIBATCH = dict(epochs=40, lr=0.01)
QUICK = dict(iterations=500, epochs=1)


def add_train_options(parser, model):
    common.add_train_options(parser, epochs=(MINIBATCH["epochs"], QUICK["epochs"]),
                             report_every=100)    # the notes plot the loss every 100 pairs
    parser.add_argument("--recipe", choices=("notes", "minibatch"), default="notes",
                        help="the course notes' program (default) or the faster minibatch "
                             "recipe (--epochs, --batch-size are its)")
    parser.add_argument("--iterations", type=int,
                        help=book_default("notes: SGD steps, one pair each",
                                          NOTES["iterations"], QUICK["iterations"]))
    parser.add_argument("--hidden", type=int, help=book_default("hidden size", NOTES["hidden"]))
    parser.add_argument("--lr", type=float,
                        help=book_default("learning rate", f"{NOTES['lr']} (notes), "
                                                           f"{MINIBATCH['lr']} (minibatch)"))
    parser.add_argument("--batch-size", type=int, help="minibatch: batch size (default 256)")
    parser.add_argument("--max-grad", type=float,
                        help="clip the global gradient norm (default: off, as the notes)")


def train(args, out_dir):
    from minigrad.distributed import is_root

    if args.recipe == "minibatch":
        history = _minibatch(args, out_dir)
        if not is_root(args.comm):
            return 0                              # rank 0 writes and reports
    else:
        if args.distributed:
            raise SystemExit("error: the notes' program steps on one pair at a time, which "
                             "cannot be split over ranks: use --recipe minibatch with "
                             "--distributed")
        history = _notes(args, out_dir)
    common.print_outputs(common.write_outputs(history, out_dir, "binary-addition"))
    print(f"accuracy over all 16,384 sums: {history['accuracy']:.4f}")
    return 0


def _minibatch(args, out_dir):
    import numpy as np

    from .model import MinibatchAdder, train_minibatch_adder

    epochs = pick(args.epochs, QUICK["epochs"] if args.quick else MINIBATCH["epochs"])
    rng = np.random.default_rng(args.seed)
    model = MinibatchAdder(pick(args.hidden, NOTES["hidden"]), rng=rng)
    kwargs = {"batch_size": args.batch_size} if args.batch_size else {}
    history = train_minibatch_adder(model, max_epoch=epochs, lr=pick(args.lr, MINIBATCH["lr"]),
                                    max_grad=positive_or_off(args.max_grad), out_dir=out_dir,
                                    progress=not args.no_progress,
                                    report_every=args.report_every,
                                    checkpoint_every=args.checkpoint_every, resume=args.resume,
                                    comm=args.comm, rng=rng,
                                    stop_on_nonfinite=not args.keep_going, **kwargs)
    history["accuracy"] = history["accuracy"][-1]      # after the last epoch, as the notes'
    return history


def _notes(args, out_dir):
    from .model import NotesAdder, notes_streams, train_notes_adder

    iterations = pick(args.iterations, QUICK["iterations"] if args.quick else NOTES["iterations"])
    hidden, lr = pick(args.hidden, NOTES["hidden"]), pick(args.lr, NOTES["lr"])
    print(f"binary-addition (the course notes' program): hidden {hidden}, SGD lr {lr}, "
          f"one random pair per iteration, {iterations} iterations")
    weights_rng, pairs_rng = notes_streams(args.seed)
    history = train_notes_adder(NotesAdder(hidden, rng=weights_rng), iterations=iterations,
                                lr=lr, rng=pairs_rng, max_grad=positive_or_off(args.max_grad),
                                out_dir=out_dir, progress=not args.no_progress,
                                report_every=args.report_every,
                                checkpoint_every=args.checkpoint_every, resume=args.resume,
                                stop_on_nonfinite=not args.keep_going)
    print("every bit of the last 100 pairs right after "
          + (f"{history['converged_at']} iterations" if history["converged_at"] else
             f"(not within {iterations} iterations)"))
    return history
