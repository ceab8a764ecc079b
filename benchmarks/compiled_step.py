"""A training step run eagerly against the same step compiled (recorded once,
replayed): time per step, ratios from one round-robin run.

Workloads:

1. the 1000-op chain of engine_overhead.py on (8, 8) float32 (y = y * c_i,
   y = y + c_i, tanh, repeated), forward + backward, its constants
   parameters; against the hand-written numpy of the same chain;
2. the book's TwoLayerNet on the spiral's shapes (batch 30, hidden 10), SGD;
3. the book's Rnnlm (LSTM, V 1000, D = H = 100, batch 20, 35 steps), SGD with
   gradient clipping, stateful across calls;
4. the book's Seq2seq on the addition data's shapes (V 13, D 16, H 128,
   batch 128, 7 question and 5 answer characters), Adam.

Every workload first checks that eager and compiled give the same loss, bit
for bit, on one step. The first compiled call (the recording) is timed
against one eager step too. Writes results/compiled_step.{json,md}.

    python benchmarks/compiled_step.py [--threads N] [--rounds R] [--quick]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _harness import pin_threads  # noqa: E402

THREADS = pin_threads()

import numpy as np  # noqa: E402

import _harness as H  # noqa: E402
import minigrad as mg  # noqa: E402
from minigrad import layers as L  # noqa: E402
from minigrad import optimizers as O  # noqa: E402
from engine_overhead import CHAIN_LEN, CHAIN_SHAPE, MIX_TEXT, handwritten, make_chain  # noqa: E402
from engine_overhead import ADD, MUL  # noqa: E402


class Chain(L.Layer):
    """engine_overhead's chain with its constants as parameters."""

    def __init__(self, steps):
        super().__init__()
        self.kinds = [kind for kind, _ in steps]
        for i, (_, c) in enumerate(steps):
            if c is not None:
                setattr(self, f"c{i}", L.Parameter(c.copy()))

    def forward(self, x):
        y = x
        for i, kind in enumerate(self.kinds):
            if kind == MUL:
                y = y * getattr(self, f"c{i}")
            elif kind == ADD:
                y = y + getattr(self, f"c{i}")
            else:
                y = mg.functions.tanh(y)
        return y


def chain_workload():
    x, steps = make_chain(CHAIN_LEN, CHAIN_SHAPE)
    seed = np.ones_like(x)

    def make():
        model = Chain(steps)

        def step(x):
            model.zero_grad()
            y = model(x)
            y.backward(seed)
            return y
        return model, step
    return make, (x,), lambda: handwritten(x, steps, const_grads=True)


def _sgd_step(model, opt):
    def step(*batch):
        model.zero_grad()
        loss = model.loss(*batch)
        loss.backward()
        opt.update()
        return loss
    return step


def two_layer_net_workload():
    from models.two_layer_net import TwoLayerNet
    rng = np.random.default_rng(0)
    batch = (rng.normal(size=(30, 2)).astype(np.float32), rng.integers(0, 3, 30))

    def make():
        model = TwoLayerNet(2, 10, 3, rng=0)
        return model, _sgd_step(model, O.SGD(model, lr=1.0))
    return make, batch, None


def rnnlm_workload():
    from models.rnnlm import Rnnlm
    rng = np.random.default_rng(0)
    batch = (rng.integers(0, 1000, (20, 35)), rng.integers(0, 1000, (20, 35)))

    def make():
        model = Rnnlm(1000, 100, 100, rng=0)
        opt = O.SGD(model, lr=20.0)
        opt.add_hook(O.ClipGradNorm(0.25))
        return model, _sgd_step(model, opt)
    return make, batch, None


def seq2seq_workload():
    from models.seq2seq import Seq2seq
    rng = np.random.default_rng(0)
    batch = (rng.integers(0, 13, (128, 7)), rng.integers(0, 13, (128, 5)))

    def make():
        model = Seq2seq(13, 16, 128, rng=0)
        return model, _sgd_step(model, O.Adam(model))
    return make, batch, None


