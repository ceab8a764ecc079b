"""Instructions per operation, counted by valgrind's callgrind: the steady
measure of the engine's per-op cost on a shared machine, where time moves with
other jobs' load and an instruction count does not.

    python benchmarks/instructions_per_op.py [--no-torch] [--write]

Each contender of engine_overhead.py's part 1 (the 1000-op (8, 8) float32
mul/add/tanh chain, forward + backward) and part 1b (the composed LSTM layer,
per time step) runs in two child processes under callgrind, one doing K1 and
one doing K2 repetitions after the same set-up and warm-up; the difference of
the two totals over (K2 - K1) repetitions is the cost of one repetition, with
interpreter start, imports and set-up cancelled out. ``minimal engine`` is
minimal_engine.py: the floor of an engine of this design in CPython. Needs valgrind
(``apt-get install -y valgrind``). ``--write`` also writes
results/instructions_per_op.{json,md}.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import pin_threads  # noqa: E402

THREADS = pin_threads()

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

import _harness as H  # noqa: E402

K1, K2 = 3, 13           # repetitions of the two runs; their difference is what counts
CHAIN = ("numpy forward", "hand-written/const", "minimal engine", "minigrad/const",
         "minigrad/wrapped", "minigrad/param", "torch/const")
LSTM = ("minigrad composed", "minigrad fused", "torch composed")


def child(name, k):
    """Set up ``name``, run it twice to warm up, then ``k`` times (under callgrind)."""
    import numpy as np

    import engine_overhead as E

    if name.startswith("torch"):
        E.torch = H.import_torch()
    mg = E.mg
    if name in LSTM:
        from minigrad import layers as L

        a = E.lstm_inputs()
        if name.startswith("torch"):
            params = [E.torch.from_numpy(a[k].copy()).requires_grad_() for k in ("Wx", "Wh", "b")]
            xs, gy = E.torch.from_numpy(a["xs"]), E.torch.from_numpy(a["gy"])
            run = lambda: E.torch_lstm(params, xs, gy)  # noqa: E731
        else:
            layer = L.LSTM(E.LSTM_D, E.LSTM_H, fused=name.endswith("fused"),
                           Wx=a["Wx"], Wh=a["Wh"], b=a["b"])
            run = lambda: E.minigrad_lstm(layer, a["xs"], a["gy"])  # noqa: E731
    else:
        x, steps = E.make_chain(E.CHAIN_LEN, E.CHAIN_SHAPE)
        if name == "numpy forward":
            run = lambda: E.numpy_forward(x, steps)  # noqa: E731
        elif name == "hand-written/const":
            run = lambda: E.handwritten(x, steps, False)  # noqa: E731
        elif name == "minimal engine":
            import minimal_engine

            g_ref, _ = E.handwritten(x, steps, False)
            assert np.allclose(minimal_engine.chain(x, steps), g_ref, rtol=1e-5)
            run = lambda: minimal_engine.chain(x, steps)  # noqa: E731
        elif name == "minigrad/const":
            run = lambda: E.minigrad_chain(x, steps)  # noqa: E731
        elif name == "minigrad/wrapped":
            wrapped = E._params(steps, lambda c: mg.Variable(c, requires_grad=False))
            run = lambda: E.minigrad_chain(x, wrapped)  # noqa: E731
        elif name == "minigrad/param":
            params = E._params(steps, lambda c: mg.Variable(c.copy(), requires_grad=True))

            def run():
                E._clear(params, mg.Variable.cleargrad)
                E.minigrad_chain(x, params)
        else:
            consts = E._params(steps, E.torch.from_numpy)
            run = lambda: E.torch_chain(x, consts)  # noqa: E731
    for _ in range(2 + k):
        run()


def count(name, k, tmp):
    out = os.path.join(tmp, f"callgrind.{abs(hash((name, k)))}")
    cmd = ["valgrind", "--tool=callgrind", "-q", f"--callgrind-out-file={out}",
           sys.executable, os.path.abspath(__file__), "--child", name, str(k),
           "--threads", str(THREADS)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=3600)
    with open(out) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no instruction total in {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", nargs=2, metavar=("NAME", "K"), help=argparse.SUPPRESS)
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch contenders")
    ap.add_argument("--only", help="comma-separated contender names")
    ap.add_argument("--write", action="store_true", help="write results/instructions_per_op.*")
    args = ap.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]))
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found: apt-get install -y valgrind")
    import engine_overhead as E

    names = list(CHAIN + LSTM)
    if args.no_torch or H.import_torch() is None:
        names = [n for n in names if not n.startswith("torch")]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    per = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            n1, n2 = count(name, K1, tmp), count(name, K2, tmp)
            unit = E.LSTM_T if name in LSTM else E.CHAIN_LEN
            per[name] = (n2 - n1) / (K2 - K1) / unit
            print(f"{name:20s} {per[name]:12,.0f} instructions per "
                  f"{'step' if name in LSTM else 'op'}", flush=True)
    rows = []
    for name in names:
        ref = "hand-written/const" if name in CHAIN else None
        torch_ref = "torch/const" if name in CHAIN else "torch composed"
        rows.append([name, f"{per[name]:,.0f}",
                     f"{per[name] / per[ref]:.2f}x" if ref in per else "",
                     f"{per[name] / per[torch_ref]:.2f}x" if torch_ref in per else ""])
    env = H.environment(H.import_torch() if "torch/const" in per else None)
    markdown = "\n".join([
        "# Instructions per operation (callgrind)", "", *H.environment_lines(env), "",
        f"Chain rows: per op of the {E.CHAIN_LEN}-op {E.CHAIN_SHAPE} float32 chain, forward + "
        f"backward; LSTM rows: per time step of the composed layer (H {E.LSTM_H}, N "
        f"{E.LSTM_N}, T {E.LSTM_T}). ({K2} - {K1} repetitions, set-up cancelled.)", "",
        H.md_table(["contender", "instructions", "vs hand-written", "vs torch"], rows)])
    print(markdown)
    if args.write:
        H.write_results("instructions_per_op", {"environment": env, "per_unit": per,
                                                "k": [K1, K2]}, markdown)


if __name__ == "__main__":
    main()
