"""The short tour behind ``python -m minigrad``: build a graph, backprop, check
the gradients against central differences (first and second order)."""
from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad import functions as F
from minigrad.testing import gradcheck, gradgradcheck


def _walk(y):
    """The recorded operations, oldest first (for printing)."""
    seen, stack, found = set(), [y.creator], []
    while stack:
        f = stack.pop()
        if f is None or f in seen:
            continue
        seen.add(f)
        found.append(f)
        stack.extend(x.creator for x in f.inputs if isinstance(x, mg.Variable))
    return sorted(found, key=lambda f: f.generation)


def _model(x, W, b):
    return F.mean(F.tanh(F.matmul(x, W) + b) ** 2)


def main() -> int:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))
    W = mg.Variable(rng.normal(size=(3, 2)), name="W")
    b = mg.Variable(np.zeros(2), name="b")

    print("minigrad demo: loss = mean(tanh(x @ W + b) ** 2), x: (4, 3), W: (3, 2), b: (2,)")
    loss = _model(x, W, b)
    ops = _walk(loss)
    print(f"  recorded graph: {len(ops)} operations: " + " -> ".join(f.name for f in ops))
    loss.backward()
    print(f"  loss = {float(loss.data):.6f}")
    print(f"  dL/db = {np.array2string(b.grad.data, precision=6)}")
    print("  dL/dW =", np.array2string(W.grad.data, precision=6, prefix="  dL/dW = "))

    # The same gradients by central differences in float64.
    eps, worst = 1e-6, 0.0
    for p in (W, b):
        for i in np.ndindex(p.shape):
            old = p.data[i]
            with mg.no_grad():
                p.data[i] = old + eps
                up = float(_model(x, W, b).data)
                p.data[i] = old - eps
                down = float(_model(x, W, b).data)
            p.data[i] = old
            numeric = (up - down) / (2 * eps)
            analytic = p.grad.data[i]
            worst = max(worst, abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-8))
    print(f"  central differences agree: max relative error {worst:.1e}")

    ok1 = gradcheck(_model, x, W.data, b.data)
    ok2 = gradgradcheck(_model, x, W.data, b.data)
    print(f"  minigrad.testing.gradcheck: {'OK' if ok1 else 'FAILED'};"
          f" gradgradcheck (second order): {'OK' if ok2 else 'FAILED'}")
    return 0 if (ok1 and ok2 and worst < 1e-6) else 1


if __name__ == "__main__":
    raise SystemExit(main())
