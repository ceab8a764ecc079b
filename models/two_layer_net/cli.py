"""``python -m models train two-layer-net``: the book's ch01/train.py, with the
loss curve and the decision-boundary picture."""
from __future__ import annotations

from ..shared import cli as common
from ..shared.cli import book_default, pick, positive_or_off

TRAIN = {"two-layer-net": "chapter 1: the two-layer network on the spiral"}
EVALUATE = {}

BOOK = dict(hidden=10, lr=1.0, batch_size=30, epochs=300, seed=1984)
QUICK_EPOCHS = 10


def add_train_options(parser, model):
    common.add_train_options(parser, epochs=(BOOK["epochs"], QUICK_EPOCHS), seed=BOOK["seed"])
    parser.add_argument("--hidden", type=int, help=book_default("hidden size", BOOK["hidden"]))
    parser.add_argument("--lr", type=float, help=book_default("SGD learning rate", BOOK["lr"]))
    parser.add_argument("--batch-size", type=int, help=book_default("batch size",
                                                                    BOOK["batch_size"]))
    parser.add_argument("--max-grad", type=float,
                        help="clip the global gradient norm (the book's: off)")


def train(args, out_dir):
    from pathlib import Path

    from minigrad.distributed import is_root

    from .model import accuracy, book_setup, plot_decision_boundary, train_two_layer_net

    hidden, lr = pick(args.hidden, BOOK["hidden"]), pick(args.lr, BOOK["lr"])
    batch = pick(args.batch_size, BOOK["batch_size"])
    epochs = pick(args.epochs, QUICK_EPOCHS if args.quick else BOOK["epochs"])
    print(f"two-layer-net: spiral 300 points, 3 classes, hidden {hidden}, SGD lr {lr}, "
          f"batch {batch}, {epochs} epochs")
    model, x, t, stream = book_setup(hidden, seed=args.seed)
    history = train_two_layer_net(model, x, t, batch_size=batch, max_epoch=epochs, lr=lr,
                                  max_grad=positive_or_off(args.max_grad), out_dir=out_dir,
                                  progress=not args.no_progress, report_every=args.report_every,
                                  checkpoint_every=args.checkpoint_every, resume=args.resume,
                                  comm=args.comm, rng=stream,
                                  stop_on_nonfinite=not args.keep_going)
    if not is_root(args.comm):
        return 0                                  # rank 0 writes and reports
    history["accuracy"] = accuracy(model, x, t)
    history["final_loss"] = float(model.loss(x, t).data)
    paths = common.write_outputs(history, out_dir, "two-layer-net")
    paths["boundary"] = plot_decision_boundary(model, x, t,
                                               Path(out_dir) / "two-layer-net_boundary.png")
    common.print_outputs(paths)
    print(f"training accuracy: {history['accuracy']:.3f}, loss over all points: "
          f"{history['final_loss']:.4f}")
    return 0
