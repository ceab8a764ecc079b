"""The book's encoder-decoder models (chapters 7 and 8) on minigrad's public API.

* ``Seq2seq``: an Embedding and LSTM encoder whose last hidden state starts
  the decoder (Embedding -> LSTM -> Linear); the decoder's cell state starts
  at zero.
* ``PeekySeq2seq``: the decoder also reads the encoder's state at every step:
  ``[h, embedding]`` into its LSTM, ``[h, LSTM output]`` into its Linear.
* ``AttentionSeq2seq``: the encoder hands over all its states; the decoder's
  Linear reads ``[context, LSTM output]``, the context being dot-product
  attention of each decoder state over the encoder's states, computed for all
  decoder steps at once. Optionally with the book's bidirectional encoder.

Training reads the answer shifted by one (teacher forcing): ``loss(xs, ts)``
feeds ``ts[:, :-1]`` to the decoder and scores it against ``ts[:, 1:]`` (the
book's TimeSoftmaxWithLoss: the mean over every answer character). The
encoder's final state keeps its graph, so the loss backpropagates through the
decoder into the encoder. ``generate(xs, start_id, length)`` answers a whole
batch of questions at once, greedily (argmax), as the book's generate does one
question at a time.

Weights use the book's layouts (everything is x @ W, LSTM gates f, g, i, o)
and travel as a flat dict in the order of the book's ``params`` lists, so
``dict(zip(keys, book_model.params))`` is a model's weight dict:

=====================  =============================================  ======================================
key                    Seq2seq / PeekySeq2seq / AttentionSeq2seq      shape
=====================  =============================================  ======================================
encoder.embed.W        all                                            (V, D)
encoder.lstm.Wx/Wh/b   all (unidirectional encoder)                   (D, 4H), (H, 4H), (4H,)
encoder.forward_lstm.  AttentionSeq2seq(bidirectional=True): the      (D, 4H), (H, 4H), (4H,) each
  / backward_lstm.     book's TimeBiLSTM, in place of encoder.lstm
decoder.embed.W        all                                            (V, D)
decoder.lstm.Wx        Seq2seq, AttentionSeq2seq / PeekySeq2seq       (D, 4H) / (H + D, 4H), h first
decoder.lstm.Wh, .b    all                                            (H, 4H), (4H,)
decoder.affine.W, .b   Seq2seq / PeekySeq2seq, AttentionSeq2seq       (H, V) / (2H, V); (V,)
=====================  =============================================  ======================================

With a bidirectional encoder whose directions are concatenated (the book's
TimeBiLSTM) the encoder's states are 2H wide, and so is the decoder (H above
reads 2H in the decoder's rows).
"""
from __future__ import annotations

import numpy as np

import minigrad as mg
import minigrad.functions as F
import minigrad.layers as L
from minigrad import training
from minigrad.compiled import replayed_generation

from ..shared.weights import WeightsError, WeightsMixin

__all__ = ["Seq2seq", "PeekySeq2seq", "AttentionSeq2seq", "Encoder", "Decoder", "PeekyDecoder",
           "AttentionEncoder", "AttentionDecoder", "exact_match_accuracy", "MODELS"]

_LAST_STEP = (slice(None), -1)


# ---------------------------------------------------------------- encoders
class Encoder(L.Layer):
    """The book's Encoder: Embedding (V, D) -> LSTM (D, H), from zeros on every
    call. ``forward(xs)`` returns the last hidden state (N, H), with its graph.
    ``bidirectional=True`` runs the book's TimeBiLSTM instead (``merge``
    "concat": states 2H wide; "sum": H)."""

    def __init__(self, vocab_size, wordvec_size, hidden_size, bidirectional=False,
                 merge="concat", fused=True, dtype=np.float32, rng=None):
        super().__init__()
        rng = mg.random.generator(rng)
        self.bidirectional = bidirectional
        self.embed = L.Embedding(vocab_size, wordvec_size, dtype=dtype, rng=rng)
        if bidirectional:
            self.lstm = L.BiLSTM(wordvec_size, hidden_size, merge=merge, fused=fused,
                                 dtype=dtype, rng=rng)
        else:
            self.lstm = L.LSTM(wordvec_size, hidden_size, fused=fused, dtype=dtype, rng=rng)

    @property
    def output_size(self) -> int:
        return self.lstm.output_size if self.bidirectional else self.lstm.hidden_size

    def forward(self, xs):
        if self.bidirectional:
            return F.get_item(self.lstm(self.embed(xs)), _LAST_STEP)
        _, (h, _) = self.lstm(self.embed(xs), return_state=True)
        return h


