"""The catalogue of bad inputs: one test per case.

Each test asserts the error's type, that its message names the problem (the
operation and the shapes or dtypes, or the file or the word), and that what
the user had is intact afterwards: arrays unchanged and still writeable,
weights and optimizer state as they were, files byte for byte the same, no
half-written or temporary file left behind.

Several of these cases are also tested where their feature lives; here they
are side by side, so the list of what minigrad guards against is one file.
"""
from __future__ import annotations

import hashlib
import importlib.abc
import inspect
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad.core import saved
from minigrad.data import (ChecksumError, DatasetNotFoundError, TBPTTBatcher, UnknownWordError,
                           analogy, load_ptb, most_similar)
from minigrad.data import ptb
from minigrad.functions import arithmetic
from minigrad.layers import CheckpointError, Linear, Parameter, load_weights, save_weights
from minigrad.optimizers import Adam
from minigrad.optimizers.base import OptimizerStateError
from minigrad.testing import strict_device


# ------------------------------------------------------------------ helpers
def assert_mentions(message: str, *parts: str) -> None:
    missing = [p for p in parts if p not in message]
    assert not missing, f"{missing} not in the message: {message!r}"


def assert_untouched(arrays, copies) -> None:
    """Same values, and writeable again: a failed call must not leave a user's
    array locked read-only by a half-recorded operation."""
    for a, c in zip(arrays, copies):
        assert np.array_equal(a, c)
        assert a.flags.writeable


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def listing(directory: Path) -> list:
    return sorted(p.name for p in Path(directory).iterdir())


# ------------------------------------------------------------------ shapes
# Every broadcasting binary operation: (function, the name its errors carry).
BROADCASTING_OPS = {
    "add": (F.add, "Add"),
    "sub": (F.sub, "Sub"),
    "mul": (F.mul, "Mul"),
    "div": (F.div, "Div"),
    "operator +": (lambda a, b: a + b, "Add"),
    "operator -": (lambda a, b: a - b, "Sub"),
    "operator *": (lambda a, b: a * b, "Mul"),
    "operator /": (lambda a, b: a / b, "Div"),
    "maximum": (F.maximum, "Maximum"),
    "minimum": (F.minimum, "Minimum"),
    "where": (lambda a, b: F.where(True, a, b), "Where"),
}


def _subclasses(cls):
    found, stack = set(), [cls]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            found.add(sub)
    return found


def test_the_catalogue_covers_every_broadcasting_op():
    # An operation that says it broadcasts (the drawer's Repeat) must join
    # BROADCASTING_OPS; so must any two-input operation of arithmetic.py.
    says = {cls.__name__ for cls in _subclasses(mg.Function)
            if cls.broadcasts and cls.__module__.startswith("minigrad.")}
    binary = {name for name, cls in vars(arithmetic).items()
              if inspect.isclass(cls) and issubclass(cls, mg.Function) and cls is not mg.Function
              and len(inspect.signature(cls.forward).parameters) >= 3}
    assert binary <= says == {name for _, name in BROADCASTING_OPS.values()}


@pytest.mark.parametrize("variable_first", [True, False], ids=["Variable-array", "array-Variable"])
@pytest.mark.parametrize("op", list(BROADCASTING_OPS), ids=list(BROADCASTING_OPS))
def test_shape_mismatch_in_broadcasting_op(op, variable_first):
    fn, name = BROADCASTING_OPS[op]
    a, b = np.ones((3, 4)), np.arange(5.0)
    copies = (a.copy(), b.copy())
    locked = saved.locked_count()
    args = (mg.Variable(a), b) if variable_first else (b, mg.Variable(a))
    with pytest.raises(mg.ShapeError) as info:
        fn(*args)
    first, second = ("(3, 4)", "(5,)") if variable_first else ("(5,)", "(3, 4)")
    assert_mentions(str(info.value), f"{name}:", first, second, "float64", "broadcast")
    assert isinstance(info.value, ValueError)
    assert_untouched((a, b), copies)
    assert saved.locked_count() == locked


