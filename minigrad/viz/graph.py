"""Which nodes are drawn, in which order, under which ids, in which cluster.

Ids come from a deterministic walk of the recorded graph, never from ``id()``
or from hash order, so the same code draws byte-identical DOT on every run and
under every ``PYTHONHASHSEED``. Dicts here are keyed by Variables and
Functions (identity), which is safe because they are only looked up, never
iterated for output: what reaches the picture is in list order.
"""
from __future__ import annotations

from ..core.variable import Variable
from ..functions.shape import Branch
from .labels import is_constant

def repeated_axes(small, big) -> tuple:
    """The (axis, times) pairs by which numpy broadcasts shape ``small`` to
    ``big``: the new leading axes, then the axes of length 1 that grow.

    >>> repeated_axes((4,), (10, 4)), repeated_axes((3, 1), (2, 3, 5)), repeated_axes((2,), (2,))
    (((0, 10),), ((0, 2), (2, 5)), ())
    """
    lead = len(big) - len(small)
    axes = [(i, big[i]) for i in range(lead)]
    axes += [(lead + i, big[lead + i]) for i, n in enumerate(small)
             if n == 1 and big[lead + i] != 1]
    return tuple(axes)


class Node:
    """One drawn node. ``kind`` is "var", "op", "branch" or "repeat" (both
    synthesized by the drawer) or "box" (a collapsed scope); ``obj`` the
    Variable or Function, or for a box its scope path; ``cluster`` the scope
    path it is drawn inside."""

    __slots__ = ("id", "kind", "obj", "cluster", "info")

    def __init__(self, id, kind, obj, cluster, info=None):
        self.id, self.kind, self.obj, self.cluster, self.info = id, kind, obj, cluster, info

    def __repr__(self):
        return f"<Node {self.id} {self.kind}>"


def walk(outputs) -> list:
    """The Functions that produced ``outputs``, every input's creator before
    its consumers.

    An iterative post-order depth-first search from the outputs, following each
    Function's inputs in order: deterministic, topological and without
    recursion, so a chain of a million operations draws as well as a short one.

    >>> import numpy as np, minigrad as mg
    >>> x = mg.Variable(np.ones(2))
    >>> [f.name for f in walk([(x * 2).sum()])]
    ['Mul', 'Sum']
    """
    order = []
    seen = {}
    for y in outputs:
        root = y.creator
        if root is None or root in seen:
            continue
        seen[root] = True
        stack = [(root, 0)]
        while stack:
            f, i = stack[-1]
            inputs = f.inputs or ()
            while i < len(inputs):
                c = inputs[i].creator if isinstance(inputs[i], Variable) else None
                i += 1
                if c is not None and c not in seen:
                    seen[c] = True
                    stack[-1] = (f, i)      # resume after this input later
                    stack.append((c, 0))
                    break
            else:
                stack.pop()
                order.append(f)
    return order


def _collapse_rule(collapse):
    """A predicate on scope names from the ``collapse`` option."""
    if collapse is None or collapse is False:
        return None
    if collapse is True:
        return lambda name: True
    if isinstance(collapse, str):
        return lambda name: name == collapse
    if callable(collapse):
        return collapse
    names = frozenset(collapse)
    return lambda name: name in names


def _box_path(scope, rule):
    """The outermost collapsed scope a Function lies in, as a path, or None."""
    if rule is not None:
        for i, name in enumerate(scope):
            if rule(name):
                return scope[:i + 1]
    return None