class AttentionEncoder(Encoder):
    """The book's AttentionEncoder: all hidden states (N, T, H) are its output
    (N, T, 2H with the bidirectional encoder's directions concatenated)."""

    def forward(self, xs):
        return self.lstm(self.embed(xs))


# ---------------------------------------------------------------- decoders
class Decoder(L.Layer):
    """The book's Decoder: Embedding (V, D) -> LSTM (D, H) -> Linear (H, V).
    The LSTM starts from the encoder's h (graph included) and a zero c."""

    peek = False      # PeekyDecoder: h also enters the LSTM's and the Linear's input

    def __init__(self, vocab_size, wordvec_size, hidden_size, fused=True, dtype=np.float32,
                 rng=None):
        super().__init__()
        rng = mg.random.generator(rng)
        V, D, H = vocab_size, wordvec_size, hidden_size
        extra = H if self.peek else 0
        self.embed = L.Embedding(V, D, dtype=dtype, rng=rng)
        self.lstm = L.LSTM(extra + D, H, fused=fused, dtype=dtype, rng=rng)
        self.affine = L.Linear(extra + H, V, dtype=dtype, rng=rng)

    def forward(self, xs, h):
        """Scores (N, T, V) of the answer's characters xs (N, T) from h (N, H)."""
        scores, _ = self.run(xs, (h, None), h)
        return scores

    def run(self, xs, state, h_enc):
        """Scores of xs from the LSTM state (h, c), and the state after them."""
        x = self.embed(xs)
        if self.peek:
            peek = F.repeat(h_enc, xs.shape[1], axis=1, new_axis=True)   # (N, T, H)
            x = F.concat((peek, x), axis=2)
        hs, state = self.lstm(x, h0=state[0], c0=state[1], return_state=True)
        if self.peek:
            hs = F.concat((peek, hs), axis=2)
        return self.affine(hs), state

    def begin(self, encoded):
        """What a decoding of one batch carries: (LSTM state, the encoder's output)."""
        return (encoded, None), encoded


class PeekyDecoder(Decoder):
    """The book's PeekyDecoder: the encoder's h (N, H) is concatenated before
    the embedding at the LSTM's input (Wx (H + D, 4H)) and before the LSTM's
    output at the Linear's input ((2H, V)), at every step. Its gradient is the
    sum of the LSTM's first state's and every step's two peeks (the Repeat
    node's backward)."""

    peek = True


class AttentionDecoder(L.Layer):
    """The book's AttentionDecoder: Embedding -> LSTM (from the encoder's last
    state) -> attention over the encoder's states -> Linear (2H, V) on
    ``[context, LSTM output]``. The attention runs over all decoder steps in
    one batched product; ``attention.attention_weights`` keeps its last map."""

    def __init__(self, vocab_size, wordvec_size, hidden_size, fused=True, dtype=np.float32,
                 rng=None):
        super().__init__()
        rng = mg.random.generator(rng)
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = L.Embedding(V, D, dtype=dtype, rng=rng)
        self.lstm = L.LSTM(D, H, fused=fused, dtype=dtype, rng=rng)
        self.attention = L.Attention()
        self.affine = L.Linear(2 * H, V, dtype=dtype, rng=rng)

    def forward(self, xs, hs_enc, mask=None):
        scores, _ = self.run(xs, self.begin(hs_enc)[0], hs_enc, mask)
        return scores

    def run(self, xs, state, hs_enc, mask=None):
        # Scopes name the book's boxes in a drawing of the graph (minigrad.viz).
        with mg.name_scope("embed"):
            x = self.embed(xs)
        with mg.name_scope("lstm"):
            hs_dec, state = self.lstm(x, h0=state[0], c0=state[1], return_state=True)
        with mg.name_scope("attention"):
            context = self.attention(hs_enc, hs_dec, mask)
        with mg.name_scope("affine"):
            return self.affine(F.concat((context, hs_dec), axis=2)), state

    def begin(self, hs_enc):
        # The encoder's last state starts the LSTM; its gradient joins the
        # attention's at that step (a Branch of hs_enc).
        return (F.get_item(hs_enc, _LAST_STEP), None), hs_enc