MATMUL_CASES = {
    "matmul": (lambda x, W: F.matmul(x, W), (2, 3), (4, 5), "MatMul", ["inner dimensions 3 and 4"]),
    "operator @": (lambda x, W: x @ W, (2, 3), (4, 5), "MatMul", ["inner dimensions 3 and 4"]),
    "matmul batched": (lambda x, W: F.matmul(x, W), (6, 2, 3), (4, 5), "MatMul",
                       ["inner dimensions 3 and 4"]),
    "matmul vector": (lambda x, W: F.matmul(x, W), (2, 3), (4,), "MatMul", ["(4, 1)"]),
    "linear W": (lambda x, W: F.linear(x, W), (2, 3), (4, 5), "Linear",
                 ["inner dimensions 3 and 4"]),
    "linear b": (lambda x, W: F.linear(x, W[:3], np.ones(7)), (2, 3), (4, 5), "Linear",
                 ["(7,)", "broadcast"]),
    "Linear layer": (lambda x, W: Linear(4, 5, W=W.data)(x), (2, 3), (4, 5), "Linear",
                     ["inner dimensions 3 and 4"]),
}


@pytest.mark.parametrize("case", list(MATMUL_CASES), ids=list(MATMUL_CASES))
def test_shape_mismatch_in_matmul_and_linear(case):
    fn, xs, ws, name, details = MATMUL_CASES[case]
    x = np.ones(xs)
    W = np.ones(ws)
    copies = (x.copy(), W.copy())
    Wv = mg.Variable(W)
    with pytest.raises(mg.ShapeError) as info:
        fn(mg.Variable(x), Wv)
    assert_mentions(str(info.value), f"{name}:", str(xs), *details)
    assert_untouched((x, W), copies)
    assert Wv.grad is None


def test_shape_mismatch_of_the_seed_gradient():
    x = mg.Variable(np.ones(3))
    y = x * 2.0
    seed = np.ones(4)
    with pytest.raises(mg.ShapeError) as info:
        y.backward(seed)
    assert_mentions(str(info.value), "backward", "seed", "(4,)", "(3,)")
    assert x.grad is None
    y.backward(np.ones(3))          # the graph was not consumed by the failed call
    assert np.array_equal(x.grad.data, np.full(3, 2.0))


# ------------------------------------------------------------------ dtypes
@pytest.mark.parametrize("data", [np.arange(3), np.arange(3, dtype=np.int32),
                                  np.array([True, False, True])], ids=["int64", "int32", "bool"])
def test_integer_or_boolean_data_cannot_require_grad(data):
    copy = data.copy()
    with pytest.raises(mg.DTypeError) as info:
        mg.Variable(data, requires_grad=True)
    assert_mentions(str(info.value), "requires_grad=True", str(data.dtype), "(3,)", "astype")
    assert isinstance(info.value, TypeError)
    assert_untouched([data], [copy])


@pytest.mark.parametrize("make", [lambda x: F.astype(x, np.int64).sum(),
                                  lambda x: mg.Variable(x.data.sum() > 0.5)],
                         ids=["int64", "bool"])
def test_backward_from_an_integer_or_boolean_output(make):
    x = mg.Variable(np.array([0.25, 0.75, 1.5]))
    out = make(x)
    with pytest.raises(mg.DTypeError) as info:
        out.backward()
    assert_mentions(str(info.value), "backward", str(out.dtype), "floating-point")
    assert x.grad is None


def test_integer_parameter_is_refused():
    data = np.arange(6).reshape(2, 3)
    with pytest.raises(mg.DTypeError) as info:
        Parameter(data)
    assert_mentions(str(info.value), "int64", "(2, 3)")


def test_float_ids_where_integer_ids_are_needed():
    W = mg.Variable(np.arange(6.0).reshape(3, 2))
    ids = np.array([0.0, 2.0])
    with pytest.raises(mg.DTypeError) as info:
        F.embedding(W, ids)
    assert_mentions(str(info.value), "Embedding", "integers", "float64")
    assert W.grad is None and W.data.flags.writeable


# ------------------------------------------------------------------ the graph
def test_backward_on_a_non_scalar_without_a_seed():
    data = np.ones((2, 3))
    x = mg.Variable(data)
    y = x * 2.0
    with pytest.raises(mg.GraphError) as info:
        y.backward()
    assert_mentions(str(info.value), "backward", "(2, 3)", "not a single element",
                    "np.ones_like", ".sum().backward()")
    assert isinstance(info.value, RuntimeError)
    assert x.grad is None
    y.backward(np.ones((2, 3)))    # the advice works, on the same graph
    assert np.array_equal(x.grad.data, np.full((2, 3), 2.0))


