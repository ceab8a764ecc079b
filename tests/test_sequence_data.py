"""minigrad.data.load_sequence: the book's addition and date sets, split as the
book splits them (from the copy in ../shared/data/sequence, never the
network), per-set vocabularies, reversal as a reading option, encoding
questions, and the download / checksum / offline paths."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from minigrad.data import (ChecksumError, DataError, DatasetNotFoundError, QuestionError,
                           load_sequence)
from minigrad.data import sequence
from minigrad.data.sequence import parse_lines
from minigrad.errors import MinigradError

SEQ_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sequence"
needs_data = pytest.mark.skipif(not (SEQ_DIR / "date.txt").is_file(),
                                reason=f"sequence data not found at {SEQ_DIR}")
REAL_DOWNLOAD = sequence._download


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any download a test did not arrange fails loudly instead of going online."""
    def forbidden(url, dest):
        raise AssertionError(f"test tried to download {url}")
    monkeypatch.setattr(sequence, "_download", forbidden)
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/nonexistent-minigrad-test-cache")


def books_split(path, seed=1984):
    """The book's dataset/sequence.py, re-typed: one vocabulary dict filled in
    file order, numpy's global seed and shuffle, the last len // 10 for test."""
    questions, answers = [], []
    for line in open(path):
        idx = line.find("_")
        questions.append(line[:idx])
        answers.append(line[idx:-1])
    char_to_id = {}
    for q, a in zip(questions, answers):
        for ch in list(q) + list(a):
            char_to_id.setdefault(ch, len(char_to_id))
    x = np.array([[char_to_id[c] for c in q] for q in questions])
    t = np.array([[char_to_id[c] for c in a] for a in answers])
    indices = np.arange(len(x))
    saved = np.random.get_state()
    try:
        np.random.seed(seed)
        np.random.shuffle(indices)
    finally:
        np.random.set_state(saved)
    x, t = x[indices], t[indices]
    cut = len(x) - len(x) // 10
    return (x[:cut], t[:cut]), (x[cut:], t[cut:]), char_to_id


@needs_data
def test_md5_constants_match_the_shipped_md5sums():
    listed = dict(reversed(line.split()) for line in
                  (SEQ_DIR / "MD5SUMS").read_text().splitlines() if line.strip())
    assert listed == sequence.MD5


@needs_data
@pytest.mark.parametrize("name, widths, vocab", [("addition", (7, 5), 13), ("date", (29, 11), 59)])
def test_split_and_vocabulary_are_the_books(name, widths, vocab):
    data = load_sequence(name, SEQ_DIR, download=False)
    (x_train, t_train), (x_test, t_test), char_to_id = books_split(SEQ_DIR / f"{name}.txt")
    assert data.x_train.shape == (45_000, widths[0]) and data.t_train.shape == (45_000, widths[1])
    assert data.x_test.shape == (5_000, widths[0]) and data.t_test.shape == (5_000, widths[1])
    for ours, books in ((data.x_train, x_train), (data.t_train, t_train),
                        (data.x_test, x_test), (data.t_test, t_test)):
        np.testing.assert_array_equal(ours, books)
    assert data.char_to_id == char_to_id and data.vocab_size == vocab
    assert list(data.char_to_id.values()) == list(range(vocab))    # numbered by first appearance
    assert data.id_to_char == {i: c for c, i in char_to_id.items()}
    assert (data.t_train[:, 0] == data.start_id).all() and data.id_to_char[data.start_id] == "_"


@needs_data
def test_loading_does_not_touch_numpys_global_generator():
    np.random.seed(7)
    expected = np.random.random(3)
    np.random.seed(7)
    load_sequence("addition", SEQ_DIR, download=False)
    np.testing.assert_array_equal(np.random.random(3), expected)