# ---------------------------------------------------------------- models
class _Seq2seq(L.Layer, WeightsMixin):
    """What the three models share: the loss, greedy generation, the weight table."""

    # The book names a bidirectional encoder's two LSTMs without the layer that pairs them.
    BOOK_NAMES = {"encoder.lstm.forward_lstm": "encoder.forward_lstm",
                  "encoder.lstm.backward_lstm": "encoder.backward_lstm"}

    encoder_class = Encoder
    decoder_class = Decoder

    def __init__(self, vocab_size, wordvec_size, hidden_size, fused=True, dtype=np.float32,
                 rng=None, **encoder_options):
        super().__init__()
        rng = mg.random.generator(rng)
        self.encoder = self.encoder_class(vocab_size, wordvec_size, hidden_size, fused=fused,
                                          dtype=dtype, rng=rng, **encoder_options)
        self.decoder = self.decoder_class(vocab_size, wordvec_size, self.encoder.output_size,
                                          fused=fused, dtype=dtype, rng=rng)
        self.vocab_size, self.wordvec_size, self.hidden_size = (vocab_size, wordvec_size,
                                                                hidden_size)

    def forward(self, xs, decoder_xs, mask=None):
        """Scores (N, Td, V) of the decoder's inputs ``decoder_xs`` (N, Td) given
        the questions ``xs`` (N, Te) (teacher forcing)."""
        return self._decode(self._encode(xs, mask), decoder_xs, mask)

    def loss(self, xs, ts, mask=None):
        """The book's loss: softmax cross-entropy of the decoder fed ``ts[:, :-1]``
        against ``ts[:, 1:]``, the mean over all N * (T - 1) characters.
        ``mask`` (N, Te), boolean: for AttentionSeq2seq, False hides padded
        encoder steps from the attention."""
        ts = ts.data if isinstance(ts, mg.Variable) else ts
        if getattr(ts, "ndim", None) != 2 or ts.shape[1] < 2:
            raise ValueError(f"{type(self).__name__}.loss: ts must be (N, T) answers with T >= 2 "
                             f"(the start symbol and at least one character), got shape "
                             f"{tuple(getattr(ts, 'shape', ()))}")
        return F.softmax_cross_entropy(self.forward(xs, ts[:, :-1], mask), ts[:, 1:])

    def _encode(self, xs, mask):
        self._check_ids(xs, "questions")
        self._check_mask(mask)
        return self.encoder(xs)

    def _decode(self, encoded, decoder_xs, mask):
        self._check_ids(decoder_xs, "decoder inputs")
        return self.decoder(decoder_xs, encoded)

    def _step(self, x, carried, mask):
        state, encoded = carried
        scores, state = self.decoder.run(x, state, encoded)
        return scores, (state, encoded)

    attends = False   # AttentionSeq2seq: the decoder reads every encoder state

    def _check_mask(self, mask):
        if mask is not None and not self.attends:
            raise ValueError(f"{type(self).__name__}: a mask hides encoder steps from an "
                             "attention; this model has none (use AttentionSeq2seq)")

    def _check_ids(self, ids, what):
        ids = ids.data if isinstance(ids, mg.Variable) else ids
        if getattr(ids, "ndim", None) != 2 or ids.dtype.kind not in "iu":
            raise ValueError(f"{type(self).__name__}: {what} must be an (N, T) array of "
                             f"character ids, got {getattr(ids, 'dtype', type(ids).__name__)} "
                             f"{tuple(getattr(ids, 'shape', ()))}")

    def generate(self, xs, start_id, length, mask=None, compiled=True):
        """Greedy answers (N, length) of the questions ``xs`` (N, Te), all at
        once: the decoder starts from ``start_id`` and each step's argmax is
        the next step's input, as in the book. No graph, dropout-free.

        The generation is compiled (:func:`minigrad.compile`): recorded on the
        first calls of each signature (the questions' shape, ``start_id``,
        ``length``) and replayed on the rest, with the same answers.
        ``compiled=False``, a mask, anomaly mode and
        :func:`minigrad.training.eager` (the command line's ``--eager``) run it
        eagerly."""
        if int(length) < 1:
            raise ValueError(f"{type(self).__name__}.generate: length must be at least 1, "
                             f"got {length}")
        xp = mg.get_array_module(self.decoder.embed.W.data)
        args = (xp.asarray(xs), int(start_id), int(length))
        if compiled and mask is None and not training.eager_requested():
            answers = replayed_generation(self, self._greedy)(*args)
        else:
            answers = self._greedy(*args, mask)
        # A copy: the next replay may refill the recorded answers where they are.
        return np.array(mg.to_cpu(answers.data))

    def _greedy(self, xs, start_id, length, mask=None):
        """The greedy decoding as operations only, so that a compiled replay
        repeats all of it: each step's argmax is an operation, and the next
        step's Embedding looks up the ids it computed."""
        xp = mg.get_array_module(self.decoder.embed.W.data)
        with mg.no_grad():
            encoded = self._encode(xs, mask)
            carried = self.decoder.begin(encoded)
            x = xp.full((len(xs), 1), start_id, dtype=np.int64)
            answers = []
            for _ in range(length):
                scores, carried = self._step(x, carried, mask)
                x = F.argmax_ids(scores[:, -1], axis=-1, keepdims=True)
                answers.append(x)
            return F.concat(answers, axis=1)

    # ------------------------------------------------------------ weights
    @classmethod
    def from_weights(cls, weights: dict, fused=True, dtype=np.float32, **options):
        """A model holding copies of ``weights`` (keys and shapes in the module
        docstring); V, D and H are read off the encoder's arrays. Weights of
        another layout (another model's, or a bidirectional encoder's for a
        unidirectional model) raise :class:`~models.shared.weights.WeightsError`."""
        weights = cls._weights_in(weights, dtype)
        try:
            V, D = np.shape(weights["encoder.embed.W"])
            bidirectional = "encoder.forward_lstm.Wh" in weights
            H = np.shape(weights["encoder.forward_lstm.Wh" if bidirectional
                                 else "encoder.lstm.Wh"])[0]
        except (KeyError, ValueError) as exc:
            raise WeightsError(f"{cls.__name__}.from_weights: cannot read the sizes V, D, H: "
                               f"{exc!r} is missing or not 2-D; expected the keys of the book's "
                               "layout (models.seq2seq's docstring)") from None
        if bidirectional:
            options.setdefault("bidirectional", True)
        model = cls(V, D, H, fused=fused, dtype=dtype, rng=0, **options)
        return model.load_arrays(weights)