def test_backward_twice_through_a_freed_graph():
    x = mg.Variable(np.array([1.0, 2.0]))
    w = mg.Variable(np.array([3.0, 4.0]))
    y = (x * x).sum()
    y.backward()
    first = x.grad.data.copy()
    # A new graph joining the freed one: the pass reaches w's nodes before the
    # freed part, and must not leave w with a half-finished gradient.
    z = (w * 3.0).sum() + y
    with pytest.raises(mg.GraphError) as info:
        z.backward()
    assert_mentions(str(info.value), "already freed", "retain_graph=True")
    assert any(name in str(info.value) for name in ("Sum", "Mul"))
    assert np.array_equal(x.grad.data, first)
    assert w.grad is None
    # z's graph still holds w read-only until it is dropped (the traceback too).
    del z, info
    assert x.data.flags.writeable and w.data.flags.writeable


@pytest.mark.parametrize("which", ["input", "constant"])
def test_mutating_a_saved_array_after_forward(which):
    x_data, c = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    x = mg.Variable(x_data)
    y = (x * c).sum()
    target = x_data if which == "input" else c
    before = target.copy()
    with pytest.raises(ValueError, match="read-only"):
        target[0] = 100.0
    assert np.array_equal(target, before)
    y.backward()
    assert np.array_equal(x.grad.data, c)         # the gradient saw the original values
    target[0] = 100.0                             # released by backward: editable again


# ------------------------------------------------------------------ devices
@pytest.mark.parametrize("op, name", [(lambda a, b: a + b, "Add"), (lambda a, b: a * b, "Mul"),
                                      (lambda a, b: b - a, "Sub"), (lambda a, b: a @ b, "MatMul")],
                         ids=["add", "mul", "sub-reflected", "matmul"])
def test_mixing_numpy_and_device_arrays_on_the_strict_device(op, name):
    # The strict device refuses numpy operands as a cupy array does.
    data = np.ones((3, 3))
    copy = data.copy()
    x = mg.Variable(data)
    with strict_device.enabled() as xp:
        gpu = mg.Variable(xp.ones((3, 3)))
        assert mg.backend.is_cupy_array(gpu.data)
        with pytest.raises(mg.DeviceError) as info:
            op(x, gpu)
    assert_mentions(str(info.value), f"{name}:", "numpy arrays and device arrays", "(3, 3)", ".to_gpu()",
                    ".to_cpu()")
    assert isinstance(info.value, TypeError)
    assert_untouched([data], [copy])


@pytest.mark.gpu
@pytest.mark.parametrize("op, name", [(lambda a, b: a + b, "Add"), (lambda a, b: a @ b, "MatMul")],
                         ids=["add", "matmul"])
def test_mixing_numpy_and_cupy_arrays(op, name):
    if not mg.gpu_available():
        pytest.skip("cupy with a CUDA device is not available")
    import cupy

    data = np.ones((3, 3))
    copy = data.copy()
    gpu = cupy.ones((3, 3))
    with pytest.raises(mg.DeviceError) as info:
        op(mg.Variable(data), gpu)
    assert_mentions(str(info.value), f"{name}:", "numpy arrays and device arrays", "(3, 3)", ".to_gpu()")
    assert_untouched([data], [copy])
    assert bool((gpu == 1).all())


def test_to_gpu_without_cupy(monkeypatch):
    monkeypatch.setattr(mg.backend, "_cupy", None)
    monkeypatch.setattr(mg.backend, "_cupy_error", None)
    monkeypatch.setitem(sys.modules, "cupy", None)       # as on a machine without cupy
    data = np.ones(3)
    x = mg.Variable(data)
    with pytest.raises(mg.DeviceError) as info:
        x.to_gpu()
    assert_mentions(str(info.value), "to_gpu", "cupy", "pip install")
    assert x.data is data and np.array_equal(data, np.ones(3))


class _BrokenCupy(importlib.abc.MetaPathFinder):
    """cupy installed, but its import fails the way a CUDA mismatch makes it fail."""

    def find_spec(self, name, path, target=None):
        if name == "cupy":
            raise ImportError("libcudart.so.12: cannot open shared object file: No such file "
                              "or directory")
        return None


def test_to_gpu_with_a_cupy_that_fails_to_load_shows_why(monkeypatch):
    monkeypatch.setattr(mg.backend, "_cupy", None)
    monkeypatch.setattr(mg.backend, "_cupy_error", None)
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_BrokenCupy()] + sys.meta_path)
    x = mg.Variable(np.ones(3))
    with pytest.raises(mg.DeviceError) as info:
        x.to_gpu()
    message = str(info.value)
    assert_mentions(message, "to_gpu", "cupy is installed but could not be used",
                    "ImportError: libcudart.so.12: cannot open shared object file", "CUDA")
    assert "pip install" not in message
    assert isinstance(info.value.__cause__, ImportError)            # chained, traceback kept
    assert "libcudart" in str(info.value.__cause__)