WORKLOADS = {
    f"1000-op chain {CHAIN_SHAPE}": chain_workload,
    "TwoLayerNet (batch 30)": two_layer_net_workload,
    "Rnnlm (LSTM, 20 x 35, V 1000)": rnnlm_workload,
    "Seq2seq (batch 128, addition)": seq2seq_workload,
}


def bench(name, workload, rounds):
    make, batch, by_hand = workload()
    eager_model, eager_step = make()
    fast_model, fast_step = make()
    fast = mg.compile(fast_step, fast_model)
    first_eager, want = H.time_once(lambda: eager_step(*batch))
    recording, got = H.time_once(lambda: fast(*batch))
    np.testing.assert_array_equal(got.data, want.data)   # the same step, bit for bit
    second, _ = H.time_once(lambda: fast(*batch))   # recorded again, with lines, and compared
    while fast.replays == 0:     # a stateful model's first call had no state: one more
        fast(*batch)
    recorded = fast.recordings
    contenders = {"eager": lambda: eager_step(*batch), "compiled": lambda: fast(*batch)}
    if by_hand is not None:
        contenders["hand-written numpy"] = by_hand
    t = H.round_robin(contenders, rounds)
    assert fast.recordings == recorded, "the compiled step recorded again while being timed"
    row = {"eager_ms": H.median(t.wall["eager"]) * 1e3,
           "compiled_ms": H.median(t.wall["compiled"]) * 1e3,
           "compiled_over_eager": H.paired_ratio(t.wall, "compiled", "eager"),
           "recording_over_eager": recording / first_eager,
           "second_recording_over_eager": second / first_eager}
    if by_hand is not None:
        row["numpy_ms"] = H.median(t.wall["hand-written numpy"]) * 1e3
        row["eager_over_numpy"] = H.paired_ratio(t.wall, "eager", "hand-written numpy")
        row["compiled_over_numpy"] = H.paired_ratio(t.wall, "compiled", "hand-written numpy")
    print(f"{name}: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items()), flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="5 rounds, write nothing")
    args = parser.parse_args()
    rounds = 5 if args.quick else args.rounds
    env = H.environment()
    rows = {name: bench(name, workload, rounds) for name, workload in WORKLOADS.items()}
    if args.quick:
        return
    table = H.md_table(
        ["workload", "eager ms", "compiled ms", "compiled / eager",
         "1st, 2nd call / 1st eager step", "vs hand-written numpy"],
        [[name, f"{r['eager_ms']:.3f}", f"{r['compiled_ms']:.3f}",
          f"{r['compiled_over_eager']:.2f}x",
          f"{r['recording_over_eager']:.2f}x, {r['second_recording_over_eager']:.2f}x",
          (f"eager {r['eager_over_numpy']:.2f}x, compiled {r['compiled_over_numpy']:.2f}x"
           if "numpy_ms" in r else "-")]
         for name, r in rows.items()])
    md = "\n".join([
        "# A compiled step against the eager step",
        "",
        f"`python benchmarks/compiled_step.py --threads {THREADS} --rounds {rounds}`: median "
        "wall time per training step over round-robin rounds; ratios are medians of the "
        "per-round ratios. The first stage of the compiled step: the recorded operations' "
        "forward and the engine's backward loop replayed, with no Variable or Function made. "
        f"The chain: {MIX_TEXT}.",
        "",
        table,
        "",
        "The first two calls of a signature are recorded; the second also notes each "
        "operation's line and is compared with the first. Both are timed against the eager "
        "step's first call (which, like them, makes the optimizer's state). The chain's "
        "constants are parameters here (their gradients are computed), so its eager figure "
        "differs from engine_overhead.py's chain of constants.",
        "",
        "The machine is shared: other jobs ran on its 2 cores during the run (the load "
        "average below), so compare ratios, not absolute times.",
        "",
        *H.environment_lines(env),
    ])
    H.write_results("compiled_step", {"environment": env, "rounds": rounds, "results": rows}, md)
    print(md)


if __name__ == "__main__":
    main()
