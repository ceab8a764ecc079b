"""The tour (models/tour.py) run in-process in its quick setting: the report says
what it promises (100% binary addition, twin agreement within 1e-6,
perplexity falling), the files land in the output folder, and a failed check
gives a non-zero exit code."""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import models.tour as tour
from models.rnnlm.check import LM_KINDS, build_lm_pair, dropout_keeps
from models.shared.twin_check import twin_errors


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tour")
    return tour.run_tour(out, quick=True, echo=False), out


def _line(result, pattern):
    hits = [line for line in result.lines if re.search(pattern, line)]
    assert hits, f"no report line matches {pattern!r}:\n" + "\n".join(result.lines)
    return hits[0]


def test_quick_tour_passes_every_check(quick_run):
    result, _ = quick_run
    assert result.ok, result.failures
    assert result.lines[-1].startswith("All checks passed")


def test_report_binary_addition_is_100_percent(quick_run):
    result, _ = quick_run
    assert "100.0%" in _line(result, r"accuracy on all 128 x 128 sums")
    assert result.results["binary_addition"] == 1.0


def test_report_twin_agreement_within_bound(quick_run):
    result, _ = quick_run
    worst = float(_line(result, r"twin agreement:").split()[2])
    assert worst <= 1e-6
    errors = result.results["twin"]
    # The loss and all 8 parameters of a tied 2-layer GRU model, each printed.
    assert set(errors) == {"loss", "embed.W", "gru0.Wx", "gru0.Wh", "gru0.b", "gru1.Wx",
                           "gru1.Wh", "gru1.b", "affine.b"}
    for name, e in errors.items():
        assert e <= 1e-6, name
        label = "loss" if name == "loss" else f"d loss / d {name}"
        line = _line(result, re.escape(label))
        assert re.search(rf"^\s+{re.escape(label)}\s+\d\.\de[-+]\d\d$", line), line


def test_report_perplexity_fell(quick_run):
    result, _ = quick_run
    assert "perplexity fell: yes" in _line(result, "perplexity fell")
    before = float(_line(result, "before training").split()[-1])
    epochs = [line for line in result.lines if re.match(r"\s+epoch \d+: training perplexity", line)]
    assert len(epochs) >= 2
    last_valid = float(epochs[-1].split()[-1])
    first_train = float(epochs[0].split()[4].rstrip(","))
    last_train = float(epochs[-1].split()[4].rstrip(","))
    # An untrained model is near uniform: perplexity about the vocabulary size (246).
    assert 200 < before < 300
    assert last_valid < before / 2 and last_train < first_train


