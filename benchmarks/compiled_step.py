"""A training step run eagerly against the same step compiled (recorded twice,
lowered to numpy kernels on its first two replays, then replayed): time and memory per
step, ratios from one round-robin run.

Workloads:

1. the 1000-op chain of engine_overhead.py on (8, 8) float32 (y = y * c_i,
   y = y + c_i, tanh, repeated), forward + backward, its constants
   parameters; against the hand-written numpy of the same chain;
2. the book's TwoLayerNet on the spiral's shapes (batch 30, hidden 10), SGD;
3. the book's Rnnlm (LSTM, V 1000, D = H = 100, batch 20, 35 steps), SGD with
   gradient clipping, stateful across calls;
4. the book's Seq2seq on the addition data's shapes (V 13, D 16, H 128,
   batch 128, 7 question and 5 answer characters), Adam;
5. the course notes' binary adder, one pair per step: the step that
   ``train_notes_adder`` runs (TrainingLoop's, with its checks of the loss
   and the gradients and the note of whether the pair came out right);
   against the notes' hand-written BPTT (models/binary_addition/twin.py).

Contenders: eager; compiled (kernels into buffers that share memory); the
same with ``minigrad.compiled.memory.SHARE_BUFFERS`` off while it is lowered
(one buffer per value); ``compile(..., kernels=False)``, the operation-level
replay; the hand-written numpy where there is one.

Every compiled contender first runs six steps in lockstep with the eager
step (records, records, lowers twice, replays) and must give the same loss, bit for
bit, at each. Memory: what a compiled step holds (the bytes of the memory
blocks its kernels read and write, the model's parameters left out, plus the
peak tracemalloc sees during one replay) against tracemalloc's peak during
one eager step, started with no graph alive. Writes results/compiled_step.{json,md}.

    python benchmarks/compiled_step.py [--threads N] [--rounds R] [--quick]
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import os
import sys
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _harness import pin_threads  # noqa: E402

THREADS = pin_threads()

import numpy as np  # noqa: E402

import _harness as H  # noqa: E402
import minigrad as mg  # noqa: E402
from minigrad import optimizers as O  # noqa: E402
from minigrad.compiled import memory as compiled_memory  # noqa: E402
from minigrad.viz.compiled_schedule import schedule  # noqa: E402
from engine_overhead import CHAIN_LEN, CHAIN_SHAPE, MIX_TEXT, Chain, handwritten, make_chain  # noqa: E402

LOCKSTEP_STEPS = 6     # record, record, lower, lower, replay, replay (stateful: one more record)
ADDER_STEPS = 200      # one-pair steps per timed sample of the notes' adder
ADDER_PAIRS = 1000     # pre-drawn pairs, cycled


class Workload:
    """``make()`` -> (model, step); ``batches``: the steps' argument tuples,
    cycled (one each step); ``per_sample``: steps per timed sample;
    ``by_hand``: None, or ``by_hand()`` -> a hand-written numpy step taking
    the same arguments."""

    def __init__(self, make, batches, by_hand=None, per_sample=1):
        self.make, self.batches, self.by_hand, self.per_sample = make, batches, by_hand, per_sample

    def sample(self, step):
        """One timed sample of ``step``: ``per_sample`` steps, each on the next
        batch (every contender walks the batches in the same order)."""
        batches, n = itertools.cycle(self.batches), self.per_sample

        def run():
            for _ in range(n):
                step(*next(batches))
        return run


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
    return Workload(make, [(x,)], by_hand=lambda: lambda x: handwritten(x, steps, True))


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
    return Workload(make, [batch])


def rnnlm_workload():
    from models.rnnlm import Rnnlm
    rng = np.random.default_rng(0)
    batch = (rng.integers(0, 1000, (20, 35)), rng.integers(0, 1000, (20, 35)))

    def make():
        model = Rnnlm(1000, 100, 100, rng=0)
        opt = O.SGD(model, lr=20.0)
        opt.add_hook(O.ClipGradNorm(0.25))
        return model, _sgd_step(model, opt)
    return Workload(make, [batch])


def seq2seq_workload():
    from models.seq2seq import Seq2seq
    rng = np.random.default_rng(0)
    batch = (rng.integers(0, 13, (128, 7)), rng.integers(0, 13, (128, 5)))

    def make():
        model = Seq2seq(13, 16, 128, rng=0)
        return model, _sgd_step(model, O.Adam(model))
    return Workload(make, [batch])


def notes_adder_workload():
    """The step ``train_notes_adder`` runs: its loss (the model's outputs noted
    as right or wrong, the notes' loss) in TrainingLoop's step (the loss's
    check, zero_grad, backward, the gradients' check, SGD at the notes' lr)."""
    from minigrad.data import ShuffledBatches
    from minigrad.training import TrainingLoop
    from models.binary_addition import BinaryAdderBPTT, NotesAdder, notes_loss, pair_sequences
    from models.binary_addition.model import _PairFlags

    lr = 0.1
    weights_rng = np.random.default_rng(12)
    weights = NotesAdder(rng=weights_rng).to_weights()
    xs, ds = pair_sequences(*np.random.default_rng(13).integers(0, 128, (2, ADDER_PAIRS)))
    batches = [(xs[i:i + 1], ds[i:i + 1]) for i in range(ADDER_PAIRS)]

    def make():
        model = NotesAdder.from_weights(weights)
        flags = _PairFlags()

        def loss(x, d):
            y = model(x)
            flags.note(y, d)
            return notes_loss(y, d)
        loop = TrainingLoop(model, O.SGD(model, lr=lr), ShuffledBatches(xs, ds, batch_size=1),
                            max_epoch=1, loss=loss, progress=False, compiled=False)
        return model, loop._train_step

    def by_hand():
        twin = BinaryAdderBPTT(weights)
        right = []

        def step(x, d):
            twin.forward((x[0], d[0]))
            right.append(bool((twin.predict()[:, 0] == d[0]).all()))
            twin.backward()
            for p, g in zip(twin.params, twin.param_grads):
                p -= lr * g
        return step
    return Workload(make, batches, by_hand=by_hand, per_sample=ADDER_STEPS)


WORKLOADS = {
    f"1000-op chain {CHAIN_SHAPE}": chain_workload,
    "TwoLayerNet (batch 30)": two_layer_net_workload,
    "Rnnlm (LSTM, 20 x 35, V 1000)": rnnlm_workload,
    "Seq2seq (batch 128, addition)": seq2seq_workload,
    "notes' binary adder (one pair)": notes_adder_workload,
}

# The compiled contenders: name -> (kernels, SHARE_BUFFERS while it is lowered).
COMPILED = {
    "compiled": (True, True),
    "compiled, unshared buffers": (True, False),
    "operation replay": (False, True),
}


@contextlib.contextmanager
def sharing(share):
    was = compiled_memory.SHARE_BUFFERS
    compiled_memory.SHARE_BUFFERS = share
    try:
        yield
    finally:
        compiled_memory.SHARE_BUFFERS = was


def lockstep(workload, eager_step, fast):
    """Run the eager step and each compiled one on the same batches, side by
    side, checking that their losses are equal bit for bit at every step.
    Returns, for the compiled contender, each call's time over the eager
    step's at the same call, and what kind of call it was."""
    calls = {name: [] for name in fast}
    batches = itertools.cycle(workload.batches)
    for _ in range(LOCKSTEP_STEPS):
        batch = next(batches)
        t_eager, want = H.time_once(lambda: eager_step(*batch))
        want = np.array(want.data)
        for name, (f, share) in fast.items():
            replays = f.replays
            with sharing(share):
                t, got = H.time_once(lambda: f(*batch))
            np.testing.assert_array_equal(got.data, want, err_msg=f"{name} differs from eager")
            kind = "record" if f.replays == replays else (
                "lower" if f.replays <= 2 and f.kernels else "replay")
            calls[name].append((kind, t / t_eager))
    for name, (f, _) in fast.items():
        if f.kernels:
            schedule(f)     # raises, saying why, if the step was not lowered
    return calls["compiled"]


def traced_peak(fn) -> int:
    """The peak bytes tracemalloc sees allocated during ``fn()``, above what
    was allocated when it started (no graph alive: garbage collected first)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def bench(name, workload, rounds):
    eager_model, eager_step = workload.make()
    fast = {}
    for contender, (kernels, share) in COMPILED.items():
        model, step = workload.make()
        fast[contender] = (mg.compile(step, model, kernels=kernels), share)
    calls = lockstep(workload, eager_step, fast)
    recorded = {n: f.recordings for n, (f, _) in fast.items()}

    one = workload.batches[0]
    memory = {"eager_peak": traced_peak(lambda: eager_step(*one))}
    for contender, (f, _) in fast.items():
        memory[f"{contender} replay peak"] = traced_peak(lambda: f(*one))
        if f.kernels:
            memory[f"{contender} buffers"] = schedule(f).held_bytes()

    contenders = {"eager": workload.sample(eager_step)}
    contenders.update({n: workload.sample(f) for n, (f, _) in fast.items()})
    if workload.by_hand is not None:
        contenders["hand-written numpy"] = workload.sample(workload.by_hand())
    t = H.round_robin(contenders, rounds)
    for n, (f, _) in fast.items():
        assert f.recordings == recorded[n], f"{n} recorded again while being timed"
    per_step = 1e3 / workload.per_sample
    row = {"steps_per_sample": workload.per_sample,
           "ms_per_step": {n: H.median(t.wall[n]) * per_step for n in contenders},
           "over_eager": {n: H.paired_ratio(t.wall, n, "eager") for n in contenders
                          if n != "eager"},
           "compiled_calls_over_eager": calls, "memory_bytes": memory}
    if workload.by_hand is not None:
        row["over_hand_written"] = {n: H.paired_ratio(t.wall, n, "hand-written numpy")
                                    for n in contenders if n != "hand-written numpy"}
    print(f"{name}: " + ", ".join(f"{k} {v:.3g}" for k, v in row["over_eager"].items())
          + f"; memory {memory}", flush=True)
    return row


def _size(n) -> str:
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def time_table(rows) -> str:
    def calls(r):
        kinds = [f"{kind} {ratio:.2f}x" for kind, ratio in r["compiled_calls_over_eager"]
                 if kind != "replay"]
        return ", ".join(kinds)

    def vs_hand(r):
        h = r.get("over_hand_written")
        return "-" if h is None else f"eager {h['eager']:.2f}x, compiled {h['compiled']:.2f}x"
    return H.md_table(
        ["workload", "eager ms", "compiled ms", "compiled / eager",
         "unshared buffers / eager", "operation replay / eager", "vs hand-written numpy",
         "first calls / eager's"],
        [[name, f"{r['ms_per_step']['eager']:.3f}", f"{r['ms_per_step']['compiled']:.3f}",
          f"{r['over_eager']['compiled']:.2f}x",
          f"{r['over_eager']['compiled, unshared buffers']:.2f}x",
          f"{r['over_eager']['operation replay']:.2f}x", vs_hand(r), calls(r)]
         for name, r in rows.items()])


def memory_table(rows) -> str:
    out = []
    for name, r in rows.items():
        m = r["memory_bytes"]
        held = {c: m[f"{c} buffers"] + m[f"{c} replay peak"] for c in
                ("compiled", "compiled, unshared buffers")}
        out.append([name, _size(m["eager_peak"]),
                    f"{_size(held['compiled'])} ({_size(m['compiled buffers'])} + "
                    f"{_size(m['compiled replay peak'])})",
                    f"{held['compiled'] / m['eager_peak']:.2f}x",
                    f"{_size(held['compiled, unshared buffers'])} "
                    f"({_size(m['compiled, unshared buffers buffers'])} + "
                    f"{_size(m['compiled, unshared buffers replay peak'])})",
                    f"{held['compiled, unshared buffers'] / m['eager_peak']:.2f}x",
                    _size(m["operation replay replay peak"])])
    return H.md_table(["workload", "eager step: peak", "compiled: held (buffers + replay peak)",
                       "compiled / eager", "unshared buffers: held", "unshared / eager",
                       "operation replay: replay peak"], out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="5 rounds, write nothing")
    args = parser.parse_args()
    rounds = 5 if args.quick else args.rounds
    env = H.environment()
    rows = {name: bench(name, workload(), rounds) for name, workload in WORKLOADS.items()}
    load_end = os.getloadavg()
    md = "\n".join([
        "# A compiled step against the eager step",
        "",
        f"`python benchmarks/compiled_step.py --threads {THREADS} --rounds {rounds}`: median "
        "wall time per training step over round-robin rounds; ratios are medians of the "
        "per-round ratios. compiled: the tape lowered to numpy kernels into buffers allocated "
        "once, buffers whose lifetimes do not overlap sharing memory; unshared buffers: the "
        "same with `minigrad.compiled.memory.SHARE_BUFFERS` off while it was lowered; "
        "operation replay: `compile(..., kernels=False)`, each recorded operation's forward "
        "and the engine's backward loop replayed. Before timing, every compiled contender ran "
        f"{LOCKSTEP_STEPS} steps side by side with the eager step and gave the same loss, bit "
        f"for bit, at each. The chain: {MIX_TEXT}. The notes' adder: the step "
        "`train_notes_adder` runs (TrainingLoop's, with its checks and the note of whether "
        f"the pair came out right), one pair per step, timed {ADDER_STEPS} steps at a time "
        f"over {ADDER_PAIRS} pre-drawn pairs; its hand-written numpy is the notes' BPTT twin "
        "(models/binary_addition/twin.py) with the same SGD and the same note.",
        "",
        time_table(rows),
        "",
        "First calls: the compiled step's first calls (recordings, then the two calls that "
        "lower the tape), each as a multiple of the eager step's call of the same rank "
        "(the first eager call also makes the optimizer's state). Rnnlm's first call has no "
        "carried state yet, another signature, so it records three times.",
        "",
        "## Memory of one step",
        "",
        memory_table(rows),
        "",
        "Eager step: the peak tracemalloc sees during one step, started with no graph alive "
        "(the model, its optimizer's state and the batch exist before and are not counted). "
        "Compiled: the bytes of the memory blocks its kernels read and write (found by "
        "address, each block once; the model's parameters are left out, the step's own copy "
        "of its arguments and the gradients are in), plus the peak tracemalloc sees during "
        "one replay (what a kernel cannot write in place, the returned loss's copy). The "
        "buffers are held between calls; an eager step holds its graph only while it runs. "
        "Operation replay: the peak during one replay (its Variables' arrays, held between "
        "calls, are not counted).",
        "",
        "The machine is shared: other jobs ran on its 2 cores during the run (the load "
        "averages below), so compare ratios, not absolute times.",
        "",
        *H.environment_lines(env),
        f"- load average at the end {', '.join(f'{x:.2f}' for x in load_end)}",
    ])
    if args.quick:
        print(md)
        return
    name = "compiled_step" + ("" if THREADS == 1 else f"-{THREADS}threads")
    H.write_results(name, {"environment": env, "rounds": rounds, "load_avg_end": load_end,
                           "results": rows}, md)
    print(md)


if __name__ == "__main__":
    main()
