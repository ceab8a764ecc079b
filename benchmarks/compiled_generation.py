"""The seq2seq models' greedy generation run eagerly against the same
generation compiled (recorded once per signature, replayed): time per batch of
answers, ratios from one round-robin run.

Workloads, on the shapes of the book's chapters 7 and 8:

1. Seq2seq and PeekySeq2seq on the addition data (V 13, D 16, H 128, 7
   question characters, 4 answer characters generated);
2. AttentionSeq2seq on the date data (V 59, D 16, H 256, 29 question
   characters, 10 answer characters generated).

Each is timed at one question (the book generates one at a time), at a batch of
128 questions and at the 1000 questions
``exact_match_accuracy`` answers at once. Every workload first checks that
the compiled answers equal the eager ones. Writes
results/compiled_generation.{json,md}.

    python benchmarks/compiled_generation.py [--threads N] [--rounds R] [--quick]
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
from minigrad.compiled import replayed_generations  # noqa: E402
from models.seq2seq import AttentionSeq2seq, PeekySeq2seq, Seq2seq  # noqa: E402

# name: (model class, V, D, H, question length, answer length)
SHAPES = {
    "Seq2seq (addition)": (Seq2seq, 13, 16, 128, 7, 4),
    "PeekySeq2seq (addition)": (PeekySeq2seq, 13, 16, 128, 7, 4),
    "AttentionSeq2seq (dates)": (AttentionSeq2seq, 59, 16, 256, 29, 10),
}
BATCHES = (1, 128, 1000)


def bench(name, shape, batch, rounds):
    cls, V, D, Hs, Te, length = shape
    model = cls(V, D, Hs, rng=0)
    xs = np.random.default_rng(0).integers(0, V, (batch, Te))
    start = V - 1
    first_eager, want = H.time_once(lambda: model.generate(xs, start, length, compiled=False))
    recording, got = H.time_once(lambda: model.generate(xs, start, length))
    np.testing.assert_array_equal(got, want)           # the same answers
    (compiled,) = replayed_generations(model)
    while compiled.replays == 0:   # the first call left the LSTMs' state: one more signature
        model.generate(xs, start, length)
    recorded = compiled.recordings
    t = H.round_robin({"eager": lambda: model.generate(xs, start, length, compiled=False),
                       "compiled": lambda: model.generate(xs, start, length)}, rounds)
    assert compiled.recordings == recorded, "the generation recorded again while being timed"
    row = {"eager_ms": H.median(t.wall["eager"]) * 1e3,
           "compiled_ms": H.median(t.wall["compiled"]) * 1e3,
           "compiled_over_eager": H.paired_ratio(t.wall, "compiled", "eager"),
           "recording_over_eager": recording / first_eager}
    print(f"{name}, batch {batch}: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items()),
          flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="3 rounds, write nothing")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    env = H.environment()
    rows = {f"{name}, batch {batch}": bench(name, shape, batch, rounds)
            for name, shape in SHAPES.items() for batch in BATCHES}
    if args.quick:
        return
    table = H.md_table(
        ["workload", "eager ms", "compiled ms", "compiled / eager", "1st call / eager"],
        [[name, f"{r['eager_ms']:.3f}", f"{r['compiled_ms']:.3f}",
          f"{r['compiled_over_eager']:.2f}x", f"{r['recording_over_eager']:.2f}x"]
         for name, r in rows.items()])
    md = "\n".join([
        "# Greedy generation compiled against eager",
        "",
        f"`python benchmarks/compiled_generation.py --threads {THREADS} --rounds {rounds}`: "
        "median wall time per call of `generate` (a batch of questions answered greedily, "
        "each step's argmax feeding the next step's Embedding) over round-robin rounds; "
        "ratios are medians of the per-round ratios. The compiled generation replays the "
        "recorded forward operations with no Variable or Function made.",
        "",
        table,
        "",
        "The machine is shared: other jobs ran on its 2 cores during the run (the load "
        "average below), so compare ratios, not absolute times.",
        "",
        *H.environment_lines(env),
    ])
    H.write_results("compiled_generation", {"environment": env, "rounds": rounds,
                                            "results": rows}, md)
    print(md)


if __name__ == "__main__":
    main()
