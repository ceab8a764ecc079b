"""minigrad.data: PTB loading (from the copy in ../shared/data/ptb, never the
network), text helpers, truncated-BPTT batching, the addition task and the
shipped small corpus."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from minigrad.data import (ChecksumError, DatasetNotFoundError, TBPTTBatcher,
                           UnknownWordError, analogy, binary_addition_dataset,
                           create_contexts_target, load_ptb, load_small_corpus,
                           most_similar, preprocess)
from minigrad.data import ptb
from minigrad.errors import MinigradError

REPO_ROOT = Path(__file__).resolve().parents[1]
PTB_DIR = REPO_ROOT.parent / "shared" / "data" / "ptb"
needs_ptb = pytest.mark.skipif(not (PTB_DIR / "ptb.train.txt").is_file(),
                               reason=f"PTB corpus not found at {PTB_DIR}")
NAMES = ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")
REAL_DOWNLOAD = ptb._download  # before the autouse fixture replaces it


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any download a test did not arrange fails loudly instead of going online."""
    def forbidden(url, dest):
        raise AssertionError(f"test tried to download {url}")
    monkeypatch.setattr(ptb, "_download", forbidden)
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/nonexistent-minigrad-test-cache")


def copy_ptb(dest: Path, names=NAMES) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(PTB_DIR / name, dest / name)  # a copy: tests may truncate it
    return dest


def book_words(path: Path):
    return path.read_text().replace("\n", " <eos> ").split()


# ------------------------------------------------------------------ PTB
@needs_ptb
def test_md5_constants_match_the_shipped_md5sums():
    listed = dict(reversed(line.split()) for line in
                  (PTB_DIR / "MD5SUMS").read_text().splitlines() if line.strip())
    assert listed == ptb.MD5


@pytest.fixture(scope="module")
def ptb_splits():
    if not (PTB_DIR / "ptb.train.txt").is_file():
        pytest.skip(f"PTB corpus not found at {PTB_DIR}")
    return {s: load_ptb(s, data_dir=PTB_DIR, download=False) for s in ptb.SPLITS}


def test_ptb_token_counts_and_vocabulary(ptb_splits):
    counts = {s: len(c) for s, (c, _, _) in ptb_splits.items()}
    assert counts == {"train": 929_589, "valid": 73_760, "test": 82_430}
    train_w2i = ptb_splits["train"][1]
    assert len(train_w2i) == 10_000
    for split, (corpus, w2i, i2w) in ptb_splits.items():
        assert w2i == train_w2i, f"{split} must use train's vocabulary"
        assert corpus.dtype == np.int64
        assert corpus.min() >= 0 and corpus.max() <= 9_999
        assert all(i2w[i] == w for w, i in w2i.items())
    assert ptb_splits["train"][0].max() == 9_999


def test_ptb_ids_are_the_books(ptb_splits):
    corpus, w2i, i2w = ptb_splits["train"]
    first_line = (PTB_DIR / "ptb.train.txt").open().readline().split()
    assert first_line[:3] == ["aer", "banknote", "berlitz"]
    for i, word in enumerate(first_line):
        assert w2i[word] == i
    assert w2i["<eos>"] == len(first_line) == 24  # the first line end
    assert w2i["pierre"] == 25
    assert corpus[:26].tolist() == list(range(26))


@pytest.mark.parametrize("split", ["valid", "test"])
def test_ptb_valid_test_decode_back_to_the_file(ptb_splits, split):
    corpus, _, i2w = ptb_splits[split]
    assert [i2w[int(i)] for i in corpus] == book_words(PTB_DIR / f"ptb.{split}.txt")


def test_ptb_train_read_once_and_results_are_copies(tmp_path, monkeypatch):
    if not PTB_DIR.is_dir():
        pytest.skip(f"PTB corpus not found at {PTB_DIR}")
    d = copy_ptb(tmp_path / "ptb")
    reads = []
    real = ptb._read_words
    monkeypatch.setattr(ptb, "_read_words", lambda p: reads.append(Path(p).name) or real(p))
    train, w2i, _ = load_ptb("train", d)
    load_ptb("valid", d)
    load_ptb("test", d)
    assert reads == ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"]
    train[:] = -1
    w2i.clear()
    again, w2i_again, _ = load_ptb("train", d)
    assert again[0] == 0 and len(w2i_again) == 10_000
    assert reads == ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"]


def test_unknown_split():
    with pytest.raises(ValueError, match="train, valid, test"):
        load_ptb("dev")


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ptb.resolve_data_dir() == tmp_path / "xdg" / "minigrad" / "ptb"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert ptb.resolve_data_dir() == Path.home() / ".cache" / "minigrad" / "ptb"
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "env"))
    assert ptb.resolve_data_dir() == tmp_path / "env"
    assert ptb.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"


