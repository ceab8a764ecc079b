"""Linear, TiedLinear, Embedding, Dropout and weight files (save/load)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minigrad as mg
import minigrad.functions as F
from minigrad.errors import MinigradError
from minigrad.layers import (CheckpointError, Dropout, Embedding, Layer, Linear, Parameter,
                             TiedLinear, load_weights, save_weights)
from minigrad.layers import serialization
from minigrad.testing import gradcheck, gradcheck_params


# ------------------------------------------------------------------ helpers
def check_layer(layer, *inputs, **kwargs):
    """gradcheck of ``layer(*inputs)`` with respect to the float inputs and
    every parameter of the layer, through the public gradcheck_params."""
    xs = [mg.Variable(np.asarray(x, dtype=np.float64)) if np.asarray(x).dtype.kind == "f"
          else x for x in inputs]
    checked = {f"input {i}": x for i, x in enumerate(xs) if isinstance(x, mg.Variable)}
    checked.update(layer.named_params())
    assert gradcheck_params(lambda: layer(*xs), checked, **kwargs)


def snapshot(layer):
    return {n: (p.data.copy(), p.data.dtype) for n, p in layer.named_params()}


def assert_same(layer, before):
    after = snapshot(layer)
    assert list(after) == list(before)
    for n in before:
        assert after[n][1] == before[n][1], n
        np.testing.assert_array_equal(after[n][0], before[n][0], err_msg=n)


class MLP(Layer):
    def __init__(self, dtype=np.float32, hidden=5, rng=0):
        super().__init__()
        self.fc1 = Linear(4, hidden, dtype=dtype, rng=rng)
        self.fc2 = Linear(hidden, 3, dtype=dtype, rng=rng + 1)

    def forward(self, x):
        return self.fc2(F.tanh(self.fc1(x)))


class TiedLM(Layer):
    def __init__(self, dtype=np.float64):
        super().__init__()
        self.embed = Embedding(7, 3, dtype=dtype, rng=0)
        self.drop = Dropout(0.3)
        self.out = TiedLinear(self.embed.W)

    def forward(self, ids):
        return self.out(self.drop(self.embed(ids)))


# ------------------------------------------------------------------ Linear
def test_linear_2d_and_3d_equal_x_at_W_plus_b():
    rng = np.random.default_rng(1)
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    fc = Linear(4, 3, dtype=np.float64, W=W, b=b)
    for shape in [(5, 4), (2, 5, 4)]:
        x = rng.standard_normal(shape)
        y = fc(x)
        assert y.shape == shape[:-1] + (3,)
        np.testing.assert_allclose(y.data, x @ W + b, rtol=1e-12)


def test_linear_bias_gradient_sums_over_every_leading_axis():
    rng = np.random.default_rng(2)
    fc = Linear(4, 3, dtype=np.float64, rng=0)
    x = rng.standard_normal((2, 5, 4))
    gy = rng.standard_normal((2, 5, 3))
    fc(x).backward(gy)
    np.testing.assert_allclose(fc.b.grad.data, gy.sum(axis=(0, 1)), rtol=1e-12)
    np.testing.assert_allclose(fc.W.grad.data, np.einsum("ntd,nth->dh", x, gy), rtol=1e-12)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(shape, bias):
    fc = Linear(4, 2, bias=bias, dtype=np.float64, rng=0)
    check_layer(fc, np.random.default_rng(3).standard_normal(shape))


def test_linear_takes_seed_layout_arrays_and_copies_them():
    W = np.arange(6, dtype=np.float32).reshape(2, 3)
    fc = Linear(2, 3, W=W)
    assert fc.W.dtype == np.float32 and fc.b.dtype == np.float32
    np.testing.assert_array_equal(fc.W.data, W)
    W[0, 0] = 100.0
    assert fc.W.data[0, 0] == 0.0  # no aliasing with the caller's array
    with pytest.raises(mg.ShapeError, match=r"W must have shape \(3, 2\), got \(2, 3\)"):
        Linear(3, 2, W=W)
    with pytest.raises(ValueError, match="bias=False"):
        Linear(2, 3, bias=False, b=np.zeros(3))
    assert Linear(2, 3, bias=False).b is None
    assert [n for n, _ in Linear(2, 3, bias=False).named_params()] == ["W"]


def test_linear_default_init_is_scaled_normal_and_seedable():
    a, b = Linear(400, 300, rng=7), Linear(400, 300, rng=7)
    np.testing.assert_array_equal(a.W.data, b.W.data)
    assert abs(float(a.W.data.std()) * np.sqrt(400) - 1.0) < 0.02
    assert not np.any(a.b.data)
    mg.random.seed(5)
    c = Linear(4, 3)
    mg.random.seed(5)
    np.testing.assert_array_equal(c.W.data, Linear(4, 3).W.data)
    assert not np.array_equal(Linear(4, 3, rng=1).W.data, Linear(4, 3, rng=2).W.data)


def test_linear_float32_stays_float32():
    fc = Linear(4, 3, rng=0)
    x = np.ones((2, 4), dtype=np.float32)
    y = fc(x)
    (y * 2).sum().backward()
    assert y.dtype == np.float32 and fc.W.grad.dtype == np.float32
    assert fc.b.grad.dtype == np.float32


# ------------------------------------------------------------------ Embedding
def test_embedding_duplicate_ids_accumulate():
    W = np.arange(12.0).reshape(4, 3)
    emb = Embedding(4, 3, dtype=np.float64, W=W)
    ids = np.array([[1, 3, 1], [1, 0, 3]])
    y = emb(ids)
    assert y.shape == (2, 3, 3)
    np.testing.assert_array_equal(y.data, W[ids])
    gy = np.random.default_rng(0).standard_normal((2, 3, 3))
    y.backward(gy)
    expected = np.zeros_like(W)
    np.add.at(expected, ids, gy)
    np.testing.assert_allclose(emb.W.grad.data, expected, rtol=1e-12)
    assert np.allclose(emb.W.grad.data[1], gy[0, 0] + gy[0, 2] + gy[1, 0])
    assert not np.any(emb.W.grad.data[2])


def test_embedding_gradcheck_with_duplicates():
    emb = Embedding(5, 3, dtype=np.float64, rng=0)
    check_layer(emb, np.array([[0, 4, 4], [2, 0, 4]]))


def test_embedding_init_and_errors():
    emb = Embedding(1000, 50, rng=3)
    assert emb.W.dtype == np.float32 and emb.W.shape == (1000, 50)
    assert abs(float(emb.W.data.std()) - 0.01) < 0.001  # the book's 0.01 * randn
    with pytest.raises(IndexError, match="id 1000 is out of range"):
        emb(np.array([1000]))
    with pytest.raises(mg.DTypeError, match="integers"):
        emb(np.array([1.0]))


# ------------------------------------------------------------------ Dropout
def test_dropout_eval_is_identity_and_train_scales():
    x = np.ones((200, 250))
    drop = Dropout(0.3)
    mg.random.seed(0)
    y = drop(x).data
    kept = y != 0
    assert abs(1.0 - kept.mean() - 0.3) < 0.01
    np.testing.assert_allclose(y[kept], 1.0 / 0.7)
    drop.eval()
    assert not drop.training
    np.testing.assert_array_equal(drop(x).data, x)
    drop.train()
    assert drop(x).data.min() == 0.0


def test_dropout_is_deterministic_under_seed_and_eval_follows_parent():
    x = np.ones((10, 10))
    mg.random.seed(42)
    a = Dropout(0.5)(x).data
    mg.random.seed(42)
    b = Dropout(0.5)(x).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, Dropout(0.5)(x).data)
    model = TiedLM().eval()
    assert not model.drop.training
    np.testing.assert_array_equal(model.drop(x).data, x)


def test_dropout_gradient_is_the_mask():
    mg.random.seed(1)
    x = mg.Variable(np.random.default_rng(0).standard_normal((6, 7)))
    y = Dropout(0.4)(x)
    y.backward(np.ones((6, 7)))
    mask = y.data / x.data
    np.testing.assert_allclose(x.grad.data, mask, rtol=1e-12)
    assert set(np.round(np.unique(mask), 12)) <= {0.0, round(1 / 0.6, 12)}

    def f(x):
        mg.random.seed(3)  # the same mask on every call of the numeric check
        return Dropout(0.4)(x)

    assert gradcheck(f, np.random.default_rng(1).standard_normal((4, 5)))


def test_dropout_rejects_bad_ratio():
    for r in (1.0, -0.1):
        with pytest.raises(ValueError, match="ratio must be in"):
            Dropout(r)


# ------------------------------------------------------------------ registration order
def test_named_params_order_is_definition_order():
    names = [n for n, _ in MLP().named_params()]
    assert names == ["fc1.W", "fc1.b", "fc2.W", "fc2.b"]


def test_named_params_order_independent_of_hash_seed():
    script = textwrap.dedent("""
        import numpy as np
        from minigrad.layers import Layer, Linear, Embedding, Dropout, TiedLinear
        class M(Layer):
            def __init__(self):
                super().__init__()
                self.zeta = Embedding(5, 3)
                self.alpha = Dropout()
                self.mid = Linear(3, 4)
                self.beta = Linear(4, 3, bias=False)
                self.out = TiedLinear(self.zeta.W)
        print(",".join(n for n, _ in M().named_params()))
    """)
    results = set()
    for seed in ("0", "1", "12345", "random"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, check=True)
        results.add(out.stdout.strip())
    assert results == {"zeta.W,mid.W,mid.b,beta.W,out.b"}


# ------------------------------------------------------------------ weight tying
class UntiedLM(Layer):
    """TiedLM with the output weight a separate copy (to compare gradients)."""

    def __init__(self, tied):
        super().__init__()
        self.embed = Embedding(7, 3, dtype=np.float64, W=tied.embed.W.data)
        self.out = Linear(3, 7, dtype=np.float64, W=tied.embed.W.data.T, b=tied.out.b.data)

    def forward(self, ids):
        return self.out(self.embed(ids))


def test_tied_weight_listed_once_and_gradient_is_the_sum_of_both_uses():
    tied = TiedLM()
    tied.eval()  # no dropout: same function as the untied copy
    assert tied.out.W is tied.embed.W
    assert [n for n, _ in tied.named_params()] == ["embed.W", "out.b"]
    assert len(tied.params()) == 2

    untied = UntiedLM(tied)
    ids = np.array([[1, 2, 2], [6, 0, 1]])
    gy = np.random.default_rng(0).standard_normal((2, 3, 7))
    y_t, y_u = tied(ids), untied(ids)
    np.testing.assert_allclose(y_t.data, y_u.data, rtol=1e-12)
    y_t.backward(gy)
    y_u.backward(gy)
    expected = untied.embed.W.grad.data + untied.out.W.grad.data.T
    np.testing.assert_allclose(tied.embed.W.grad.data, expected, rtol=1e-12)
    # Both uses contribute: neither alone equals the sum.
    assert not np.allclose(tied.embed.W.grad.data, untied.embed.W.grad.data)
    assert not np.allclose(tied.embed.W.grad.data, untied.out.W.grad.data.T)

    lr = 0.1
    before = tied.embed.W.data.copy()
    for p in tied.params():
        p.data -= lr * p.grad.data
    np.testing.assert_allclose(tied.embed.W.data, before - lr * expected, rtol=1e-12)


def test_tied_linear_gradcheck():
    model = TiedLM().eval()
    check_layer(model, np.array([[1, 2, 2], [6, 0, 1]]))


def test_tied_linear_needs_a_parameter():
    with pytest.raises(TypeError, match="Parameter to share"):
        TiedLinear(np.zeros((3, 2)))
    out = TiedLinear(Parameter(np.zeros((7, 3), dtype=np.float32)), bias=False)
    assert (out.in_size, out.out_size, out.b) == (3, 7, None)
    assert out(np.ones((2, 3), dtype=np.float32)).shape == (2, 7)


# ------------------------------------------------------------------ save / load
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip(tmp_path, dtype):
    path = tmp_path / "mlp.npz"
    src = MLP(dtype=dtype, rng=0)
    save_weights(src, path)
    dst = MLP(dtype=dtype, rng=10)
    assert not np.array_equal(dst.fc1.W.data, src.fc1.W.data)
    load_weights(dst, path)
    for (n1, p1), (n2, p2) in zip(src.named_params(), dst.named_params()):
        assert n1 == n2 and p2.dtype == dtype
        np.testing.assert_array_equal(p1.data, p2.data)
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(dtype)
    np.testing.assert_array_equal(src(x).data, dst(x).data)
    with np.load(path) as f:
        assert f.files == ["fc1.W", "fc1.b", "fc2.W", "fc2.b"]
    assert os.listdir(tmp_path) == ["mlp.npz"]


def test_save_load_tied_model_stores_shared_weight_once(tmp_path):
    path = tmp_path / "lm.npz"
    src = TiedLM()
    save_weights(src, path)
    with np.load(path) as f:
        assert f.files == ["embed.W", "out.b"]
    dst = TiedLM()
    dst.embed.W.data = dst.embed.W.data + 1.0
    load_weights(dst, path)
    assert dst.out.W is dst.embed.W
    np.testing.assert_array_equal(dst.out.W.data, src.embed.W.data)


def test_load_while_a_graph_holds_the_weights(tmp_path):
    # A live graph keeps the parameters read-only; loading still works and
    # gives each parameter a fresh array.
    path = tmp_path / "m.npz"
    save_weights(MLP(rng=0), path)
    model = MLP(rng=3)
    y = model(np.ones((1, 4), dtype=np.float32))
    load_weights(model, path)
    np.testing.assert_array_equal(model.fc1.W.data, MLP(rng=0).fc1.W.data)
    del y


class Other(Layer):
    def __init__(self, **kw):
        super().__init__()
        self.fc1 = Linear(4, kw.get("hidden", 5), dtype=kw.get("dtype", np.float32), rng=9)
        if kw.get("fc2", True):
            self.fc2 = Linear(kw.get("hidden", 5), 3, dtype=kw.get("dtype", np.float32), rng=9)
        if kw.get("extra", False):
            self.fc3 = Linear(3, 2, rng=9)


@pytest.mark.parametrize("saved, expected", [
    (dict(fc2=False),
     [r"fc2.W: missing from the file \(the model has \(5, 3\) float32\)",
      r"fc2.b: missing from the file \(the model has \(3,\) float32\)"]),
    (dict(extra=True),
     [r"fc3.W: unexpected in the file \(\(3, 2\) float32\)",
      r"fc3.b: unexpected in the file \(\(2,\) float32\)"]),
    (dict(hidden=6),
     [r"fc1.W: shape differs: the model has \(4, 5\), the file has \(4, 6\)",
      r"fc1.b: shape differs: the model has \(5,\), the file has \(6,\)",
      r"fc2.W: shape differs: the model has \(5, 3\), the file has \(6, 3\)"]),
    (dict(dtype=np.float64),
     [r"fc1.W: dtype differs: the model has float32, the file has float64",
      r"fc2.b: dtype differs: the model has float32, the file has float64"]),
], ids=["missing", "unexpected", "shape", "dtype"])
def test_load_mismatch_lists_every_difference_and_touches_nothing(tmp_path, saved, expected):
    path = tmp_path / "w.npz"
    save_weights(Other(**saved), path)
    model = MLP()
    before = snapshot(model)
    with pytest.raises(CheckpointError) as info:
        load_weights(model, path)
    message = str(info.value)
    assert isinstance(info.value, MinigradError)
    assert "nothing was loaded" in message and "(MLP)" in message
    for pattern in expected:
        assert __import__("re").search(pattern, message), (pattern, message)
    assert_same(model, before)


def test_load_reports_several_kinds_at_once(tmp_path):
    path = tmp_path / "w.npz"
    save_weights(Other(hidden=6, fc2=False, extra=True), path)
    with pytest.raises(CheckpointError) as info:
        load_weights(MLP(), path)
    lines = str(info.value).splitlines()[1:]
    assert lines == [
        "  fc1.W: shape differs: the model has (4, 5), the file has (4, 6)",
        "  fc1.b: shape differs: the model has (5,), the file has (6,)",
        "  fc2.W: missing from the file (the model has (5, 3) float32)",
        "  fc2.b: missing from the file (the model has (3,) float32)",
        "  fc3.W: unexpected in the file ((3, 2) float32), the model has no such parameter",
        "  fc3.b: unexpected in the file ((2,) float32), the model has no such parameter",
    ]


def _bad_files(tmp_path):
    good = tmp_path / "good.npz"
    model = MLP(rng=0)
    save_weights(model, good)
    data = good.read_bytes()
    at = data.find(model.fc1.W.data.tobytes())  # npz stores arrays uncompressed
    assert at > 0
    files = {}
    files["truncated"] = tmp_path / "truncated.npz"
    files["truncated"].write_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)
    corrupt[at + 5] ^= 0xFF  # one byte of fc1.W's data: only its CRC tells
    files["corrupt"] = tmp_path / "corrupt.npz"
    files["corrupt"].write_bytes(bytes(corrupt))
    files["text"] = tmp_path / "notes.npz"
    files["text"].write_text("these are not weights\n")
    files["npy"] = tmp_path / "single.npy"
    np.save(files["npy"], np.zeros(3))
    files["empty"] = tmp_path / "empty.npz"
    files["empty"].write_bytes(b"")
    return files


@pytest.mark.parametrize("kind, pattern", [
    ("truncated", r"truncated\.npz is not a readable \.npz file \(truncated or corrupt\?\)"),
    ("corrupt", r"corrupt\.npz is not a readable \.npz file .*Bad CRC-32 for file 'fc1\.W\.npy'"),
    ("text", r"notes\.npz is not an \.npz file \(it starts with b'these '"),
    ("npy", r"single\.npy is a single \.npy array, not an \.npz"),
    ("empty", r"empty\.npz is not an \.npz file \(it starts with b''"),
])
def test_load_unreadable_file_raises_and_touches_nothing(tmp_path, kind, pattern):
    path = _bad_files(tmp_path)[kind]
    model = MLP(rng=4)
    before = snapshot(model)
    with pytest.raises(CheckpointError, match=pattern):
        load_weights(model, path)
    assert_same(model, before)


def test_load_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_weights(MLP(), tmp_path / "nope.npz")


def test_interrupted_save_keeps_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    old = MLP(rng=0)
    save_weights(old, path)
    old_bytes = path.read_bytes()
    real_savez = np.savez

    def savez_then_crash(file, *args, **kwargs):
        real_savez(file, *args, **kwargs)
        file.seek(0)
        file.truncate(len(old_bytes) // 3)  # a partly written file, then the crash
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(serialization.np, "savez", savez_then_crash)
    with pytest.raises(OSError, match="disk full"):
        save_weights(MLP(rng=1), path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    assert path.read_bytes() == old_bytes
    model = MLP(rng=5)
    load_weights(model, path)
    np.testing.assert_array_equal(model.fc1.W.data, old.fc1.W.data)


def test_interrupted_save_by_keyboard_interrupt_cleans_up(tmp_path, monkeypatch):
    def savez_interrupted(file, *args, **kwargs):
        file.write(b"PK\x03\x04partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization.np, "savez", savez_interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_weights(MLP(), tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_saved_file_has_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        save_weights(MLP(), tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o644


def test_save_follows_numpy_and_appends_npz(tmp_path):
    # np.savez("w") writes w.npz; so does save_weights, and load_weights finds it.
    src, dst = MLP(rng=0), MLP(rng=5)
    assert save_weights(src, tmp_path / "w") == tmp_path / "w.npz"
    assert src.save_weights(str(tmp_path / "x.npz")) == tmp_path / "x.npz"
    assert src.save_weights(tmp_path / "w.bin") == tmp_path / "w.bin.npz"
    assert sorted(os.listdir(tmp_path)) == ["w.bin.npz", "w.npz", "x.npz"]
    assert dst.load_weights(tmp_path / "w") is dst
    np.testing.assert_array_equal(dst.fc2.W.data, src.fc2.W.data)
    load_weights(MLP(), str(tmp_path / "w.npz"))
    with pytest.raises(FileNotFoundError):
        load_weights(MLP(), tmp_path / "nothing")


# ------------------------------------------------------------------ devices
def test_layers_and_weights_on_the_device(xp, tmp_path):
    model = MLP(rng=0)
    if xp is not np:
        model.to_gpu()
    x = xp.ones((2, 4), dtype=np.float32)
    y = model(x)
    y.sum().backward()
    assert type(model.fc1.b.grad.data) is type(x)
    path = tmp_path / "d.npz"
    save_weights(model, path)
    with np.load(path) as f:
        assert all(type(f[n]) is np.ndarray for n in f.files)
    other = MLP(rng=1)
    if xp is not np:
        other.to_gpu()
    load_weights(other, path)
    for (_, a), (_, b) in zip(model.named_params(), other.named_params()):
        assert type(b.data) is type(a.data)
        np.testing.assert_array_equal(mg.to_cpu(a.data), mg.to_cpu(b.data))
    # in memory: copies on the parameters' own device, loaded onto the other's
    state = model.state_dict()
    assert all(type(a) is type(x) for a in state.values())
    on_cpu = MLP(rng=2).load_state_dict(state)
    assert all(type(p.data) is np.ndarray for p in on_cpu.params())
    np.testing.assert_array_equal(on_cpu.fc2.W.data, mg.to_cpu(model.fc2.W.data))
    assert type(other.load_state_dict(on_cpu.state_dict()).fc1.W.data) is type(x)
    # float64 data into the float32 model, on the device: computed in float32
    assert model(xp.ones((2, 4))).dtype == np.float32
    emb = Embedding(5, 3, rng=0)
    if xp is not np:
        emb.to_gpu()
    ids = xp.asarray(np.array([1, 1, 4]))
    emb(ids).sum().backward()
    np.testing.assert_array_equal(mg.to_cpu(emb.W.grad.data)[1], [2.0, 2.0, 2.0])


@pytest.mark.parametrize("sparse", [True, False])
def test_embedding_takes_numpy_ids_on_a_device_table(sparse, xp):
    # The book's batches are numpy arrays; a table on the device looks them up
    # there (a numpy index into a device array is refused, as CuPy's operations do).
    ids = np.array([[1, 4], [1, 0]])
    expected = Embedding(5, 3, rng=0, sparse=sparse)
    expected(ids).sum().backward()
    emb = Embedding(5, 3, rng=0, sparse=sparse)
    if xp is not np:
        emb.to_gpu()
    out = emb(ids)
    out.sum().backward()
    assert mg.get_array_module(out) is xp
    np.testing.assert_array_equal(mg.to_cpu(out), expected(ids).data)
    dense = (lambda g: g.to_dense() if sparse else g.data)
    np.testing.assert_array_equal(mg.to_cpu(dense(emb.W.grad)), dense(expected.W.grad))