@needs_data
def test_each_data_set_has_its_own_vocabulary():
    # The book keeps one vocabulary in module globals: loading date after
    # addition would renumber nothing but add date's characters to addition's.
    addition = load_sequence("addition", SEQ_DIR, download=False)
    date = load_sequence("date", SEQ_DIR, download=False)
    again = load_sequence("addition", SEQ_DIR, download=False)
    assert addition.vocab_size == again.vocab_size == 13 and date.vocab_size == 59
    assert addition.char_to_id == again.char_to_id
    assert "a" not in addition.char_to_id
    assert addition.char_to_id["_"] != date.char_to_id["_"]
    addition.char_to_id["x"] = 99                       # a caller's edit stays its own
    assert "x" not in load_sequence("addition", SEQ_DIR, download=False).char_to_id


@needs_data
def test_lines_decode_back_to_the_file():
    data = load_sequence("date", SEQ_DIR, download=False)
    lines = set((SEQ_DIR / "date.txt").read_text().splitlines())
    for x, t in zip(data.x_test[:50], data.t_test[:50]):
        assert data.decode(x) + data.decode(t) in lines


# ------------------------------------------------------------------ reading options
def small():
    lines = [f"{a}+{b}".ljust(5) + "_" + str(a + b).ljust(3) for a in range(10) for b in range(3)]
    return parse_lines(lines, name="tiny")


def test_reverse_is_a_view_not_a_copy():
    data = small()
    x, t = data.split("train", reverse=True)
    np.testing.assert_array_equal(x, data.x_train[:, ::-1])
    assert np.shares_memory(x, data.x_train) and t is data.t_train
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.split("valid")


def test_batches_drop_the_remainder_shuffle_and_reverse():
    data = small()                                        # 27 train lines
    batches = list(data.batches(5, rng=0))
    assert len(batches) == 5 and all(xs.shape == (5, 5) and ts.shape == (5, 4)
                                     for xs, ts in batches)
    seen = np.concatenate([xs for xs, _ in batches])
    assert len({row.tobytes() for row in seen}) == 25      # 25 distinct lines, no repeats
    assert not np.array_equal(seen, data.x_train[:25])     # shuffled
    plain = list(data.batches(5, rng=3))
    reversed_ = list(data.batches(5, rng=3, reverse=True))
    for (xa, ta), (xb, tb) in zip(plain, reversed_):
        np.testing.assert_array_equal(xb, xa[:, ::-1])     # same lines, questions reversed
        np.testing.assert_array_equal(ta, tb)
    unshuffled = [xs for xs, _ in data.batches(9)]
    np.testing.assert_array_equal(np.concatenate(unshuffled), data.x_train)
    with pytest.raises(ValueError, match="batch_size"):
        next(data.batches(0))


def test_encode_pads_reverses_and_refuses_what_the_encoder_cannot_read():
    data = small()
    ids = data.encode(["1+2", "9+2  "])
    assert ids.shape == (2, 5)
    assert data.decode(ids) == ["1+2  ", "9+2  "]
    np.testing.assert_array_equal(data.encode("1+2", reverse=True), ids[:1, ::-1])
    with pytest.raises(QuestionError, match=r"'100\+20' has 6 characters.*5 wide") as info:
        data.encode(["1+2", "100+20"])
    assert isinstance(info.value, ValueError) and isinstance(info.value, MinigradError)
    with pytest.raises(QuestionError, match=r"the character '\*' \(position 1\)"):
        data.encode("1*2")
    with pytest.raises(ValueError, match="id 99"):
        data.decode([1, 99])


def test_parse_lines_rejects_malformed_lines():
    with pytest.raises(DataError, match="line 2.*no '_'"):
        parse_lines(["1+1_2", "1+1 2"])
    with pytest.raises(DataError, match="line 2 has a question of 4"):
        parse_lines(["1+1_2", "10+1_2"])
    with pytest.raises(DataError, match="no lines"):
        parse_lines([])


def test_unknown_name():
    with pytest.raises(ValueError, match="addition, date"):
        load_sequence("dates")


