"""MINIGRAD_DATA (and a loader's data_dir) may be one data set's folder or a
root that holds each data set in a subfolder of its own (data/ptb/,
data/sequence/, the layout of ../shared/data): the subfolder is looked in
first, then the folder itself."""
from pathlib import Path

import pytest

from minigrad.data import DatasetNotFoundError, load_ptb, load_sequence, ptb, sequence

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PTB_FILES = sorted(ptb.FILES.values())


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return monkeypatch


def _link_ptb(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in PTB_FILES:
        (folder / name).symlink_to(DATA / "ptb" / name)
    return folder


def test_minigrad_data_may_be_a_root_of_data_sets(no_env):
    no_env.setenv("MINIGRAD_DATA", str(DATA))
    assert ptb.resolve_data_dir() == DATA / "ptb"
    assert sequence.resolve_data_dir() == DATA / "sequence"
    assert len(load_ptb("valid", download=False)[0]) == ptb.TOKEN_COUNTS["valid"]
    assert load_sequence("date", download=False).vocab_size == 59


def test_data_dir_may_be_a_root_too(no_env):
    assert len(load_ptb("test", data_dir=DATA, download=False)[0]) == ptb.TOKEN_COUNTS["test"]
    assert load_sequence("addition", data_dir=DATA, download=False).vocab_size == 13


def test_a_flat_folder_still_works(no_env):
    no_env.setenv("MINIGRAD_DATA", str(DATA / "ptb"))
    assert ptb.resolve_data_dir() == DATA / "ptb"
    assert load_sequence("date", data_dir=DATA / "sequence", download=False).vocab_size == 59


def test_the_data_sets_subfolder_comes_first(no_env, tmp_path):
    root = _link_ptb(tmp_path / "both")
    _link_ptb(root / "ptb")
    assert ptb.resolve_data_dir(root) == root / "ptb"
    flat = _link_ptb(tmp_path / "flat")
    (flat / "ptb").mkdir()           # a subfolder without the files does not hide them
    assert ptb.resolve_data_dir(flat) == flat


def test_missing_files_are_looked_for_in_the_subfolder_that_exists(no_env, tmp_path):
    root = tmp_path / "root"
    (root / "sequence").mkdir(parents=True)
    no_env.setenv("MINIGRAD_DATA", str(root))
    with pytest.raises(DatasetNotFoundError) as info:
        load_sequence("date", download=False)
    assert str(root / "sequence" / "date.txt") in str(info.value)
    assert "subfolder sequence/" in str(info.value)
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(DatasetNotFoundError, match=str(bare / "ptb.train.txt")):
        load_ptb("train", data_dir=bare, download=False)