def test_to_gpu_with_cupy_but_no_device_shows_why(monkeypatch):
    class NoDevice(RuntimeError):
        pass

    def count():
        raise NoDevice("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=count))
    monkeypatch.setattr(mg.backend, "_cupy", None)
    monkeypatch.setattr(mg.backend, "_cupy_error", None)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setitem(sys.modules, "cupyx", types.ModuleType("cupyx"))
    with pytest.raises(mg.DeviceError, match="NoDevice: cudaErrorNoDevice") as info:
        mg.Variable(np.ones(3)).to_gpu()
    assert isinstance(info.value.__cause__, NoDevice)
    assert not mg.gpu_available()


# ------------------------------------------------------------------ words and corpora
def vocabulary():
    w2i = {"cat": 0, "dog": 1, "car": 2, "king": 3}
    return w2i, {i: w for w, i in w2i.items()}, np.arange(8.0).reshape(4, 2)


@pytest.mark.parametrize("call", [
    lambda w2i, i2w, m: most_similar("unicorn", w2i, i2w, m),
    lambda w2i, i2w, m: analogy("cat", "unicorn", "dog", w2i, i2w, m),
    lambda w2i, i2w, m: analogy("cat", "dog", "unicorn", w2i, i2w, m, score="cosine"),
], ids=["most_similar", "analogy", "analogy-cosine"])
def test_a_word_not_in_the_vocabulary(call):
    w2i, i2w, matrix = vocabulary()
    copies = (dict(w2i), dict(i2w), matrix.copy())
    with pytest.raises(UnknownWordError) as info:
        call(w2i, i2w, matrix)
    assert str(info.value) == "word 'unicorn' is not in the vocabulary"
    assert isinstance(info.value, KeyError)
    assert (w2i, i2w) == copies[:2] and np.array_equal(matrix, copies[2])


@pytest.mark.parametrize("length, batch, time, what", [
    (0, 2, 3, "empty"), (6, 2, 3, "too short (6 words)"), (7, 2, 3, None),
    (1, 1, 1, "too short (1 words)"),
], ids=["empty", "one-short", "just-enough", "single-word"])
def test_an_empty_or_too_short_corpus_for_the_batch_and_time_sizes(length, batch, time, what):
    corpus = np.arange(length)
    copy = corpus.copy()
    if what is None:             # batch * time + 1 words is exactly one batch
        assert len(TBPTTBatcher(corpus, batch, time)) == 1
        return
    with pytest.raises(ValueError) as info:
        TBPTTBatcher(corpus, batch, time)
    assert_mentions(str(info.value), f"corpus is {what}", f"batch_size={batch}",
                    f"time_size={time}", f"= {batch * time + 1} words")
    assert np.array_equal(corpus, copy)


def test_a_too_short_corpus_stops_training_before_anything_changes(tmp_path):
    from models.rnnlm import Rnnlm, eval_perplexity
    from models.rnnlm import train_rnnlm

    model = Rnnlm(20, 4, 4, rng=0)
    before = model.to_weights()
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=r"corpus is too short \(20 words\).*batch_size=4"):
        train_rnnlm(model, np.arange(20) % 20, batch_size=4, time_size=5, lr=1.0, max_epoch=1,
                    out_dir=out, progress=False)
    with pytest.raises(ValueError, match="valid_corpus has 30 words"):
        train_rnnlm(model, np.arange(200) % 20, np.arange(30) % 20, batch_size=4, time_size=5,
                    lr=1.0, max_epoch=1, out_dir=out, progress=False)
    with pytest.raises(ValueError, match="a corpus of 12 words is shorter than one batch of 2 x 6"):
        eval_perplexity(model, np.arange(12), batch_size=2, time_size=6)
    after = model.to_weights()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert not out.exists()


# ------------------------------------------------------------------ data directory
@pytest.fixture
def ptb_dir(tmp_path, monkeypatch):
    """A tiny PTB-shaped directory whose files the checksums are made to fit,
    and no network: an unarranged download fails the test."""
    def forbidden(url, dest):
        raise AssertionError(f"test tried to download {url}")
    monkeypatch.setattr(ptb, "_download", forbidden)
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    d = tmp_path / "ptb"
    d.mkdir()
    texts = {"ptb.train.txt": " a cat sat \n the dog ran \n", "ptb.valid.txt": " the cat ran \n",
             "ptb.test.txt": " a dog sat \n"}
    for name, text in texts.items():
        (d / name).write_text(text)
        monkeypatch.setitem(ptb.MD5, name, hashlib.md5(text.encode()).hexdigest())
    ptb.clear_cache()
    yield d
    ptb.clear_cache()


