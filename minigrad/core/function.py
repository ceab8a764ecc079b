"""Function: the base of every operation.

An operation is one class: ``forward`` computes on raw arrays, ``backward``
right beside it computes the input gradients from the output gradients.
``backward`` is written with operators and ``minigrad.functions`` calls, which
work on raw arrays and on Variables alike, so the one definition serves both
backward modes:

* ordinary backward: ``self.xs``, ``self.y`` and the gradients are raw arrays,
  and the calls in ``backward`` are plain array arithmetic (fast);
* ``backward(create_graph=True)``: the engine calls ``backward_graph``, which
  runs the same ``backward`` with Variables in ``self.xs`` and ``self.y``, so
  the gradient is itself a recorded graph and can be differentiated again.

Broadcasting needs no per-operation code: when ``backward`` returns a gradient
of the broadcast shape, the engine sums it down to the input's shape.
"""
from __future__ import annotations

import weakref

import numpy as np

from .. import backend
from ..errors import GraphError
from . import anomaly, explain, saved
from .config import state
from .variable import Variable


class Function:
    """Base class of operations. Subclasses define ``forward`` and ``backward``.

    Class attributes a subclass may set:

    * ``saves_inputs`` (default True): backward reads the input arrays through
      ``self.xs``; they are kept and guarded against in-place edits. Set False
      when backward needs only shapes (Add, Reshape, ...), to keep less.
    * ``saves_output`` (default False): backward reads the output through
      ``self.y`` (Exp, Tanh, Sigmoid, ...).
    * ``drawn``: the attributes a graph drawing shows under the operation's
      name, e.g. ``("axis",)``; an entry ``(attribute, label)`` shows it
      under another name.
    * ``broadcasts`` (default False): the operation combines its inputs
      element by element with numpy's broadcasting (Add, Mul, Maximum, ...);
      where it broadcast an input, a drawing shows the book's Repeat node.

    Any other array backward reads is kept with :meth:`save`.

    Writing an operation:

    >>> import numpy as np, minigrad as mg
    >>> class Cube(mg.Function):
    ...     def forward(self, x):
    ...         return x ** 3
    ...     def backward(self, gy):
    ...         x, = self.xs
    ...         return gy * 3 * x * x
    >>> x = mg.Variable(np.array([1.0, 2.0]))
    >>> y = Cube()(x)
    >>> y.backward(np.ones(2))
    >>> x.grad
    variable([ 3., 12.])
    """

    saves_inputs = True
    saves_output = False
    drawn = ()
    broadcasts = False

    # Set when recorded; class-level defaults keep unrecorded calls cheap.
    inputs = None          # the inputs: Variables, and plain operands as arrays
    # With several outputs, weak references to them (the backward pass gathers
    # their gradients); one output needs none: the pass reaches an operation
    # through its output.
    outputs = None
    generation = 0
    scope = ()
    _held = None           # the leaf arrays this node keeps read-only (a saved.Hold)
    _saved = ()            # the names of the attributes holding saved arrays
    _released = False
    created_at = None      # "file:line in func" of the user code, recorded in anomaly mode only

    @property
    def name(self) -> str:
        return type(self).__name__

    def forward(self, *xs):
        raise NotImplementedError(f"{self.name}.forward is not defined")

    def backward(self, *gys):
        raise NotImplementedError(
            f"{self.name}.backward is not defined: this operation cannot be differentiated")

    def backward_graph(self, *gys):
        """The backward of ``backward(create_graph=True)``. The engine calls it
        with Variables in ``self.xs`` (the inputs) and ``self.y`` (the output),
        so that ``backward``, run here on them, records the gradient's own graph.

        Override it when ``backward`` cannot run on Variables (a fused
        operation whose backward is an array loop) or reads arrays kept with
        :meth:`save`: return the same gradients, computed by recorded operations."""
        return self.backward(*gys)

    # ------------------------------------------------------------------ call
    def apply(self, *inputs):
        """Run the operation on ``inputs`` (Variables, arrays or numbers) and,
        if some input requires a gradient and recording is on, record it.
        ``f(x)`` is ``f.apply(x)``."""
        if state.raw_backward:
            # Inside an ordinary backward pass: arrays in, arrays out, no graph.
            return self.forward(*[x.data if isinstance(x, Variable) else x for x in inputs])
        arrays, gen, plain = [], -1, False   # gen: the newest among inputs wanting a gradient
        for x in inputs:
            if isinstance(x, Variable):
                arrays.append(x.data)
                if x.requires_grad and x.generation > gen:
                    gen = x.generation
            else:
                arrays.append(x)
                plain = plain or type(x) is not np.ndarray   # a number, a list, a cupy array
        if plain:
            arrays = _as_arrays(arrays)
            inputs = tuple([x if isinstance(x, Variable) else a for x, a in zip(inputs, arrays)])
        record = gen >= 0 and state.enable_backprop
        if record:
            if self.inputs is not None:
                raise GraphError(f"{self.name}: this Function instance already recorded a call; "
                                 "create a new instance for each call, e.g. Mul()(a, b)")
            self.inputs = inputs   # before forward: save() keeps arrays only when recording
        try:
            ys = self.forward(*arrays)
        except (ValueError, TypeError, IndexError) as e:
            raise explain.forward_error(self, e, arrays) from e
        if state.detect_anomaly:
            self.created_at = anomaly.creation_site()
            anomaly.check_forward(self, arrays, ys)
        if record:
            return self._record(arrays, ys, gen)
        outputs = tuple([Variable(y, requires_grad=False) for y in ys]) if type(ys) is tuple \
            else (Variable(ys, requires_grad=False),)
        if state.recorder is not None and self.inputs is None:
            self._record_constant(inputs, outputs)
        return outputs if type(ys) is tuple else outputs[0]

    def _record_constant(self, inputs, outputs):
        """While a compiled step records: an operation that needs no gradient
        (a cast of the batch, a draw for its labels) is replayed too, since it
        computes from each call's data. Its outputs name it as their creator,
        so that the step knows they were computed; no gradient flows to them."""
        self.inputs = inputs
        for out in outputs:
            out.creator = self
        state.recorder.record(self, outputs)

    __call__ = apply

    def _record(self, arrays, ys, gen):
        """Make the output Variables, link them to this operation, and keep
        what backward reads."""
        self.generation = gen
        outputs = tuple([Variable(y) for y in ys]) if type(ys) is tuple else (Variable(ys),)
        for out in outputs:
            out.creator, out.generation = self, gen + 1
        if len(outputs) > 1:
            self.outputs = tuple([weakref.ref(out) for out in outputs])
            # An unused output may be gone by backward time; its zero gradient
            # is built from this.
            self.output_specs = tuple([(y.shape, y.dtype) for y in outputs])
        y = outputs[0].data
        if state.scope:
            self.scope = state.scope
        kept = ()
        if self.saves_inputs:
            self.xs = tuple(arrays)
            self._held = saved.lock(self.inputs, arrays)
            kept = ("xs",)
        if self.saves_output:
            self.y = y
            saved.freeze(y)
            kept += ("y",)
        if kept:
            self._saved = kept + self._saved   # after what forward kept with save()
        if state.recorder is not None:
            state.recorder.record(self, outputs)   # a compiled step replays it later
        return outputs if type(ys) is tuple else outputs[0]

    # --------------------------------------------------- what backward reads
    # ``self.xs`` (the inputs) and ``self.y`` (the output) are plain instance
    # attributes holding arrays; under create_graph, the backward pass swaps in
    # the Variables. When an operation saved nothing, these explain why.
    xs = explain.Unsaved("saves_inputs")
    y = explain.Unsaved("saves_output")

    def save(self, **arrays):
        """Keep arrays that backward reads besides the inputs and the output
        (a mask, a fused operation's buffers): each becomes ``self.<name>``,
        read-only from now on, and ``release()`` drops it with the rest.

        Call it from ``forward`` once the arrays are final. An unrecorded call
        (under ``no_grad``, or on constants only) keeps nothing. Such arrays
        are constants to ``create_graph``: an operation that saves any must
        define ``backward_graph`` to be differentiated twice."""
        if self.inputs is None:
            return
        for name, a in arrays.items():
            setattr(self, name, a)
            saved.freeze(a)
        self._saved += tuple(arrays)

    def take(self, name):
        """Hand a saved array over to backward, writeable, for it to reuse as
        its gradient's buffer; None if an earlier backward (retain_graph) took
        it already."""
        if name not in self._saved:
            return None
        a = self.__dict__.pop(name)
        self._saved = tuple([n for n in self._saved if n != name])
        if type(a) is np.ndarray:
            a.setflags(write=True)  # a buffer forward made and no one else holds
        return a

    @property
    def needs_input_grad(self) -> tuple:
        """Which inputs want a gradient; backward may skip the others' work."""
        return tuple([isinstance(v, Variable) and v.requires_grad for v in self.inputs])

    # --------------------------------------------------------------- memory
    def release(self):
        """Drop the saved arrays (and their read-only guard) after backward; the
        graph's structure stays so it can still be drawn."""
        self._held = None        # gives the leaf arrays back (saved.Hold)
        for name in self._saved:
            delattr(self, name)
        self._saved = ()
        self._released = True

    # --------------------------------------------------------------- errors
    def shape_hint(self, *arrays) -> str | None:
        """Optional advice appended to a shape error (overridden by operations
        whose shape rules are easy to get wrong)."""
        return None

    def __repr__(self):
        return f"<{self.name} generation={self.generation}>"


def _as_arrays(arrays):
    """Plain operands as arrays: Python numbers take the dtype of the first
    array operand, so float32 stays float32."""
    like = next((a for a in arrays if hasattr(a, "dtype") and not isinstance(a, np.generic)),
                None)
    return [backend.as_array(a, like) for a in arrays]