@needs_ptb
def test_env_var_and_argument_are_used_by_load_ptb(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("MINIGRAD_DATA", str(PTB_DIR))
    assert len(load_ptb("valid", download=False)[0]) == 73_760
    # the argument beats the environment: an empty directory is an error
    with pytest.raises(DatasetNotFoundError, match=str(empty)):
        load_ptb("valid", data_dir=empty, download=False)
    monkeypatch.setenv("MINIGRAD_DATA", str(empty))
    with pytest.raises(DatasetNotFoundError, match=str(empty)):
        load_ptb("valid", download=False)
    assert len(load_ptb("valid", data_dir=PTB_DIR, download=False)[0]) == 73_760


@needs_ptb
def test_corrupt_file_raises_and_is_left_in_place(tmp_path):
    d = copy_ptb(tmp_path / "ptb")
    bad = d / "ptb.valid.txt"
    with open(bad, "r+b") as f:
        f.truncate(1000)
    found = hashlib.md5(bad.read_bytes()).hexdigest()
    with pytest.raises(ChecksumError) as err:
        load_ptb("valid", d)
    msg = str(err.value)
    for part in ("ptb.valid.txt", ptb.MD5["ptb.valid.txt"], found, "Delete", str(bad)):
        assert part in msg
    assert bad.stat().st_size == 1000, "a user's file must not be deleted silently"
    assert len(load_ptb("train", d)[0]) == 929_589  # train alone is still fine


@needs_ptb
def test_corrupt_download_leaves_no_file(tmp_path, monkeypatch):
    d = copy_ptb(tmp_path / "ptb", names=("ptb.train.txt",))
    calls = []

    def corrupt(url, dest):
        calls.append(url)
        Path(dest).write_bytes(b"not the penn treebank\n")
    monkeypatch.setattr(ptb, "_download", corrupt)
    with pytest.raises(ChecksumError, match="ptb.valid.txt") as err:
        load_ptb("valid", d)
    assert calls == [ptb.BASE_URL + "ptb.valid.txt"]
    assert ptb.MD5["ptb.valid.txt"] in str(err.value)
    assert sorted(p.name for p in d.iterdir()) == ["ptb.train.txt"]  # no partial file


@needs_ptb
def test_good_download_is_verified_and_installed(tmp_path, monkeypatch):
    d = tmp_path / "fresh" / "ptb"
    monkeypatch.setattr(ptb, "_download", lambda url, dest: shutil.copyfile(
        PTB_DIR / url.rsplit("/", 1)[1], dest))
    corpus, w2i, _ = load_ptb("test", d)
    assert len(corpus) == 82_430 and len(w2i) == 10_000
    assert sorted(p.name for p in d.iterdir()) == ["ptb.test.txt", "ptb.train.txt"]


@needs_ptb
def test_real_downloader_over_a_file_url(tmp_path, monkeypatch):
    """The urllib code path itself, pointed at the local copy: no network."""
    monkeypatch.setattr(ptb, "_download", REAL_DOWNLOAD)
    monkeypatch.setattr(ptb, "BASE_URL", PTB_DIR.as_uri() + "/")
    d = tmp_path / "cache"
    assert len(load_ptb("valid", d)[0]) == 73_760
    assert sorted(p.name for p in d.iterdir()) == ["ptb.train.txt", "ptb.valid.txt"]
    assert ptb.md5sum(d / "ptb.train.txt") == ptb.MD5["ptb.train.txt"]


def test_offline_error_lists_files_and_directory(tmp_path, monkeypatch):
    d = tmp_path / "nowhere"

    def offline(url, dest):
        raise OSError("network is unreachable")
    monkeypatch.setattr(ptb, "_download", offline)
    with pytest.raises(DatasetNotFoundError) as err:
        load_ptb("test", d)
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, MinigradError)
    for part in (str(d / "ptb.train.txt"), str(d / "ptb.test.txt"), "MINIGRAD_DATA",
                 "network is unreachable"):
        assert part in msg
    assert "ptb.valid.txt" not in msg.split("\n")[1]  # only what is needed is listed
    assert not any(d.iterdir())

    with pytest.raises(DatasetNotFoundError, match="download=False") as err:
        load_ptb("train", tmp_path / "other", download=False)
    assert str(tmp_path / "other" / "ptb.train.txt") in str(err.value)


