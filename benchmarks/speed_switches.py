"""What each of the engine's speed switches saves, measured on and off in one run.

    python benchmarks/speed_switches.py [--rounds R] [--threads N]

The engine keeps a speed trick only where it saves more than 5% of an
operation; each is a named module flag that a test turns off to check that
every result stays the same, bit for bit. For each switch this times, round
robin in one process, the workload it is for with the switch on and off:

* ``gradients.IN_PLACE_SUMS``: a composed (unfused) RNN layer, H 100, N 20,
  T 35, whose weights each receive 35 gradients, forward + backward.

(A chain shortcut past the backward pass's heap was measured the same way on
the 1000-op chain of engine_overhead.py: 3% of an op in instructions, 4% in
time, so it was removed.)

It prints the table and writes benchmarks/results/speed_switches.{json,md}.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import pin_threads  # noqa: E402

THREADS = pin_threads()  # before numpy

import argparse  # noqa: E402

import numpy as np  # noqa: E402

import _harness as H  # noqa: E402
import minigrad as mg  # noqa: E402
from minigrad import functions as F  # noqa: E402
from minigrad.core import gradients  # noqa: E402


def composed_rnn():
    rng = np.random.default_rng(0)
    N, T, D, H_ = 20, 35, 100, 100
    Wx = mg.Variable((rng.normal(size=(D, H_)) * 0.1).astype(np.float32))
    Wh = mg.Variable((rng.normal(size=(H_, H_)) * 0.1).astype(np.float32))
    b = mg.Variable(np.zeros(H_, np.float32))
    xs = rng.normal(size=(T, N, D)).astype(np.float32)

    def step():
        h = mg.Variable(np.zeros((N, H_), np.float32))
        loss = 0
        for t in range(T):
            h = F.tanh(xs[t] @ Wx + h @ Wh + b)
            loss = loss + (h * h).sum()
        loss.backward()
    return step, T * 7


SWITCHES = [(gradients, "IN_PLACE_SUMS", composed_rnn)]


def flipped(module, name, value, fn):
    def run():
        old = getattr(module, name)
        setattr(module, name, value)
        try:
            fn()
        finally:
            setattr(module, name, old)
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=60)
    args = ap.parse_args()
    env = H.environment()
    rows, data = [], {"environment": env, "switches": {}}
    for module, name, workload in SWITCHES:
        step, ops = workload()
        t = H.round_robin({"on": flipped(module, name, True, step),
                           "off": flipped(module, name, False, step)}, rounds=args.rounds)
        ratio = H.paired_ratio(t.cpu, "off", "on")
        on_us = H.median(t.cpu["on"]) / ops * 1e6
        off_us = H.median(t.cpu["off"]) / ops * 1e6
        saved = 1 - 1 / ratio
        data["switches"][name] = {"workload": workload.__name__, "on_us_per_op": on_us,
                                  "off_us_per_op": off_us, "off_over_on": ratio}
        rows.append([f"`{module.__name__.rsplit('.', 1)[1]}.{name}`", workload.__name__,
                     f"{on_us:.2f}", f"{off_us:.2f}", f"**{ratio:.3f}**", f"{saved:.0%}"])
    table = H.md_table(["switch", "workload", "on, us/op (CPU)", "off, us/op (CPU)",
                        "off / on (paired)", "share of an op saved"], rows)
    md = "\n".join(["# The engine's speed switches, on and off in one run", "",
                    *H.environment_lines(env), f"- rounds: {args.rounds}", "", table, ""])
    print(table)
    H.write_results("speed_switches", data, md)


if __name__ == "__main__":
    main()
