"""minigrad.distributed without MPI: the Communicator's logic on ranks that
are threads (tests/thread_ranks.py), data sharding, seeds, the NCCL
transport's host-side logic. The multi-process runs are in
test_distributed_mpi.py."""
from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad import distributed as dist
from minigrad.data import ShuffledBatches, TBPTTBatcher
from minigrad.distributed import nccl as nccl_mod
from minigrad.layers import Layer, Parameter
from minigrad import optimizers as O
from minigrad.optimizers import SGD, Adam, ClipGradNorm
from thread_ranks import run_ranks

RNG = np.random.default_rng(0)


def dense(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def with_grad(data, grad):
    p = Parameter(np.array(data, copy=True))
    if grad is None or isinstance(grad, mg.SparseRows):
        p.grad = grad
    else:
        p.grad = mg.Variable(np.array(grad), requires_grad=False)
    return p


# ---------------------------------------------------------------- import, missing mpi4py
def test_import_leaves_mpi4py_alone():
    code = "import sys, minigrad.distributed; print('mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_mpi4py_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(dist.DistributedError, match=r"minigrad\[distributed\]"):
        dist.create_communicator()


def test_mpirun_options_name_the_fabrics():
    from minigrad.distributed.launch import mpirun_options

    assert mpirun_options("shared-memory") == []
    tcp = mpirun_options("tcp-loopback")
    assert tcp[tcp.index("btl") + 1] == "tcp,self" and "lo" in tcp
    with pytest.raises(ValueError, match="fabric must be one of"):
        mpirun_options("infiniband")


# ---------------------------------------------------------------- dense gradients
def test_weighted_mean_of_dense_gradients_one_allreduce_per_dtype():
    weights = [1.0, 2.0, 0.0]
    grads = [(dense((3, 2), seed=r), dense(4, np.float64, seed=10 + r)) for r in range(3)]

    def rank(comm):
        gW, gb = grads[comm.rank]
        W, b = with_grad(np.zeros((3, 2), np.float32), gW), with_grad(np.zeros(4), gb)
        loss = comm.mean_grads([W, b], weight=weights[comm.rank], loss=float(comm.rank))
        at_home = W.grad.data is W.home and b.grad.data is b.home
        return W.grad.data, b.grad.data, at_home, loss, comm.transport.calls

    results = run_ranks(3, rank)
    want_W = sum(w * g[0] for w, g in zip(weights, grads)) / 3.0
    want_b = sum(w * g[1] for w, g in zip(weights, grads)) / 3.0
    for gW, gb, at_home, loss, calls in results:
        np.testing.assert_allclose(gW, want_W, rtol=1e-6)
        np.testing.assert_allclose(gb, want_b, rtol=1e-12)
        assert gW.dtype == np.float32 and gb.dtype == np.float64
        assert at_home                       # each mean left in its parameter's home
        assert loss == pytest.approx((0 * 1 + 1 * 2 + 2 * 0) / 3.0)
        assert [c[0] for c in calls] == ["allreduce", "allreduce"]   # one per dtype
    assert all(np.array_equal(r[0], results[0][0]) for r in results)


def test_equal_weights_are_the_plain_mean_and_all_zero_weights_do_not_divide_by_zero():
    grads = [dense(5, seed=r) for r in range(2)]
    for weights, want in [([None, None], (grads[0] + grads[1]) / 2),
                          ([0, 0], (grads[0] + grads[1]) / 2)]:
        out = run_ranks(2, lambda comm: comm.mean_grads(
            [p := with_grad(np.zeros(5, np.float32), grads[comm.rank])],
            weight=weights[comm.rank]) or p.grad.data)
        for got in out:
            np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_gradient_missing_on_one_rank_counts_as_zeros():
    g = dense(3)

    def rank(comm):
        a = with_grad(np.zeros(3, np.float32), g if comm.rank == 0 else None)
        never = with_grad(np.zeros(2, np.float32), None)
        comm.mean_grads([a, never])
        return a.grad.data, never.grad, list(comm.last_plan)

    for got, never, plan in run_ranks(2, rank):
        np.testing.assert_allclose(got, g / 2)
        assert never is None and plan == ["dense", "none"]


def test_bad_weight_is_an_error_on_every_rank():
    def rank(comm):
        p = with_grad(np.zeros(2, np.float32), np.ones(2, np.float32))
        try:
            comm.mean_grads([p], weight=float("nan") if comm.rank else 1.0)
        except dist.DistributedError as exc:
            return str(exc)

    messages = run_ranks(2, rank)
    assert all(m and "finite" in m for m in messages)


def test_other_shapes_on_another_rank_are_an_error_not_a_hang():
    def rank(comm):
        p = with_grad(np.zeros(2 + comm.rank, np.float32), np.ones(2 + comm.rank, np.float32))
        try:
            comm.mean_grads([p])
        except dist.DistributedError as exc:
            return str(exc)

    assert all("different shapes" in m for m in run_ranks(2, rank))


# ---------------------------------------------------------------- gradients in the buckets
# minigrad's graph switches are process-wide: one thread rank's forward and
# backward at a time (the collectives still run concurrently).
_ONE_GRAPH_AT_A_TIME = threading.Lock()


class _Tagger(Layer):
    def __init__(self):
        super().__init__()
        self.embed = mg.layers.Embedding(10, 4, rng=1, sparse=True)
        self.fc1 = mg.layers.Linear(4, 6, rng=2)
        self.fc2 = mg.layers.Linear(6, 3, rng=3)

    def loss(self, ids):
        h = mg.functions.tanh(self.fc1(mg.functions.mean(self.embed(ids), axis=1)))
        return mg.functions.sum(self.fc2(h) ** 2)


def test_the_backward_pass_writes_the_dense_gradients_into_the_buckets():
    """The first step lends each dense parameter its home; from then on the
    backward pass writes every dense gradient into the one float32 buffer and
    the mean is taken there. The sparse table stays out."""
    def rank(comm):
        model, steps = _Tagger(), []
        for step in range(3):
            ids = np.random.default_rng(10 * step + comm.rank).integers(0, 10, (4, 2))
            with _ONE_GRAPH_AT_A_TIME:
                model.zero_grad()
                model.loss(ids).backward()
            dense = [p for p in model.params() if p is not model.embed.W]
            at_home = [p.grad.data is getattr(p, "home", None) for p in dense]
            mine = [p.grad.data.copy() for p in dense]
            comm.mean_grads(model.params())
            steps.append({"at home": at_home, "mine": mine,
                          "mean": [p.grad.data.copy() for p in dense],
                          "mean at home": [p.grad.data is p.home for p in dense],
                          "one buffer": len({id(p.home.base) for p in dense}) == 1,
                          "table home": getattr(model.embed.W, "home", None),
                          "table grad": type(model.embed.W.grad)})
        return steps

    ranks = run_ranks(2, rank)
    for step in range(3):
        want = [(a + b) / 2 for a, b in zip(ranks[0][step]["mine"], ranks[1][step]["mine"])]
        for r in ranks:
            rec = r[step]
            assert rec["at home"] == [step > 0] * 4       # written there by backward
            assert all(rec["mean at home"]) and rec["one buffer"]
            for got, w in zip(rec["mean"], want):
                np.testing.assert_allclose(got, w, rtol=1e-6)
            assert rec["table home"] is None and rec["table grad"] is mg.SparseRows


def test_overlap_refuses_weights_that_differ_on_every_rank():
    def rank(comm):
        p = with_grad(np.zeros(3, np.float32), np.ones(3, np.float32))
        try:
            comm.mean_grads([p], weight=1.0 + comm.rank, overlap=True)
        except dist.DistributedError as exc:
            return str(exc)

    assert all(m and "overlap=False" in m and "same weight" in m for m in run_ranks(2, rank))


def test_overlap_with_equal_weights_is_the_plain_mean():
    def rank(comm):
        p = with_grad(np.zeros(3, np.float32), np.full(3, 1.0 + comm.rank, np.float32))
        comm.mean_grads([p], weight=4.0, overlap=True, bucket_bytes=8)
        return p.grad.data

    for got in run_ranks(2, rank):
        np.testing.assert_array_equal(got, [1.5, 1.5, 1.5])


@pytest.mark.parametrize("options, says", [
    (dict(shard=True, overlap=True), "choose one"),
    (dict(bucket_bytes=0), "positive number of bytes"),
])
def test_distributed_optimizer_refuses_options_that_cannot_work(options, says):
    def rank(comm):
        with pytest.raises(ValueError, match=says):
            dist.DistributedOptimizer(SGD(_Tagger()), comm, **options)

    run_ranks(1, rank)


# ---------------------------------------------------------------- sparse rows
V, D = 12, 3
SPARSE = [mg.SparseRows(np.array([3, 1, 3, 7]), dense((4, D), seed=1), (V, D)),
          mg.SparseRows(np.array([7, 0]), dense((2, D), seed=2), (V, D)),
          None]


@pytest.mark.parametrize("mode", ["gather", "densify", "auto"])
def test_sparse_rows_averaged_as_rows_of_the_union(mode):
    weights = [2.0, 1.0, 1.0]

    def rank(comm):
        E = with_grad(np.zeros((V, D), np.float32), SPARSE[comm.rank])
        comm.mean_grads([E], weight=weights[comm.rank])
        return E.grad, comm.last_plan[0], [c[0] for c in comm.transport.calls]

    results = run_ranks(3, rank, sparse=mode)
    want = sum(w * g.to_dense() for w, g in zip(weights, SPARSE) if g is not None) / 4.0
    for grad, plan, calls in results:
        assert isinstance(grad, mg.SparseRows)
        np.testing.assert_allclose(grad.to_dense(), want, rtol=1e-6)
        assert sorted(set(grad.indices.tolist())) == [0, 1, 3, 7]   # lazy updates: these rows
        assert plan == ("gather" if mode == "auto" else mode)       # 6 rows of 12: gather
        assert calls == (["allreduce"] if plan == "densify" else ["allgatherv", "allgatherv"])


def test_sparse_on_one_rank_and_dense_on_another_gives_dense():
    g_dense = dense((V, D), seed=5)

    def rank(comm):
        E = with_grad(np.zeros((V, D), np.float32), SPARSE[0] if comm.rank == 0 else g_dense)
        comm.mean_grads([E])
        return E.grad

    for grad in run_ranks(2, rank):
        assert isinstance(grad, mg.Variable)
        np.testing.assert_allclose(grad.data, (SPARSE[0].to_dense() + g_dense) / 2, rtol=1e-6)


@pytest.mark.parametrize("shape, dtype, last_gathered", [
    # rows x (D x itemsize + an 8-byte id) < 0.7 x V x (D + 1) x itemsize
    ((10_000, 100), np.float32, 6931),      # 408 bytes a row against 4.04 MB: 0.69 V
    ((10_000, 4), np.float32, 5833),        # the id weighs more on a narrow table
    ((10_000, 4), np.float64, 6999),
])
def test_choose_sparse_by_bytes_against_the_dense_table(shape, dtype, last_gathered):
    assert dist.GATHER_LIMIT == 0.7
    assert dist.choose_sparse(0, shape, dtype) == "gather"
    assert dist.choose_sparse(last_gathered, shape, dtype) == "gather"
    assert dist.choose_sparse(last_gathered + 1, shape, dtype) == "densify"


def test_a_sparse_mode_that_does_not_exist_is_refused():
    with pytest.raises(ValueError, match="sparse must be one of"):
        dist.Communicator(ThreadLess(), sparse="rows")


class ThreadLess:
    name, rank, size = "none", 0, 1


# ---------------------------------------------------------------- the optimizer wrapper
class Tiny(Layer):
    def __init__(self, extra=False, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.W = Parameter(rng.standard_normal((3, 2)).astype(np.float32))
        self.b = Parameter(rng.standard_normal(2).astype(np.float32))
        if extra:
            self.c = Parameter(np.zeros(2, np.float32))


def test_rank_with_other_parameters_is_a_clear_error_on_every_rank():
    def rank(comm):
        try:
            dist.DistributedOptimizer(SGD(Tiny(extra=comm.rank == 1), lr=0.1), comm)
        except dist.DistributedError as exc:
            return str(exc)

    messages = run_ranks(2, rank)
    assert messages[0] == messages[1]
    assert "rank 1 has 3 parameters, rank 0 has 2" in messages[0]
    assert "'c' (2,) float32" in messages[0]


def test_parameters_and_optimizer_state_come_from_rank_0():
    def rank(comm):
        model = Tiny(seed=comm.rank)
        opt = Adam(model, lr=0.1)
        if comm.rank == 0:                   # rank 0 has trained (a resumed run)
            for _ in range(3):
                for p in model.params():
                    p.grad = mg.Variable(np.ones_like(p.data), requires_grad=False)
                opt.update()
        wrapped = dist.DistributedOptimizer(opt, comm)
        return ([p.data.copy() for p in model.params()], wrapped.steps,
                opt.state_of(model.W)["m"].copy())

    (p0, s0, m0), (p1, s1, m1) = run_ranks(2, rank)
    assert all(np.array_equal(a, b) for a, b in zip(p0, p1))
    assert s0 == s1 == 3 and np.array_equal(m0, m1) and m0.any()


def test_clipping_acts_on_the_averaged_gradient():
    # Each rank's gradient has norm 4; their mean [2, 2] has norm 2.83: clipped to 1.
    grads = [np.array([4.0, 0.0], np.float32), np.array([0.0, 4.0], np.float32)]

    def rank(comm):
        p = Parameter(np.zeros(2, np.float32))
        opt = dist.DistributedOptimizer(SGD([p], lr=1.0), comm)
        opt.add_hook(ClipGradNorm(1.0))           # reaches the wrapped optimizer
        p.grad = mg.Variable(grads[comm.rank], requires_grad=False)
        opt.update()
        return p.data

    for data in run_ranks(2, rank):
        np.testing.assert_allclose(data, -np.array([1, 1]) / np.sqrt(2), rtol=1e-5)


def test_wrapper_reads_and_writes_the_optimizer_attributes():
    def rank(comm):
        opt = SGD(Tiny(), lr=0.5)
        wrapped = dist.DistributedOptimizer(opt, comm)
        wrapped.lr /= 4
        return opt.lr, wrapped.lr, repr(wrapped)

    for lr, wrapped_lr, text in run_ranks(2, rank):
        assert lr == wrapped_lr == 0.125 and text.startswith("DistributedOptimizer(SGD")
    with pytest.raises(TypeError, match="wraps a minigrad Optimizer"):
        dist.DistributedOptimizer(object(), None)


def test_check_in_sync_finds_a_rank_that_drifted():
    def rank(comm):
        model = Tiny()
        opt = dist.DistributedOptimizer(SGD(model, lr=0.1), comm)
        opt.check_in_sync()
        if comm.rank == 1:
            model.b.data[0] += 1e-7
        try:
            opt.check_in_sync()
        except dist.DistributedError as exc:
            return str(exc)

    assert all("ranks [1]" in m for m in run_ranks(2, rank))


# ---------------------------------------------------------------- data
def test_shard_needs_an_even_split():
    assert [dist.shard(6, r, 3) for r in range(3)] == [slice(0, 2), slice(2, 4), slice(4, 6)]
    with pytest.raises(ValueError, match="multiple of 4"):
        dist.shard(10, 0, 4)


def test_sharded_shuffles_ranks_together_see_the_one_process_batches():
    x, t = np.arange(103), np.arange(103) * 10
    whole = ShuffledBatches(x, t, batch_size=12, rng=5)
    parts = [dist.ShardedBatches(ShuffledBatches(x, t, batch_size=12, rng=5), r, 3)
             for r in range(3)]
    assert len(whole) == len(parts[0]) == 8 and parts[0].batch_size == 12
    for _ in range(2 * len(whole)):                  # two epochs, two orders
        full = whole.next_batch()
        pieces = [p.next_batch() for p in parts]
        for k in range(2):
            assert np.array_equal(full[k], np.concatenate([piece[k] for piece in pieces]))
    with pytest.raises(ValueError, match="shared seed"):
        dist.ShardedBatches(ShuffledBatches(x, t, batch_size=12), 0, 2)


def test_sharded_batcher_rows_are_the_one_process_rows():
    corpus = np.arange(200)
    full = TBPTTBatcher(corpus, batch_size=4, time_size=5)
    parts = [dist.ShardedBatches(TBPTTBatcher(corpus, 4, 5), rank=r, size=2) for r in range(2)]
    assert len(parts[0]) == len(full)
    for _ in range(len(full) + 2):                  # into the next epoch too
        xs, ts = full.next_batch()
        pieces = [p.next_batch() for p in parts]
        assert np.array_equal(xs, np.concatenate([x for x, _ in pieces]))
        assert np.array_equal(ts, np.concatenate([t for _, t in pieces]))
    # rank 0's saved position resumes rank 1
    resumed = dist.ShardedBatches(TBPTTBatcher(corpus, 4, 5), rank=1, size=2)
    resumed.load_state_dict(parts[0].state_dict())
    assert resumed.digest() == full.digest()
    assert np.array_equal(resumed.next_batch()[0], parts[1].next_batch()[0])


def test_each_rank_draws_its_own_dropout_masks():
    seeds = [dist.rank_seed(3, r) for r in range(4)]
    assert seeds[0] == 3 and len(set(seeds)) == 4
    masks = []
    for r in range(2):
        assert dist.seed(3, r) == seeds[r]
        masks.append(mg.functions.dropout(mg.Variable(np.ones(1000)), 0.5).data)
    assert not np.array_equal(masks[0], masks[1])


def test_loss_sums_weighted_by_counts():
    # rank 0: mean 2.0 over 3 kept targets; rank 1: mean 5.0 over 1 (3 ignored)
    targets = [np.array([1, 2, 3, -1]), np.array([-1, 4, -1, -1])]
    losses = [2.0, 5.0]

    def rank(comm):
        s = dist.LossSum()
        s.add_targets(losses[comm.rank], targets[comm.rank], ignore_index=-1)
        return s.mean(comm)

    assert run_ranks(2, rank) == [pytest.approx(11.0 / 4)] * 2


def test_sum_over_ranks_is_the_same_everywhere():
    out = run_ranks(3, lambda comm: comm.sum([0.1 * (comm.rank + 1), 1]))
    assert all(np.array_equal(o, out[0]) for o in out)
    np.testing.assert_allclose(out[0], [0.6, 3])


# ---------------------------------------------------------------- on each backend, through MPI
@pytest.mark.parametrize("shard", [False, True], ids=["whole", "sharded"])
@pytest.mark.parametrize("sparse", ["gather", "densify"])
def test_steps_through_mpi_host_copies_on_each_backend(xp, sparse, shard):
    """Parameters on the device: MpiTransport hands MPI host copies (MPI without
    CUDA support reads host memory only) and writes the results back on the
    device. Rank 0's parameters and Adam state are broadcast, then dense and
    sparse gradients averaged and applied, whole or sharded: the same values
    as on the CPU."""
    weights = [2.0, 1.0, 1.0]

    def step(on, transport):
        def rank(comm):
            model = Tiny(seed=comm.rank)
            model.E = Parameter(dense((V, D), seed=comm.rank))
            if on is not np:
                model.to_gpu()
            opt = dist.DistributedOptimizer(Adam(model, lr=0.1), comm, shard=shard)
            g = SPARSE[comm.rank]
            for _ in range(2):
                model.W.grad = mg.Variable(mg.to_gpu(dense((3, 2), seed=10 + comm.rank))
                                           if on is not np else dense((3, 2), seed=10 + comm.rank),
                                           requires_grad=False)
                model.E.grad = None if g is None else mg.SparseRows(
                    *(mg.to_gpu(a) if on is not np else a for a in (g.indices, g.rows)), g.shape)
                opt.update(weight=weights[comm.rank])
            assert all(mg.get_array_module(p) is on for p in model.params())
            return {name: mg.to_cpu(p.data) for name, p in model.named_params()}

        return run_ranks(3, rank, sparse=sparse, transport=transport)

    expected = step(np, "threads")
    for got in step(xp, "mpi"):
        for name, want in expected[0].items():
            np.testing.assert_allclose(got[name], want, rtol=1e-6, err_msg=name)


# ---------------------------------------------------------------- NCCL, host side
class FakeNccl:
    NCCL_FLOAT32, NCCL_FLOAT64, NCCL_INT64, NCCL_SUM = 7, 8, 4, 0
    NCCL_FLOAT16 = NCCL_INT32 = NCCL_UINT8 = 1

    def __init__(self):
        self.made = []

    def get_unique_id(self):
        return b"rank-0-id"

    def NcclCommunicator(self, size, uid, rank):  # noqa: N802 - cupy's name
        self.made.append((size, uid, rank))
        return "communicator"


class FakeMpi:
    rank, size = 1, 2

    def local_rank(self):
        return 3

    def broadcast_object(self, obj, root=0):
        assert obj is None and root == 0          # rank 1 sends nothing
        return b"rank-0-id"


class FakeCupy:
    class cuda:  # noqa: N801 - cupy's layout
        used = []

        class runtime:  # noqa: N801
            @staticmethod
            def getDeviceCount():  # noqa: N802
                return 2

        class Device:
            def __init__(self, d):
                self.d = d

            def use(self):
                FakeCupy.cuda.used.append(self.d)


def test_nccl_unique_id_comes_from_rank_0_and_each_rank_takes_its_local_gpu():
    fake = FakeNccl()
    t = nccl_mod.NcclTransport(FakeMpi(), nccl=fake, cupy=FakeCupy)
    assert fake.made == [(2, b"rank-0-id", 1)]
    assert t.device == 1 and FakeCupy.cuda.used == [1]            # local rank 3 of 2 GPUs
    with pytest.raises(dist.DistributedError, match="must be on the GPU"):
        t.allreduce_sum(np.zeros(3, np.float32))


def test_nccl_types_and_padding():
    assert nccl_mod.nccl_type(FakeNccl, np.float32) == 7
    with pytest.raises(dist.DistributedError, match="dtype complex64"):
        nccl_mod.nccl_type(FakeNccl, np.complex64)
    counts = [2, 0, 3]
    padded = nccl_mod.pad_counts(counts)
    gathered = np.array([1, 2, 0, 9, 9, 9, 3, 4, 5])
    assert padded == 3
    assert nccl_mod.unpad(gathered, counts, padded).tolist() == [1, 2, 3, 4, 5]


def test_nccl_without_a_gpu_is_a_clear_error():
    if mg.gpu_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(dist.DistributedError, match="needs cupy with NCCL"):
        nccl_mod.NcclTransport(FakeMpi())


@pytest.mark.gpu
def test_nccl_transport_on_one_gpu():
    """One rank on one GPU: NCCL's collectives are the identity, and a step
    through the wrapper is the plain step."""
    if nccl_mod.nccl_module() is None:
        pytest.skip("needs cupy with NCCL and a CUDA GPU")
    import cupy as cp

    comm = dist.create_communicator("nccl")
    t = comm.transport
    x = cp.arange(5, dtype=cp.float32)
    assert bool((t.allreduce_sum(x.copy()) == x).all())
    assert bool((t.broadcast(x.copy()) == x).all())
    assert bool((t.allgatherv(x, [5]) == x).all())
    plain, wrapped = Tiny().to_gpu(), Tiny().to_gpu()
    opt = dist.DistributedOptimizer(SGD(wrapped, lr=0.1), comm)
    plain_opt = SGD(plain, lr=0.1)
    for model, o in ((plain, plain_opt), (wrapped, opt)):
        for p in model.params():
            p.grad = mg.Variable(cp.ones_like(p.data), requires_grad=False)
        o.update()
    for a, b in zip(plain.params(), wrapped.params()):
        assert bool((a.data == b.data).all())


# ---------------------------------------------------------------- the sharded optimizer
SHARDED_RULES = {
    "SGD": lambda ps: SGD(ps, lr=0.1),
    "Momentum": lambda ps: O.Momentum(ps, lr=0.1),
    "Nesterov": lambda ps: O.Nesterov(ps, lr=0.1),
    "AdaGrad": lambda ps: O.AdaGrad(ps, lr=0.1),
    "RMSprop": lambda ps: O.RMSprop(ps, lr=0.01),
    "Adam": lambda ps: Adam(ps, lr=0.01),
    "lazy Adam": lambda ps: Adam(ps, lr=0.01, lazy=True),
    "lazy Momentum": lambda ps: O.Momentum(ps, lr=0.1, lazy=True),
}


class Mixed(Layer):
    """Several blocks of the clipping norm per parameter, a sparse table, a
    0-d parameter and a float64 one: every way a shard can be cut."""

    def __init__(self):
        super().__init__()
        self.W = Parameter(dense((300, 70), seed=1))
        self.b = Parameter(dense(70, seed=2))
        self.E = Parameter(dense((600, 40), seed=3))
        self.s = Parameter(np.array(0.5, np.float32))
        self.d = Parameter(dense((40, 3), np.float64, seed=4))


def mixed_grads(model, rank, step):
    rng = np.random.default_rng(1000 * step + rank)
    for name, p in model.named_params():
        if name == "E":
            ids = rng.integers(0, 600, 50)          # repeats, on several blocks
            p.grad = mg.SparseRows(ids, rng.standard_normal((50, 40)).astype(np.float32),
                                   (600, 40))
        else:
            g = rng.standard_normal(p.shape) * 3
            p.grad = mg.Variable(np.asarray(g, dtype=p.dtype), requires_grad=False)


def train_mixed(comm, rule, shard, steps=4, hooks=()):
    model = Mixed()
    opt = dist.DistributedOptimizer(SHARDED_RULES[rule](model), comm, shard=shard)
    for hook in hooks:
        opt.add_hook(hook())
    norms = []
    for step in range(steps):
        mixed_grads(model, comm.rank, step)
        opt.update()
        norms += [h.last_norm for h in opt.hooks if isinstance(h, ClipGradNorm)]
    return {n: p.data.copy() for n, p in model.named_params()}, opt.steps, norms


@pytest.mark.parametrize("rule", list(SHARDED_RULES))
@pytest.mark.parametrize("hooks", [(lambda: ClipGradNorm(1.0),),
                                   (lambda: O.WeightDecay(0.1), lambda: ClipGradNorm(2.0))],
                         ids=["clip", "decay and clip"])
def test_a_sharded_update_is_the_unsharded_update_bit_for_bit(rule, hooks):
    for size, transport in ((2, "threads"), (3, "mpi")):
        whole = run_ranks(size, lambda comm: train_mixed(comm, rule, False, hooks=hooks),
                          transport=transport)
        sharded = run_ranks(size, lambda comm: train_mixed(comm, rule, True, hooks=hooks),
                            transport=transport)
        for (want, steps, norms), (got, got_steps, got_norms) in zip(whole, sharded):
            assert got_steps == steps and got_norms == norms
            assert norms[0] > 2.0                         # it clips
            for name in want:
                assert np.array_equal(got[name], want[name]), (rule, size, name)


def test_sharded_optimizer_state_is_split_over_the_ranks():
    from minigrad.optimizers.hooks import NORM_BLOCK

    def rank(comm):
        model = Layer()
        model.W, model.b = Parameter(dense((3000, 100))), Parameter(dense(100))
        opt = dist.DistributedOptimizer(Adam(model, lr=0.01), comm, shard=True)
        for p in model.params():
            p.grad = mg.Variable(dense(p.shape, seed=comm.rank), requires_grad=False)
        opt.update()
        held = sum(a.size for s in opt._shards().owned[comm.rank]
                   for a in (opt.optimizer.held_state(s) or {}).values())
        assert all(opt.optimizer.held_state(p) is None for p in model.params())
        return held, [p.grad for p in model.params()]

    total = 2 * (3000 * 100 + 100)                        # Adam: m and v
    for size in (2, 3):
        results = run_ranks(size, rank)
        held = [h for h, _ in results]
        assert sum(held) == total
        # 1/N each, give or take the one block of rows where the shards are cut
        assert all(abs(h - total / size) <= 2 * NORM_BLOCK for h in held), held
        assert all(g is None for _, grads in results for g in grads)


def test_sharded_state_dict_is_the_unsharded_one_and_loads_on_other_rank_counts():
    def states(comm, shard):
        model = Mixed()
        opt = dist.DistributedOptimizer(Adam(model, lr=0.01), comm, shard=shard)
        for step in range(2):
            mixed_grads(model, comm.rank, step)
            opt.update()
        return opt.state_dict(), {n: p.data.copy() for n, p in model.named_params()}

    (want, params), _ = run_ranks(2, lambda comm: states(comm, False))
    got = run_ranks(2, lambda comm: states(comm, True))
    for state, _ in got:
        assert state.keys() == want.keys()
        for key, value in want.items():
            assert np.array_equal(np.asarray(state[key]), np.asarray(value)), key

    def resumed(comm):
        model = Mixed()
        for name, p in model.named_params():
            p.data[...] = params[name]
        opt = dist.DistributedOptimizer(Adam(model, lr=0.01), comm, shard=True)
        opt.load_state_dict(want)
        mixed_grads(model, 0, 5)
        opt.update()
        return {n: p.data.copy() for n, p in model.named_params()}, opt.state_dict()["steps"]

    one = run_ranks(1, resumed)[0]
    for got_params, steps in run_ranks(3, resumed):
        assert steps == 3
        for name in got_params:
            np.testing.assert_allclose(got_params[name], one[0][name], rtol=1e-6)


def test_a_hook_that_is_not_elementwise_is_refused_when_sharded():
    def rank(comm):
        model = Tiny()
        opt = dist.DistributedOptimizer(SGD(model, lr=0.1), comm, shard=True)
        opt.add_hook(lambda params: None)
        for p in model.params():
            p.grad = mg.Variable(np.ones_like(p.data), requires_grad=False)
        try:
            opt.update()
        except dist.DistributedError as exc:
            return str(exc)

    assert all("elementwise = True" in m and "shard=False" in m for m in run_ranks(2, rank))


@pytest.mark.parametrize("chunk_bytes", [1 << 24, 64], ids=["one call", "rounds of 64 bytes"])
def test_mpi_reduce_scatter_gives_each_rank_its_part_of_the_sum(monkeypatch, chunk_bytes):
    from minigrad.distributed import transport

    monkeypatch.setattr(transport, "ALLREDUCE_CHUNK_BYTES", chunk_bytes)
    counts = [37, 0, 50]
    data = [dense(sum(counts), seed=r) for r in range(3)]

    def rank(comm):
        return comm.transport.reduce_scatter(data[comm.rank].copy(), counts).copy()

    total = data[0] + data[1] + data[2]
    for r, part in enumerate(run_ranks(3, rank, transport="mpi")):
        start = sum(counts[:r])
        np.testing.assert_array_equal(part, total[start:start + counts[r]])
