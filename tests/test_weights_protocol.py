"""One weights protocol for every model of models/: keys derived from
``named_params()`` (renamed where the book names a weight otherwise),
``from_weights(dict, **options)``, and ``load_arrays`` through the layers' own
assignment, which keeps each weight's device and refuses another dtype."""
from __future__ import annotations

import numpy as np
import pytest

from minigrad.layers import save_weights
from models.binary_addition import MinibatchAdder, NotesAdder
from models.rnnlm import BetterRnnlm, Rnnlm, SimpleRnnlm
from models.seq2seq import AttentionSeq2seq, PeekySeq2seq, Seq2seq
from models.shared.weights import WeightsError, WeightsMixin
from models.two_layer_net import TwoLayerNet
from models.word2vec import CBOW, SkipGram

f64 = np.float64

# (a model, the options its from_weights needs besides the dict)
MODELS = {
    "TwoLayerNet": (lambda: TwoLayerNet(2, 4, 3, dtype=f64, rng=0), {"dtype": f64}),
    "NotesAdder": (lambda: NotesAdder(5, rng=0), {}),
    "MinibatchAdder": (lambda: MinibatchAdder(5, dtype=f64, rng=0), {"dtype": f64}),
    "CBOW": (lambda: CBOW(12, 4, 2, np.arange(12), dtype=f64, rng=0),
             {"window_size": 2, "dtype": f64}),
    "SkipGram": (lambda: SkipGram(12, 4, 2, np.arange(12), dtype=f64, rng=0),
                 {"window_size": 2, "dtype": f64}),
    "SimpleRnnlm": (lambda: SimpleRnnlm(10, 3, 4, dtype=f64, rng=0), {"dtype": f64}),
    "Rnnlm": (lambda: Rnnlm(10, 3, 4, dtype=f64, rng=0), {"dtype": f64}),
    "BetterRnnlm": (lambda: BetterRnnlm(10, 4, 4, cell="gru", dtype=f64, rng=0),
                    {"dtype": f64}),
    "Seq2seq": (lambda: Seq2seq(9, 3, 4, dtype=f64, rng=0), {"dtype": f64}),
    "PeekySeq2seq": (lambda: PeekySeq2seq(9, 3, 4, dtype=f64, rng=0), {"dtype": f64}),
    "AttentionSeq2seq-bi": (lambda: AttentionSeq2seq(9, 3, 4, bidirectional=True, dtype=f64,
                                                     rng=0), {"dtype": f64}),
}
BOOK_KEYS = {   # where the book's (or the notes') names differ from named_params()'s
    "TwoLayerNet": ["W1", "b1", "W2", "b2"],
    "NotesAdder": ["W_in", "W", "W_out"],
    "CBOW": ["W_in", "W_out"],
    "SkipGram": ["W_in", "W_out"],
    "AttentionSeq2seq-bi": ["encoder.embed.W", "encoder.forward_lstm.Wx",
                            "encoder.forward_lstm.Wh", "encoder.forward_lstm.b",
                            "encoder.backward_lstm.Wx", "encoder.backward_lstm.Wh",
                            "encoder.backward_lstm.b", "decoder.embed.W", "decoder.lstm.Wx",
                            "decoder.lstm.Wh", "decoder.lstm.b", "decoder.affine.W",
                            "decoder.affine.b"],
}


def _scrambled(model):
    r = np.random.default_rng(1)
    return {k: r.standard_normal(a.shape).astype(a.dtype) for k, a in model.to_weights().items()}


@pytest.mark.parametrize("name", MODELS)
def test_keys_are_named_params_renamed_where_the_book_differs(name):
    build, _ = MODELS[name]
    model = build()
    assert isinstance(model, WeightsMixin)
    assert not hasattr(model, "slots"), "a hand-written table beside named_params()"
    names = [n for n, _ in model.named_params()]
    assert list(model.to_weights()) == BOOK_KEYS.get(name, names)


@pytest.mark.parametrize("name", MODELS)
def test_from_weights_takes_a_dict_and_options(name):
    build, options = MODELS[name]
    model = build()
    weights = _scrambled(model)
    again = type(model).from_weights(weights, **options)
    assert type(again) is type(model)
    for key, a in again.to_weights().items():
        np.testing.assert_array_equal(a, weights[key], err_msg=key)
    with pytest.raises(WeightsError, match="must be a dict of named arrays"):
        type(model).from_weights(list(weights.values()), **options)


def test_a_tied_weight_is_one_key_with_two_places():
    model = BetterRnnlm(10, 4, 4, rng=0)
    places = model.weight_places()
    assert [(layer, attr) for layer, attr in places["embed.W"]] == \
        [(model.embed, "W"), (model.affine, "W")]
    assert "affine.W" not in model.to_weights()


def test_load_arrays_refuses_another_dtype_and_loads_nothing():
    model = Rnnlm(10, 3, 4, rng=0)                        # float32
    before = model.to_weights()
    weights = {k: a.astype(f64) for k, a in _scrambled(model).items()}
    with pytest.raises(WeightsError) as info:
        model.load_arrays(weights)
    message = str(info.value)
    assert "embed.W: dtype float64, the model's is float32" in message
    assert ".astype('float32')" in message and "nothing was loaded" in message
    for key, a in model.to_weights().items():
        np.testing.assert_array_equal(a, before[key])


def test_load_arrays_copies_and_keeps_the_tie():
    model = BetterRnnlm(10, 4, 4, rng=0)
    weights = _scrambled(model)
    model.load_arrays(weights)
    weights["embed.W"][0, 0] += 1.0                      # the caller's array, not the model's
    assert model.embed.W.data[0, 0] != weights["embed.W"][0, 0]
    assert model.affine.W is model.embed.W


def test_from_file_reads_a_bidirectional_models_npz(tmp_path):
    model = AttentionSeq2seq(9, 3, 4, bidirectional=True, rng=0)
    path = save_weights(model, tmp_path / "bi.npz")
    again = AttentionSeq2seq.from_file(path)
    assert again.encoder.bidirectional
    for key, a in again.to_weights().items():
        np.testing.assert_array_equal(a, model.to_weights()[key], err_msg=key)


@pytest.mark.gpu
def test_load_arrays_keeps_a_gpu_models_weights_on_the_gpu():
    import minigrad

    if not minigrad.gpu_available():
        pytest.skip("cupy with a CUDA device is not available")
    import cupy as cp

    model = Rnnlm(10, 3, 4, rng=0).to_gpu()
    model.load_arrays(_scrambled(Rnnlm(10, 3, 4, rng=0)))   # numpy arrays in
    assert all(isinstance(p.data, cp.ndarray) for p in model.params())