# ------------------------------------------------------------------ text
def test_preprocess_like_the_book():
    corpus, w2i, i2w = preprocess("You say goodbye and I say hello.")
    assert corpus.tolist() == [0, 1, 2, 3, 4, 1, 5, 6]
    assert w2i == {"you": 0, "say": 1, "goodbye": 2, "and": 3, "i": 4, "hello": 5, ".": 6}
    assert i2w == {i: w for w, i in w2i.items()}


def test_create_contexts_target_hand_computed():
    corpus = np.array([0, 1, 2, 3, 4, 1, 5, 6])
    contexts, target = create_contexts_target(corpus, window_size=1)
    np.testing.assert_array_equal(contexts, [[0, 2], [1, 3], [2, 4], [3, 1], [4, 5], [1, 6]])
    np.testing.assert_array_equal(target, [1, 2, 3, 4, 1, 5])
    contexts, target = create_contexts_target(corpus, window_size=2)
    np.testing.assert_array_equal(contexts, [[0, 1, 3, 4], [1, 2, 4, 1], [2, 3, 1, 5],
                                             [3, 4, 5, 6]])
    np.testing.assert_array_equal(target, [2, 3, 4, 1])
    contexts, target = create_contexts_target(corpus[:2], window_size=1)
    assert contexts.shape == (0, 2) and target.shape == (0,)
    with pytest.raises(ValueError, match="window_size"):
        create_contexts_target(corpus, window_size=0)


def tiny_vectors():
    words = ["cat", "dog", "car", "king", "man", "queen", "woman"]
    w2i = {w: i for i, w in enumerate(words)}
    i2w = dict(enumerate(words))
    vecs = np.array([[1.0, 0.0, 0.0, 0.0],     # cat
                     [0.8, 0.6, 0.0, 0.0],     # dog: cos 0.8 with cat
                     [0.0, 1.0, 0.0, 0.0],     # car: cos 0 with cat
                     [0.0, 0.0, 1.0, 1.0],     # king = royal + male
                     [0.0, 0.0, 0.0, 1.0],     # man = male
                     [0.0, 0.0, 1.0, -1.0],    # queen = royal + female
                     [0.0, 0.0, 0.0, -1.0]])   # woman = female
    return w2i, i2w, vecs


def test_most_similar_ranks_by_cosine_and_leaves_query_out():
    w2i, i2w, vecs = tiny_vectors()
    result = most_similar("cat", w2i, i2w, vecs, top=3)
    assert [w for w, _ in result] == ["dog", "car", "king"]
    assert result[0][1] == pytest.approx(0.8) and result[1][1] == pytest.approx(0.0)
    assert len(most_similar("cat", w2i, i2w, vecs, top=100)) == 6
    zero = np.vstack([vecs, np.zeros(4)])
    w2i2, i2w2 = dict(w2i, zero=7), {**i2w, 7: "zero"}
    assert all(np.isfinite(c) for _, c in most_similar("zero", w2i2, i2w2, zero))


def test_analogy():
    w2i, i2w, vecs = tiny_vectors()
    (word, cos), *_ = analogy("king", "man", "queen", w2i, i2w, vecs)
    assert word == "woman" and cos == pytest.approx(1.0)
    assert not {"king", "man", "queen"} & {w for w, _ in analogy("king", "man", "queen",
                                                                   w2i, i2w, vecs, top=10)}


def test_unknown_word_error():
    w2i, i2w, vecs = tiny_vectors()
    with pytest.raises(KeyError) as err:
        most_similar("foo", w2i, i2w, vecs)
    assert isinstance(err.value, UnknownWordError)
    assert str(err.value) == "word 'foo' is not in the vocabulary"
    with pytest.raises(UnknownWordError, match="'bar'"):
        analogy("king", "bar", "queen", w2i, i2w, vecs)


# ------------------------------------------------------------------ batching
def book_batches(corpus, batch_size, time_size, n_batches):
    """RnnlmTrainer.get_batch from the book, loops and all."""
    xs, ts = corpus[:-1], corpus[1:]
    data_size = len(xs)
    jump = data_size // batch_size
    offsets = [i * jump for i in range(batch_size)]
    time_idx = 0
    out = []
    for _ in range(n_batches):
        bx = np.empty((batch_size, time_size), dtype=corpus.dtype)
        bt = np.empty((batch_size, time_size), dtype=corpus.dtype)
        for t in range(time_size):
            for i, offset in enumerate(offsets):
                bx[i, t] = xs[(offset + time_idx) % data_size]
                bt[i, t] = ts[(offset + time_idx) % data_size]
            time_idx += 1
        out.append((bx, bt))
    return out