def test_the_tiny_data_directory_loads(ptb_dir):
    # The fixture itself is sound, so the failures below are the cases' own.
    corpus, _, i2w = load_ptb("valid", ptb_dir, download=False)
    assert [i2w[int(i)] for i in corpus] == ["the", "cat", "ran", "<eos>"]


def test_a_data_directory_with_a_missing_file(ptb_dir):
    (ptb_dir / "ptb.valid.txt").unlink()
    before = {name: digest(ptb_dir / name) for name in listing(ptb_dir)}
    with pytest.raises(DatasetNotFoundError) as info:
        load_ptb("valid", ptb_dir, download=False)
    assert_mentions(str(info.value), str(ptb_dir / "ptb.valid.txt"), "download=False",
                    "MINIGRAD_DATA")
    assert isinstance(info.value, FileNotFoundError)
    assert {name: digest(ptb_dir / name) for name in listing(ptb_dir)} == before


def test_a_data_directory_with_a_corrupt_file(ptb_dir):
    bad = ptb_dir / "ptb.valid.txt"
    bad.write_text(" the cat ran \n the")          # an edited or half-copied file
    found = hashlib.md5(bad.read_bytes()).hexdigest()
    before = {name: digest(ptb_dir / name) for name in listing(ptb_dir)}
    with pytest.raises(ChecksumError) as info:
        load_ptb("valid", ptb_dir)
    assert_mentions(str(info.value), "ptb.valid.txt", str(bad), ptb.MD5["ptb.valid.txt"], found)
    # The user's file is reported, never deleted or re-downloaded over.
    assert {name: digest(ptb_dir / name) for name in listing(ptb_dir)} == before
    assert len(load_ptb("train", ptb_dir)[0]) == 8     # the good split still loads


def test_a_corrupt_download_leaves_nothing_behind(ptb_dir, monkeypatch):
    (ptb_dir / "ptb.test.txt").unlink()
    before = {name: digest(ptb_dir / name) for name in listing(ptb_dir)}

    def corrupt(url, dest):
        Path(dest).write_bytes(b"not the penn treebank\n")
    monkeypatch.setattr(ptb, "_download", corrupt)
    with pytest.raises(ChecksumError) as info:
        load_ptb("test", ptb_dir)
    assert_mentions(str(info.value), "ptb.test.txt", ptb.MD5["ptb.test.txt"], "discarded")
    assert {name: digest(ptb_dir / name) for name in listing(ptb_dir)} == before


# ------------------------------------------------------------------ checkpoints
def weights(layer) -> dict:
    return {name: p.data.copy() for name, p in layer.named_params()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype
                                        for k in a)


def _checkpoint(tmp_path, kind):
    """A file that does not fit Linear(3, 2), and what the error must name."""
    path = tmp_path / f"{kind}.npz"
    if kind == "missing names":
        save_weights(Linear(3, 2, bias=False, rng=1), path)
        return path, ["b: missing from the file", "(2,) float32"]
    if kind == "wrong shapes":
        save_weights(Linear(3, 4, rng=1), path)
        return path, ["W: shape differs", "(3, 2)", "(3, 4)", "b: shape differs"]
    if kind == "wrong dtypes":
        save_weights(Linear(3, 2, dtype=np.float64, rng=1), path)
        return path, ["W: dtype differs", "float32", "float64"]
    save_weights(Linear(3, 2, rng=1), path)
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
        return path, ["not a readable .npz file", "truncated or corrupt"]
    if kind == "not an npz":
        path.write_text("W = [[1, 2], [3, 4]]\n")
        return path, ["is not an .npz file", "b'W = [['"]
    if kind == "a single npy":
        np.save(tmp_path / "single.npy", np.zeros((3, 2), dtype=np.float32))
        return tmp_path / "single.npy", ["a single .npy array, not an .npz"]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing names", "wrong shapes", "wrong dtypes", "truncated",
                                  "not an npz", "a single npy"])
