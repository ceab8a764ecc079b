"""`python -m models train MODEL`: each model lists only its own options, with
the book's defaults, and every model runs --quick with nothing downloaded."""
from __future__ import annotations

import json
import re

import pytest

from models.__main__ import build_parser, main
from models.rnnlm import cli as rnnlm_cli
from models.seq2seq import cli as seq2seq_cli
from models.word2vec import cli as word2vec_cli

# Every model trains through the same trainer: clipping, resuming and several ranks for all.
EVERY_RUN = {"--out", "--epochs", "--quick", "--seed", "--report-every", "--no-progress",
             "--anomaly", "--eager", "--keep-going", "--threads", "-h", "--max-grad",
             "--checkpoint-every", "--resume", "--distributed"}
LM = {"--data", "--batch-size", "--time-size", "--hidden", "--lr"}
SEQ2SEQ = {"--data", "--dataset", "--reverse", "--wordvec", "--hidden", "--batch-size", "--lr",
           "--book-stream"}
OWN_OPTIONS = {
    "two-layer-net": {"--hidden", "--lr", "--batch-size"},
    "binary-addition": {"--recipe", "--iterations", "--hidden", "--lr", "--batch-size"},
    "cbow": {"--data", "--window", "--hidden", "--batch-size", "--lr", "--sparse"},
    "skipgram": {"--data", "--window", "--hidden", "--batch-size", "--lr", "--sparse"},
    "simple-rnnlm": LM,
    "rnnlm": LM | {"--sample"},
    "better-rnnlm": LM | {"--sample", "--cell", "--dropout"},
    "seq2seq": SEQ2SEQ | {"--peeky"},
    "attention-seq2seq": SEQ2SEQ | {"--bidirectional", "--merge"},
}
MODELS = tuple(OWN_OPTIONS)


def _train_parsers():
    """``train``'s parser of each model, by name."""
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    return train._subparsers._group_actions[0].choices


def _help(model):
    return _train_parsers()[model].format_help()


def _options(help_text):
    return set(re.findall(r"^\s+(-h|--[a-z-]+)", help_text, re.M)) - {"--no-reverse"}


def test_every_model_has_a_subcommand():
    assert tuple(_train_parsers()) == MODELS


@pytest.mark.parametrize("model", MODELS)
def test_train_model_help_lists_only_that_models_options(model):
    assert _options(_help(model)) == EVERY_RUN | OWN_OPTIONS[model]


@pytest.mark.parametrize("model", sorted(rnnlm_cli.BOOK))
def test_language_model_help_states_the_books_defaults(model):
    text = " ".join(_help(model).split())
    book = rnnlm_cli.BOOK[model]
    for option, key in (("--batch-size", "batch_size"), ("--time-size", "time_size"),
                        ("--hidden", "hidden"), ("--lr", "lr"), ("--epochs", "epochs")):
        assert re.search(rf"{option} \S+ [^()]*\(the book's: {book[key]}[;)]", text), option


def test_word2vec_and_seq2seq_help_state_the_books_defaults():
    cbow = " ".join(_help("cbow").split())
    for option, key in (("--window", "window"), ("--hidden", "hidden"), ("--lr", "lr")):
        assert f"(the book's: {word2vec_cli.BOOK[key]})" in cbow.split(option + " ")[2], option
    from models.seq2seq.train import BOOK_SETTINGS
    attention = " ".join(_help("attention-seq2seq").split())
    assert f"H (the book's: {BOOK_SETTINGS['date']['hidden_size']};" in attention
    seq2seq = " ".join(_help("seq2seq").split())
    assert f"H (the book's: {BOOK_SETTINGS['addition']['hidden_size']};" in seq2seq
    assert seq2seq_cli.DATASET == {"seq2seq": "addition", "attention-seq2seq": "date"}


def test_an_option_of_another_model_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["train", "two-layer-net", "--window", "3"])
    assert "unrecognized arguments: --window" in capsys.readouterr().err


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No data on disk and no network: a download fails the test."""
    import minigrad.data.ptb as ptb
    import minigrad.data.sequence as sequence

    def no_download(*args, **kwargs):
        raise AssertionError("a --quick run tried to download")

    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "no-data"))
    for loader in (ptb, sequence):
        monkeypatch.setattr(loader, "_download", no_download)
    return tmp_path


@pytest.mark.parametrize("model", MODELS)
def test_every_model_runs_quick_offline(model, offline, capsys):
    out = offline / model
    assert main(["train", model, "--quick", "--no-progress", "--out", str(out)]) == 0
    metrics = sorted(out.glob("*_metrics.json"))
    assert metrics, capsys.readouterr()
    history = json.loads(metrics[0].read_text())
    losses = history.get("loss") or history.get("train_loss") or [history["accuracy"]]
    assert all(v == v for v in losses)               # no NaN in what it recorded