class Graph:
    """The drawn graph of ``outputs``: ``nodes`` and ``edges``, both in drawing
    order. An edge is (source id, target id, Variable or None): the Variable of
    an arrow that stands for it (``compact``).

    Where a Variable feeds two or more drawn uses, a Branch node is inserted
    (the book's Branch: its backward sums the incoming gradients, which is what
    the engine does for any Variable used twice), unless the Variable already
    feeds an explicit ``Branch`` operation. Where an elementwise operation
    broadcast an input that needs a gradient (the bias of ``x @ W + b``), a
    Repeat node is inserted on that edge (the book's Repeat: its backward sums
    the copies, which is what the engine does for a broadcast input).
    """

    def __init__(self, outputs, branches=True, collapse=None, clusters=True, compact=False,
                 repeats=True):
        outputs = list(dict.fromkeys(outputs))  # drop repeats, keep order
        self.outputs = outputs
        self.requested = dict.fromkeys(outputs, True)
        self.functions = walk(outputs)
        # An operation keeps a plain operand as an array; drawn, each use is
        # a constant node of its own.
        self.inputs = {f: tuple([x if isinstance(x, Variable) else Variable(x, requires_grad=False)
                                 for x in f.inputs]) for f in self.functions}
        self._clusters = clusters
        rule = _collapse_rule(collapse)
        self.box_of = {f: _box_path(f.scope, rule) for f in self.functions}
        self._count_uses()
        self.nodes, self.edges = [], []
        self._ids = {}       # Variable, Function or box path -> node id
        self._counts = {}    # id prefix -> next number
        self._number()
        self._note_gradients()
        self._connect()
        if repeats:
            self._insert_repeats()
        if branches:
            self._insert_branches()
        if compact:
            self._fold()

    # ------------------------------------------------------------ structure
    def _target(self, f):
        """What an edge into or out of ``f`` attaches to: f, or its box path."""
        box = self.box_of[f]
        return f if box is None else box

    def _internal(self, x, target):
        """True when ``x`` is made and used inside the same collapsed box."""
        c = x.creator
        return isinstance(target, tuple) and c in self.box_of and self.box_of[c] == target

    def _count_uses(self):
        # Variable -> list of the targets of its uses from outside its own box,
        # one per input slot (x * x uses x twice) but one per box.
        self.uses = {}
        self.internal = {}
        self._made = {v.creator: v for v in self.outputs if v.creator is not None}
        for f in self.functions:
            t = self._target(f)
            for x in self.inputs[f]:
                if x.creator is not None:
                    self._made[x.creator] = x
                if self._internal(x, t):
                    self.internal[x] = True
                    continue
                uses = self.uses.setdefault(x, [])
                if isinstance(t, tuple) and t in uses:
                    continue
                uses.append(t)

    def hidden(self, v) -> bool:
        """A Variable made and only used inside one collapsed box is not drawn."""
        return v in self.internal and v not in self.uses and v not in self.requested

    def drawn_outputs(self, f):
        """The outputs of ``f`` that are drawn: alive and used or asked for.
        (An operation with one output keeps no reference to it: it is the
        Variable made by ``f`` among those used or asked for.)"""
        if f.outputs is None:
            made = self._made.get(f)
            candidates = () if made is None else (made,)
        else:
            candidates = [ref() for ref in f.outputs]
        return [v for v in candidates if v is not None and (v in self.uses or v in self.requested)
                and not self.hidden(v)]

    # ------------------------------------------------------------ numbering
    def _new(self, prefix, key, kind, obj, cluster, info=None):
        n = self._counts.get(prefix, 0)
        self._counts[prefix] = n + 1
        node = Node(f"{prefix}{n}", kind, obj, cluster if self._clusters else (), info)
        self._ids[key] = node.id
        self.nodes.append(node)
        return node

    def _cluster_of_var(self, v):
        """A Variable is drawn with its creator; a leaf with its uses when they
        all lie in one scope (x_t of an unrolled RNN sits in its step)."""
        c = v.creator
        if c is not None and c in self.box_of:
            box = self.box_of[c]
            return c.scope if box is None else box[:-1]
        common = None
        for t in self.uses.get(v, ()):
            where = t[:-1] if isinstance(t, tuple) else t.scope
            if common is None:
                common = where
            else:
                n = 0
                while n < min(len(common), len(where)) and common[n] == where[n]:
                    n += 1
                common = common[:n]
        return common or ()

    def _add_var(self, v):
        if v not in self._ids and not self.hidden(v):
            self._new("v", v, "var", v, self._cluster_of_var(v),
                      {"output": v in self.requested})

    def _number(self):
        sizes = {}
        for f in self.functions:
            box = self.box_of[f]
            if box is not None:
                sizes[box] = sizes.get(box, 0) + 1
        for f in self.functions:
            for x in self.inputs[f]:
                self._add_var(x)
            box = self.box_of[f]
            if box is None:
                self._new("f", f, "op", f, f.scope)
            elif box not in self._ids:
                self._new("s", box, "box", box, box[:-1], {"ops": sizes[box]})
            for v in self.drawn_outputs(f):
                self._add_var(v)
        for y in self.outputs:
            self._add_var(y)

    def _note_gradients(self):
        """Mark the drawn Variables that are a drawn leaf's ``.grad`` (after
        ``backward(create_graph=True)``), and the operations that made them, so
        that their labels can say so."""
        owner = {}
        for node in self.nodes:
            v = node.obj
            if node.kind == "var" and v.creator is None and v.grad is not None:
                owner.setdefault(v.grad, v)
        if not owner:
            return
        for node in self.nodes:
            if node.kind == "var" and node.obj in owner:
                node.info["grad_of"] = owner[node.obj]
            elif node.kind == "op" and node.obj.outputs is None:
                out = self._made.get(node.obj)
                if out is not None and out in owner:
                    node.info = {"grad_of": owner[out]}

    def _connect(self):
        seen = {}  # edges touching a box are drawn once
        for f in self.functions:
            t = self._target(f)
            tid = self._ids[t]
            for x in self.inputs[f]:
                if not self._internal(x, t):
                    self._edge((self._ids[x], tid), isinstance(t, tuple), seen)
            for v in self.drawn_outputs(f):
                self._edge((tid, self._ids[v]), isinstance(t, tuple), seen)

    def _edge(self, edge, once, seen):
        if once:
            if edge in seen:
                return
            seen[edge] = True
        self.edges.append(edge + (None,))

    # ------------------------------------------------------------ repeats
    def _insert_repeats(self):
        """A Repeat node on each edge where an operation broadcast its input."""
        by_id = {node.id: node for node in self.nodes}
        before = {}  # op node id -> the Repeat nodes drawn just before it
        edges = []
        for src, dst, var in self.edges:
            x, f = by_id[src].obj, by_id[dst].obj
            axes = ()
            if by_id[src].kind == "var" and by_id[dst].kind == "op" \
                    and f.broadcasts and not is_constant(x):
                out = self._made.get(f) if f.outputs is None else f.outputs[0]()
                if out is not None:
                    axes = repeated_axes(x.shape, out.shape)
            if not axes:
                edges.append((src, dst, var))
                continue
            n = self._counts.get("r", 0)
            self._counts["r"] = n + 1
            r = Node(f"r{n}", "repeat", None, by_id[dst].cluster,
                     {"axes": axes, "op": f.name, "from": x.shape, "to": out.shape})
            before.setdefault(dst, []).append(r)
            edges += [(src, r.id, var), (r.id, dst, None)]
        nodes = []
        for node in self.nodes:
            nodes += before.get(node.id, [])
            nodes.append(node)
        self.nodes, self.edges = nodes, edges

    # ------------------------------------------------------------ branches
    def _insert_branches(self):
        fanout = {}
        for src, _, _ in self.edges:
            fanout[src] = fanout.get(src, 0) + 1
        branch_of = {}  # variable node id -> its Branch node
        nodes = []
        for node in self.nodes:
            nodes.append(node)
            if node.kind != "var" or fanout.get(node.id, 0) < 2:
                continue
            if any(isinstance(t, Branch) for t in self.uses.get(node.obj, ())):
                continue  # the graph already draws its own Branch here
            b = Node(f"b{len(branch_of)}", "branch", None, node.cluster,
                     {"n": fanout[node.id]})
            branch_of[node.id] = b
            nodes.append(b)
        self.nodes = nodes
        edges, started = [], {}
        for src, dst, _ in self.edges:
            b = branch_of.get(src)
            if b is None:
                edges.append((src, dst, None))
                continue
            if b.id not in started:  # at the first use: variable -> Branch, once
                started[b.id] = True
                edges.append((src, b.id, None))
            edges.append((b.id, dst, None))
        self.edges = edges

    # ------------------------------------------------------------ compact
    def _fold(self):
        """Draw each unnamed intermediate Variable as labelled arrows from its
        producer to its consumers, as the book does, instead of as a node."""
        folded = {}
        for node in self.nodes:
            v = node.obj
            if node.kind == "var" and v.creator is not None and not v.name \
                    and not node.info["output"]:
                folded[node.id] = node
        producer = {}
        for src, dst, _ in self.edges:
            if dst in folded:
                producer[dst] = src
        edges = []
        for src, dst, var in self.edges:
            if dst in folded:
                continue  # replaced by the arrows out of the folded Variable
            if src in folded:
                edges.append((producer[src], dst, folded[src].obj))
            else:
                edges.append((src, dst, var))
        self.edges = edges
        self.nodes = [node for node in self.nodes if node.id not in folded]
