"""Writing a :class:`~minigrad.viz.graph.Graph` as DOT source.

Variables are orange ellipses (constants grey and dashed, the outputs asked
for with a heavy border), operations blue rounded boxes, Branch nodes small
circles (dashed where the drawer added them), the Repeat nodes the drawer adds
for broadcasts dashed boxes, collapsed scopes 3-D boxes.
Nodes are declared inside their clusters first and every edge comes after,
because Graphviz puts a node in the subgraph where it is first mentioned.
"""
from __future__ import annotations

from ..functions.shape import Branch
from . import labels

STYLE = {
    "var": 'shape=ellipse, style=filled, fillcolor="#fde3bf", color="#b7791f"',
    "const": 'shape=ellipse, style="filled,dashed", fillcolor="#f2f2f2", color="#8c8c8c"',
    "op": 'shape=box, style="rounded,filled", fillcolor="#d6e9f8", color="#3f73a8"',
    # The book's Repeat where numpy broadcast an input: dashed, added by the drawer.
    "repeat": 'shape=box, style="rounded,filled,dashed", fillcolor="#d6e9f8", color="#3f73a8"',
    # The book's Branch: a small node; dashed where the drawer added it.
    "branch": 'shape=circle, style="filled,dashed", fillcolor="#d6e9f8", color="#3f73a8", '
              'fontsize=8, width=0.5',
    "branch_op": 'shape=circle, style=filled, fillcolor="#d6e9f8", color="#3f73a8", '
                 'fontsize=8, width=0.5',
    "box": 'shape=box3d, style=filled, fillcolor="#dcefd6", color="#4f8a3c"',
}


def quote(text: str) -> str:
    r"""A DOT string literal; newlines become centred line breaks.

    >>> print(quote('say "hi"\nback\\slash'))
    "say \"hi\"\nback\\slash"
    """
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class _Group:
    """The nodes of one cluster and its nested clusters, in drawing order."""

    def __init__(self, name):
        self.name, self.nodes, self.children = name, [], {}

    def child(self, name):
        group = self.children.get(name)
        if group is None:
            group = self.children[name] = _Group(name)
        return group


def write(graph, o) -> str:
    """DOT source for ``graph`` under the label options ``o`` (a dict)."""
    root = _Group(None)
    for node in graph.nodes:
        group = root
        for name in node.cluster:
            group = group.child(name)
        group.nodes.append(node)
    lines = [
        "digraph minigrad {",
        f'  graph [rankdir={o["rankdir"]}, fontname="Helvetica", fontsize=10, nodesep=0.2, '
        "ranksep=0.3];",
        '  node [fontname="Helvetica", fontsize=10, height=0.3, margin="0.08,0.03"];',
        '  edge [arrowsize=0.6, color="#555555", fontname="Helvetica", fontsize=8];',
    ]
    _write_group(root, lines, "  ", [0], o)
    for src, dst, var in graph.edges:
        label = "" if var is None else f" [label={quote(labels.variable_label(var, o))}]"
        lines.append(f"  {src} -> {dst}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _write_group(group, lines, indent, counter, o):
    for node in group.nodes:
        lines.append(f"{indent}{node.id} [{node_attributes(node, o)}];")
    for child in group.children.values():
        lines.append(f"{indent}subgraph cluster_{counter[0]} {{")
        counter[0] += 1
        inner = indent + "  "
        lines.append(f'{inner}label={quote(child.name)}; style="rounded,dashed"; '
                     'color="#999999"; fontcolor="#555555"; labeljust=l;')
        _write_group(child, lines, inner, counter, o)
        lines.append(f"{indent}}}")


def node_attributes(node, o) -> str:
    if node.kind == "var":
        v = node.obj
        style = STYLE["const" if labels.is_constant(v) else "var"]
        extra = ", penwidth=2" if node.info["output"] else ""
        return f"label={quote(labels.variable_label(v, o, node.info))}, {style}{extra}"
    if node.kind == "op":
        f = node.obj
        style = STYLE["branch_op" if isinstance(f, Branch) else "op"]
        label = labels.op_label(f, o, node.info)
        tooltip = labels.op_tooltip(f, o, node.info)
        extra = "" if tooltip is None else f", tooltip={quote(tooltip)}"
        return f"label={quote(label)}, {style}{extra}"
    if node.kind == "repeat":
        i = node.info
        why = (f"added by the drawer: {i['op']} broadcast {i['from']} to {i['to']}; "
               "backward sums the copies")
        return f"label={quote(labels.repeat_label(i, o))}, {STYLE['repeat']}, tooltip={quote(why)}"
    if node.kind == "branch":
        n = node.info["n"]
        return (f'label="Branch", {STYLE["branch"]}, '
                f"tooltip={quote(f'added by the drawer: {n} uses, backward sums their gradients')}")
    path = node.obj
    return f"label={quote(path[-1] + chr(10) + str(node.info['ops']) + ' ops')}, {STYLE['box']}"