def test_tbptt_rows_are_continuous_streams_from_their_offsets():
    corpus = np.arange(1000) * 7  # distinct ids, so positions can be read back
    b = TBPTTBatcher(corpus, batch_size=4, time_size=5)
    assert len(b) == 999 // 20
    batches = list(b)
    assert len(batches) == len(b) and b.epoch == 1
    xs = np.concatenate([x for x, _ in batches], axis=1)
    ts = np.concatenate([t for _, t in batches], axis=1)
    assert xs.shape == (4, len(b) * 5)
    for i in range(4):
        start = i * (999 // 4)
        np.testing.assert_array_equal(xs[i], corpus[start:start + xs.shape[1]])
        np.testing.assert_array_equal(ts[i], corpus[start + 1:start + 1 + xs.shape[1]])


@given(length=st.integers(2, 60), batch_size=st.integers(1, 5), time_size=st.integers(1, 5),
       epochs=st.integers(1, 3))
def test_tbptt_equals_the_books_get_batch(length, batch_size, time_size, epochs):
    corpus = np.arange(length) * 3 + 1
    if length < batch_size * time_size + 1:
        with pytest.raises(ValueError, match=f"{batch_size * time_size + 1} words"):
            TBPTTBatcher(corpus, batch_size, time_size)
        return
    b = TBPTTBatcher(corpus, batch_size, time_size)
    ours = [batch for _ in range(epochs) for batch in b]  # later epochs wrap round
    book = book_batches(corpus, batch_size, time_size, len(ours))
    assert len(ours) == epochs * ((length - 1) // (batch_size * time_size))
    for (x, t), (bx, bt) in zip(ours, book):
        np.testing.assert_array_equal(x, bx)
        np.testing.assert_array_equal(t, bt)


def test_tbptt_resume_equals_uninterrupted():
    corpus = np.random.default_rng(0).integers(0, 50, size=503)
    full = TBPTTBatcher(corpus, 3, 7)
    expected = [batch for _ in range(2) for batch in full]  # two epochs
    first = TBPTTBatcher(corpus, 3, 7)
    got = []
    for k, batch in enumerate(first):
        got.append(batch)
        if k == 9:
            break
    state = first.state_dict()
    resumed = TBPTTBatcher(corpus, 3, 7)
    resumed.load_state_dict(state)
    assert resumed.position == 70 and resumed.iteration == 10
    got += list(resumed)  # the rest of epoch 0 only
    assert len(got) == len(resumed)
    got += list(resumed)  # epoch 1
    assert len(got) == len(expected)
    for (x, t), (ex, et) in zip(got, expected):
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(t, et)


def test_tbptt_state_from_another_setup_is_refused():
    state = TBPTTBatcher(np.arange(100), 3, 7).state_dict()
    with pytest.raises(ValueError, match="time_size=7"):
        TBPTTBatcher(np.arange(100), 3, 5).load_state_dict(state)
    with pytest.raises(ValueError, match="multiple of time_size"):
        TBPTTBatcher(np.arange(100), 3, 7).load_state_dict({"position": 3})


def test_tbptt_too_short_or_empty_corpus():
    with pytest.raises(ValueError) as err:
        TBPTTBatcher(np.arange(20), batch_size=4, time_size=5)
    msg = str(err.value)
    for part in ("20 words", "batch_size=4", "time_size=5", "21"):
        assert part in msg
    with pytest.raises(ValueError, match="empty"):
        TBPTTBatcher(np.array([], dtype=np.int64), 1, 1)
    assert len(TBPTTBatcher(np.arange(21), 4, 5)) == 1
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        TBPTTBatcher(np.arange(21), 0, 5)


@needs_ptb
def test_tbptt_on_ptb_has_the_books_iteration_count(ptb_splits):
    assert len(TBPTTBatcher(ptb_splits["train"][0], 20, 35)) == 1327


# ------------------------------------------------------------------ addition
def test_binary_addition_dataset_all_sums():
    x, t = binary_addition_dataset(bits=8)
    assert x.shape == (128 * 128, 8, 2) and t.shape == (128 * 128, 8)
    assert x.dtype == np.float32 and set(np.unique(x)) == {0.0, 1.0}
    weights = 2 ** np.arange(8)  # least significant bit first
    a = (x[:, :, 0] * weights).sum(axis=1).astype(int)
    b = (x[:, :, 1] * weights).sum(axis=1).astype(int)
    s = (t * weights).sum(axis=1)
    assert sorted(zip(a, b)) == [(i, j) for i in range(128) for j in range(128)]
    np.testing.assert_array_equal(s, a + b)
    k = 5 * 128 + 3  # a = 5, b = 3: row order is a-major
    assert x[k, :, 0].tolist() == [1, 0, 1, 0, 0, 0, 0, 0]
    assert t[k].tolist() == [0, 0, 0, 1, 0, 0, 0, 0]


# ------------------------------------------------------------------ small corpus
def test_small_corpus_is_deterministic_and_non_trivial():
    corpus, w2i, i2w = load_small_corpus()
    corpus2, w2i2, _ = load_small_corpus()
    np.testing.assert_array_equal(corpus, corpus2)
    assert w2i == w2i2
    assert not np.array_equal(load_small_corpus(seed=1)[0][:200], corpus[:200])
    assert 2_000 <= len(corpus) <= 20_000 and 150 <= len(w2i) <= 1_000
    assert corpus.dtype == np.int64 and i2w == {i: w for w, i in w2i.items()}
    # ids by first occurrence, as load_ptb
    first_seen = np.unique(corpus, return_index=True)[1]
    assert (np.diff(first_seen) > 0).all()
    for word in ("king", "queen", "man", "woman", "cat", "dog", "monday", "sunday"):
        assert word in w2i
    counts = np.bincount(corpus, minlength=len(w2i))
    assert counts.min() >= 1 and counts.max() < len(corpus) // 5


def test_small_corpus_relations_are_findable():
    """A count-based model (PPMI + SVD, the book's chapter 2) already finds the
    planted neighbours, so word2vec in the tour has something to learn."""
    corpus, w2i, i2w = load_small_corpus()
    V = len(w2i)
    co = np.zeros((V, V))
    for w in (1, 2):
        np.add.at(co, (corpus[:-w], corpus[w:]), 1)
        np.add.at(co, (corpus[w:], corpus[:-w]), 1)
    total, per_word = co.sum(), co.sum(axis=0)
    ppmi = np.maximum(0, np.log2(co * total / np.outer(per_word, per_word) + 1e-8))
    vecs = np.linalg.svd(ppmi)[0][:, :30]
    groups = {
        "cat": {"dog", "rabbit", "hamster", "kitten", "puppy", "parrot", "goldfish"},
        "monday": {"tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"},
        "king": {"queen", "prince", "princess", "duke", "duchess", "emperor", "empress",
                 "lord", "lady"},
        "red": {"blue", "green", "yellow", "white", "black", "orange", "purple"},
    }
    for query, kin in groups.items():
        top = [w for w, _ in most_similar(query, w2i, i2w, vecs, top=4)]
        assert set(top) <= kin, (query, top)


def test_analogy_scores_like_the_book_by_default():
    # "long" points a little off the query but is 10x longer: the book's raw dot
    # product prefers it; cosine prefers "exact", which points along the query.
    w2i = {"a": 0, "b": 1, "c": 2, "exact": 3, "long": 4}
    i2w = {i: w for w, i in w2i.items()}
    vecs = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 1.0], [3.0, 10.0]])
    book = analogy("a", "b", "c", w2i, i2w, vecs, top=2)
    cosine = analogy("a", "b", "c", w2i, i2w, vecs, top=2, score="cosine")
    assert [w for w, _ in book] == ["long", "exact"]
    assert book[0][1] == pytest.approx(10.0)  # query (0, 1) normalised, dot with (3, 10)
    assert [w for w, _ in cosine] == ["exact", "long"]
    with pytest.raises(ValueError, match="score"):
        analogy("a", "b", "c", w2i, i2w, vecs, score="euclid")


# ---------------------------------------------------------------- batches on a device
def test_batches_of_device_data_stay_on_the_device(xp):
    # The book moves its data set with to_gpu before training: the batches are
    # cut there, with the same rows (and the same digest) as on the CPU.
    import minigrad as mg
    from minigrad.data import ShuffledBatches

    x, t, corpus = np.arange(20.0).reshape(10, 2), np.arange(10), np.arange(40) % 7
    moved = (lambda a: a) if xp is np else mg.to_gpu
    shuffled = [ShuffledBatches(a, b, batch_size=4, rng=0)
                for a, b in ((x, t), (moved(x), moved(t)))]
    streams = [TBPTTBatcher(c, batch_size=2, time_size=3) for c in (corpus, moved(corpus))]
    for cpu, device in (shuffled, streams):
        assert cpu.digest() == device.digest()
        for _ in range(3):
            for want, got in zip(cpu.next_batch(), device.next_batch()):
                assert mg.get_array_module(got) is xp
                np.testing.assert_array_equal(mg.to_cpu(got), want)