def test_report_word2vec_queries_and_analogies(quick_run):
    result, _ = quick_run
    kin = {"king": {"queen", "prince", "princess", "duke", "duchess", "emperor", "empress"},
           "cat": {"dog", "rabbit", "hamster", "kitten", "puppy", "parrot", "goldfish"},
           "monday": {"tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}}
    for q, words in kin.items():
        near = [w.split(" (")[0] for w in _line(result, rf"^\s+{q} -> ").split("-> ")[1].split(", ")]
        assert len(near) == 5 and set(near) <= words, (q, near)
    # word2vec working: the book's analogy comes out first, and its mirror image too
    assert "-> woman (" in _line(result, r"king : man = queen : \? -> ")
    assert "'woman' ranks 1 of" in _line(result, r"king : man = queen : \?")
    assert "'queen' ranks 1 of" in _line(result, r"man : woman = king : \?")
    assert result.results["word2vec"]["analogies"] == {
        "king : man = queen : ?": ("woman", 1), "man : woman = king : ?": ("queen", 1)}
    losses = result.results["word2vec"]["losses"]
    assert losses[-1] < losses[0]


def test_files_written(quick_run):
    result, out = quick_run
    for name in ("gru_cell.dot", "rnn_3_steps.dot"):
        text = (out / name).read_text()
        assert text.startswith("digraph minigrad {")
    # The unrolled RNN: one cluster per time step.
    assert all(f"t={t}" in (out / "rnn_3_steps.dot").read_text() for t in range(3))
    expected_png = ["loss_curves.png"]
    if shutil.which("dot"):
        expected_png += ["gru_cell.png", "rnn_3_steps.png"]
    for name in expected_png:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert set(expected_png) <= {p.name for p in result.files}
    for path in result.files:
        assert f"  wrote {path}" in result.lines


def test_missing_graphviz_is_reported_and_dot_still_written(tmp_path, monkeypatch):
    import minigrad.viz

    def no_dot(*outputs, path, **options):
        raise minigrad.viz.GraphvizNotFoundError("no dot here")

    monkeypatch.setattr(minigrad.viz, "plot", no_dot)
    result = tour.TourResult()
    say = tour._Report(result, echo=False)
    history = {"train_ppl": [10.0, 5.0], "valid_ppl": [20.0, 9.0, 6.0]}
    tour._pictures(say, tmp_path, history, [3.0, 2.0])
    assert (tmp_path / "gru_cell.dot").exists() and not (tmp_path / "gru_cell.png").exists()
    assert any("is missing, so only" in line for line in result.lines)
    assert result.ok                       # a missing picture is not a failed check


def test_a_failed_check_gives_a_non_zero_exit_code(tmp_path, monkeypatch, capsys):
    import models.binary_addition as ba

    # A run that stops short of 100% must be reported as a failure.
    monkeypatch.setattr(ba, "train_minibatch_adder", lambda model, **kw: {"accuracy": [0.5]})
    monkeypatch.setattr(tour, "_language_model", lambda *a: {"train_ppl": [2.0],
                                                              "valid_ppl": [3.0, 2.0]})
    monkeypatch.setattr(tour, "_word2vec", lambda *a: [1.0])
    monkeypatch.setattr(tour, "_seq2seq_training", lambda *a: None)
    assert tour.main(["--out", str(tmp_path), "--quick"]) == 1
    printed = capsys.readouterr().out
    assert "FAILED: binary addition reached only 50.00%" in printed


def test_twin_check_fails_on_a_wrong_gradient(monkeypatch):
    # Break the twin's GRU backward slightly: the check must see it.
    import models.book_layers.time_layers as tl

    original = tl.GRU.backward

    def off(self, dh_next):
        dx, dh = original(self, dh_next)
        self.grads[1][0, 0] += 1e-3
        return dx, dh

    monkeypatch.setattr(tl.GRU, "backward", off)
    result = tour.TourResult()
    tour._twin_check(tour._Report(result, echo=False), quick=True)
    assert not result.ok
    assert result.results["twin"]["gru0.Wh"] > 1e-6


def test_report_seq2seq_twin_check_training_and_pictures(quick_run):
    result, out = quick_run
    line = _line(result, r"AttentionSeq2seq\(bidirectional=True\) vs its twin")
    assert float(re.search(r"difference (\S+) ", line).group(1)) <= 1e-6
    errors = result.results["seq2seq_twin"]
    assert len(errors) == 14 and max(errors.values()) <= 1e-6     # the loss and 13 weights
    losses = result.results["seq2seq"]["losses"]
    assert np.mean(losses[-20:]) < losses[0] / 2
    assert "test accuracy 0.0% -> " in _line(result, r"loss \S+ -> \S+, test accuracy")
    pictures = ["attention_maps.png"] + (["decoder_step.png"] if shutil.which("dot") else [])
    for name in pictures:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert "attention" in (out / "decoder_step.dot").read_text()    # the scopes are drawn


def test_seq2seq_twin_check_fails_on_a_wrong_attention_gradient(monkeypatch):
    import models.book_layers.attention as ta

    original = ta.WeightSum.backward

    def off(self, dc):
        dhs, da = original(self, dc)
        return dhs * 1.001, da

    monkeypatch.setattr(ta.WeightSum, "backward", off)
    result = tour.TourResult()
    tour._seq2seq_twin_check(tour._Report(result, echo=False))
    assert not result.ok and "AttentionSeq2seq and its twin differ" in result.failures[0]


def test_builders_agree_with_twins_for_every_lm_kind():
    rng = np.random.default_rng(0)
    for kind in LM_KINDS:
        model, twin, _ = build_lm_pair(kind, 9, 4, wordvec_size=3, seed=2)
        batches = []
        for _ in range(2):
            keeps = dropout_keeps(model, rng, 2, 3) if kind.startswith("better") else None
            batches.append((rng.integers(0, 9, (2, 3)), rng.integers(0, 9, (2, 3)), keeps))
        assert max(twin_errors(model, twin, batches).values()) <= 1e-12, kind


def test_data_option_hands_over_to_the_training_command(tmp_path, monkeypatch):
    import models.__main__ as cli

    calls = []
    monkeypatch.setattr(cli, "main", lambda argv: calls.append(argv) or 0)
    result = tour.run_tour(tmp_path, data="ptb-dir", quick=True, echo=False)
    assert result.ok
    assert calls == [["train", name, "--data", "ptb-dir", "--out", str(tmp_path / name), "--quick"]
                     for name in ("rnnlm", "cbow")]
    assert f"  python -m models train rnnlm --data ptb-dir --out {tmp_path / 'rnnlm'} --quick" \
        in result.lines
    # A failing run is a failed check.
    monkeypatch.setattr(cli, "main", lambda argv: 2)
    assert not tour.run_tour(tmp_path, data="ptb-dir", echo=False).ok


def test_data_option_without_the_command_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "models.__main__", None)     # import fails
    result = tour.run_tour(tmp_path, data="ptb-dir", echo=False)
    assert f"    python -m models train rnnlm --data ptb-dir --out {tmp_path / 'rnnlm'}" \
        in result.lines


# ---------------------------------------------------------------- the README's first command
ROOT = Path(__file__).resolve().parent.parent


def _extras():
    """pyproject.toml's optional dependencies: extra -> the requirement lines."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.optional-dependencies]")[1].split("\n[")[0]
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\w+) = \[(.*?)\]", section,
                                                         re.M | re.S)}


def test_the_first_command_installs_what_the_tour_draws_with():
    command = 'python -m pip install -e ".[viz,plot,progress]" && python -m models.tour'
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.findall(r"```bash\n(.*?)\n```", readme, re.S)[0] == command
    assert command in (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    extras = _extras()
    for extra, package in (("viz", "graphviz"), ("plot", "matplotlib"), ("progress", "tqdm")):
        assert package in extras[extra], extra
    # and where `dot` comes from, which pip cannot install, and what happens without it
    for words in ("apt-get install\ngraphviz", "brew install graphviz", "conda install\ngraphviz",
                  "Without `dot`", "DOT text"):
        assert words.replace("\n", " ") in " ".join(readme.split()), words