def test_a_checkpoint_that_does_not_fit(tmp_path, kind):
    path, details = _checkpoint(tmp_path, kind)
    file_before = digest(path)
    model = Linear(3, 2, rng=0)
    before = weights(model)
    with pytest.raises(CheckpointError) as info:
        load_weights(model, path)
    assert_mentions(str(info.value), "load_weights", str(path), *details)
    assert isinstance(info.value, ValueError)
    assert same_weights(weights(model), before)
    assert digest(path) == file_before


def test_an_optimizer_state_that_does_not_fit():
    model = Linear(3, 2, rng=0)
    opt = Adam(model, lr=0.1)
    for p in model.params():
        p.grad = mg.Variable(np.ones_like(p.data))
    opt.update()
    state_before = opt.state_dict()
    other = Adam(Linear(3, 4, rng=0), lr=0.5)
    for p in other.params():
        p.grad = mg.Variable(np.ones_like(p.data))
    other.update()
    with pytest.raises(OptimizerStateError) as info:
        opt.load_state_dict(other.state_dict())
    assert_mentions(str(info.value), "load_state_dict", "(3, 2)", "(3, 4)", "float32")
    after = opt.state_dict()
    assert after.keys() == state_before.keys()
    for k in after:
        assert np.array_equal(np.asarray(after[k]), np.asarray(state_before[k])), k


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    save_weights(Linear(3, 2, rng=0), path)
    before = digest(path)

    def half_then_fail(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("No space left on device")
    monkeypatch.setattr(np, "savez", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        save_weights(Linear(3, 2, rng=1), path)
    monkeypatch.undo()
    assert digest(path) == before and listing(tmp_path) == ["w.npz"]
    model = Linear(3, 2, rng=5)
    load_weights(model, path)
    assert np.array_equal(model.W.data, Linear(3, 2, rng=0).W.data)


# ------------------------------------------------------------------ pictures
def test_plot_without_graphviz(tmp_path, monkeypatch):
    from minigrad.viz import GraphvizNotFoundError, plot

    monkeypatch.setitem(sys.modules, "graphviz", None)     # import graphviz now fails
    picture = tmp_path / "graph.png"
    picture.write_bytes(b"\x89PNG an older picture")
    before = digest(picture)
    x = mg.Variable(np.ones(2), name="x")
    y = F.tanh(x * 2.0)
    with pytest.raises(GraphvizNotFoundError) as info:
        plot(y, path=picture)
    dot_path = tmp_path / "graph.dot"
    assert_mentions(str(info.value), "graphviz Python package is not installed", str(picture),
                    "pip install 'minigrad[viz]'", str(dot_path), "dot -Tpng")
    assert isinstance(info.value, ImportError)
    assert info.value.dot_path == dot_path
    assert digest(picture) == before          # the old picture is not replaced by nothing
    assert "Tanh" in dot_path.read_text() and "Mul" in dot_path.read_text()


def test_plot_without_the_dot_program(tmp_path, monkeypatch):
    graphviz = pytest.importorskip("graphviz")
    from minigrad.viz import GraphvizNotFoundError, plot

    def no_dot(self, *args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])
    monkeypatch.setattr(graphviz.Source, "pipe", no_dot)
    picture = tmp_path / "graph.svg"
    with pytest.raises(GraphvizNotFoundError) as info:
        plot(mg.Variable(np.ones(2)) * 3.0, path=picture)
    assert_mentions(str(info.value), "`dot` was not found on PATH", "apt-get install graphviz")
    assert not picture.exists() and (tmp_path / "graph.dot").is_file()


def test_gradcheck_with_nothing_to_check_refuses_instead_of_passing():
    from minigrad.testing import gradcheck

    with pytest.raises(ValueError) as info:
        gradcheck(lambda ids: F.sum(F.embedding(np.ones((3, 2)), ids)), np.array([0, 2]))
    assert_mentions(str(info.value), "no input to check", "(2,) int64", "astype")


def test_backward_through_an_integer_cast_says_where_the_graph_was_cut():
    x = mg.Variable(np.array([0.25, 1.75]))
    out = F.sum(F.astype(x, np.int64) * 1.5)
    with pytest.raises(mg.GraphError) as info:
        out.backward()
    assert_mentions(str(info.value), "does not require a gradient", "integer", "cuts the graph")


def test_a_linear_layer_given_one_sample_says_how_to_make_it_a_batch():
    from minigrad.layers import Linear

    with pytest.raises(mg.ShapeError, match=r"single sample of shape \(3,\) is the batch x\[None\]"):
        Linear(3, 2)(np.ones(3))