# ------------------------------------------------------------------ files and downloads
def copy_data(dest: Path, names=("addition.txt", "date.txt")) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(SEQ_DIR / name, dest / name)   # a copy: tests may damage it
    return dest


@needs_data
def test_environment_variable_and_argument(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("MINIGRAD_DATA", str(SEQ_DIR))
    assert load_sequence("addition", download=False).vocab_size == 13
    with pytest.raises(DatasetNotFoundError, match=str(empty)):
        load_sequence("addition", data_dir=empty, download=False)
    monkeypatch.delenv("MINIGRAD_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert sequence.resolve_data_dir() == tmp_path / "xdg" / "minigrad" / "sequence"


@needs_data
def test_corrupt_file_is_reported_and_left_in_place(tmp_path):
    d = copy_data(tmp_path / "seq")
    bad = d / "date.txt"
    with open(bad, "r+b") as f:
        f.truncate(1000)
    found = hashlib.md5(bad.read_bytes()).hexdigest()
    with pytest.raises(ChecksumError) as info:
        load_sequence("date", d)
    for part in ("date.txt", sequence.MD5["date.txt"], found, "Delete", str(bad)):
        assert part in str(info.value)
    assert bad.stat().st_size == 1000, "a user's file must not be deleted silently"
    assert load_sequence("addition", d).vocab_size == 13   # the other set still loads


@needs_data
def test_good_download_is_verified_and_renamed_into_place(tmp_path, monkeypatch):
    d = tmp_path / "fresh" / "sequence"
    calls = []

    def copy(url, dest):
        calls.append(url)
        shutil.copyfile(SEQ_DIR / url.rsplit("/", 1)[1], dest)
    monkeypatch.setattr(sequence, "_download", copy)
    assert load_sequence("date", d).vocab_size == 59
    assert calls == [sequence.BASE_URL + "date.txt"]
    assert "oreilly-japan/deep-learning-from-scratch-2" in sequence.BASE_URL
    assert sorted(p.name for p in d.iterdir()) == ["date.txt"]
    load_sequence("date", d)
    assert len(calls) == 1                                   # present: not fetched again


@needs_data
def test_real_downloader_over_a_file_url(tmp_path, monkeypatch):
    """The urllib code path itself, pointed at the local copy: no network."""
    monkeypatch.setattr(sequence, "_download", REAL_DOWNLOAD)
    monkeypatch.setattr(sequence, "BASE_URL", SEQ_DIR.as_uri() + "/")
    d = tmp_path / "cache"
    assert load_sequence("addition", d).x_test.shape == (5_000, 7)
    assert sorted(p.name for p in d.iterdir()) == ["addition.txt"]


def test_corrupt_download_leaves_no_file(tmp_path, monkeypatch):
    d = tmp_path / "seq"

    def corrupt(url, dest):
        Path(dest).write_bytes(b"16+75  _91  \n")
    monkeypatch.setattr(sequence, "_download", corrupt)
    with pytest.raises(ChecksumError, match="addition.txt") as info:
        load_sequence("addition", d)
    assert "discarded" in str(info.value) and sequence.MD5["addition.txt"] in str(info.value)
    assert list(d.iterdir()) == []                           # no partial or temporary file


def test_offline_error_names_the_files_and_where_to_put_them(tmp_path, monkeypatch):
    d = tmp_path / "nowhere"

    def offline(url, dest):
        raise OSError("network is unreachable")
    monkeypatch.setattr(sequence, "_download", offline)
    with pytest.raises(DatasetNotFoundError) as info:
        load_sequence("date", d)
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, MinigradError)
    for part in (str(d / "date.txt"), sequence.BASE_URL + "date.txt", "MINIGRAD_DATA",
                 "load_sequence(data_dir=...)", "network is unreachable"):
        assert part in msg
    assert "addition.txt    (from" not in msg             # only the file needed is listed
    assert not any(d.iterdir())
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        load_sequence("addition", tmp_path / "other", download=False)