class Seq2seq(_Seq2seq):
    """The book's Seq2seq (chapter 7): Encoder + Decoder.

    >>> import numpy as np
    >>> model = Seq2seq(13, 16, 32, rng=0)
    >>> xs, ts = np.zeros((4, 7), dtype=np.int64), np.ones((4, 5), dtype=np.int64)
    >>> model.loss(xs, ts).shape, model.generate(xs, start_id=6, length=4).shape
    ((), (4, 4))
    """


class PeekySeq2seq(_Seq2seq):
    """The book's PeekySeq2seq (chapter 7): Encoder + PeekyDecoder."""

    decoder_class = PeekyDecoder


class AttentionSeq2seq(_Seq2seq):
    """The book's AttentionSeq2seq (chapter 8): AttentionEncoder + AttentionDecoder.
    ``bidirectional=True``: the encoder is the book's TimeBiLSTM (``merge``
    "concat" makes the encoder's states and the decoder 2H wide, "sum" keeps H).

    >>> import numpy as np
    >>> model = AttentionSeq2seq(59, 16, 32, bidirectional=True, rng=0)
    >>> xs, ts = np.zeros((4, 29), dtype=np.int64), np.ones((4, 11), dtype=np.int64)
    >>> _ = model.loss(xs, ts)
    >>> model.decoder.attention.attention_weights.shape, model.decoder.lstm.hidden_size
    ((4, 10, 29), 64)
    """

    encoder_class = AttentionEncoder
    decoder_class = AttentionDecoder
    attends = True

    def __init__(self, vocab_size, wordvec_size, hidden_size, bidirectional=False,
                 merge="concat", fused=True, dtype=np.float32, rng=None):
        super().__init__(vocab_size, wordvec_size, hidden_size, fused=fused, dtype=dtype,
                         rng=rng, bidirectional=bidirectional, merge=merge)

    def _decode(self, encoded, decoder_xs, mask):
        self._check_ids(decoder_xs, "decoder inputs")
        return self.decoder(decoder_xs, encoded, mask)

    def _step(self, x, carried, mask):
        state, hs_enc = carried
        scores, state = self.decoder.run(x, state, hs_enc, mask)
        return scores, (state, hs_enc)


MODELS = {"seq2seq": Seq2seq, "peeky": PeekySeq2seq, "attention": AttentionSeq2seq}


def exact_match_accuracy(model, xs, ts, batch_size=1000, mask=None):
    """The book's evaluation: the fraction of questions whose whole generated
    answer equals ``ts[:, 1:]`` (padding included), starting from ``ts[:, 0]``
    (the start symbol, the same for every row). Generated in batches of
    ``batch_size`` questions; returns ``(accuracy, guesses)``."""
    xs, ts = np.asarray(xs), np.asarray(ts)
    if len(xs) != len(ts):
        raise ValueError(f"exact_match_accuracy: {len(xs)} questions but {len(ts)} answers")
    starts = np.unique(ts[:, 0])
    if len(starts) != 1:
        raise ValueError(f"exact_match_accuracy: every answer must begin with the same start "
                         f"symbol, found ids {starts.tolist()}")
    guesses = np.empty((len(ts), ts.shape[1] - 1), dtype=np.int64)
    for i in range(0, len(xs), batch_size):
        part = None if mask is None else mask[i:i + batch_size]
        guesses[i:i + batch_size] = model.generate(xs[i:i + batch_size], int(starts[0]),
                                                   ts.shape[1] - 1, mask=part)
    return training.accuracy(guesses, ts[:, 1:]), guesses
