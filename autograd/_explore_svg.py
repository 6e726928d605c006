"""The explorer's picture: viz's backward graph with every value and gradient written as a *slot*.

`SlotScene` is viz's `_Scene` (same units, clusters, labels and edges, so the same picture as
`viz.draw`) except that the data and gradient rows of each tensor come from a `rows(key, shape)`
callback and each edge label goes through an `edge(source id, target id, label)` callback. Both write
each changing text as a slot: `slot(code, text)` puts the text in an ink whose colour is the slot's
number with alpha 254/255 (an edge label gets it as its fontcolor), laid out at its widest state. `tag_svg` finds those
texts in the rendered SVG by their ink, gives them back the normal colour and a `data-slot`
attribute, and marks node and edge groups with the unit ids they draw, so the page's script can
rewrite every slot and restyle every box at each step while Graphviz's layout stays fixed.
"""
import html
import re

from .viz import Drawing, _Scene

_SLOT_INK = re.compile(r' fill="#([0-9a-f]{6})" fill-opacity="0\.99\d*"')
_NODE = re.compile(r'<g id="node\d+" class="node">\n<title>([^<]*)</title>')
_EDGE = re.compile(r'<g id="edge\d+" class="edge">\n<title>([^<]*)&#45;&gt;([^<]*)</title>')
_EDGE_LINE = re.compile(r'^\t(\w+) -> (\w+) \[label="((?:[^"\\]|\\.)*)"(.*)\]\n$')


def ink(code):
    """The colour that names slot `code` (0, 1, …) in the SVG."""
    return f"#{code + 1:06x}fe"


def slot(code, text):
    """`text` written in the ink of slot `code`."""
    return f'<font color="{ink(code)}">{html.escape(text)}</font>'


def _dot_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SlotScene(_Scene):
    """viz's picture of the graph, its tensor rows given by `rows(key, shape)` (HTML rows with slots) and
    its edge labels by `edge(source, target, label)` -> (slot code, label)."""

    def __init__(self, root, params, rows, edge, **options):
        self.rows, self.edge = rows, edge
        super().__init__(root, params, **options)

    def _value_rows(self, key, shape, step):
        return self.rows(key, shape)

    def _edges(self, step):
        lines = []
        for line in super()._edges(step):
            source, target, label, rest = _EDGE_LINE.match(line).groups()
            code, label = self.edge(source, target, label.replace('\\"', '"').replace("\\\\", "\\"))
            lines.append(f'\t{source} -> {target} [label={_dot_string(label)}{rest}, fontcolor="{ink(code)}"]\n')
        return lines


def tag_svg(svg):
    """The rendered SVG element (no XML prologue) with slots, node groups (`data-unit`) and edge groups
    (`data-from`, `data-to`) marked."""
    svg = svg[svg.index("<svg"):]
    svg = _NODE.sub(lambda m: m.group(0).replace('class="node"', f'class="node" data-unit="{m.group(1)}"'), svg)
    svg = _EDGE.sub(lambda m: m.group(0).replace(
        'class="edge"', f'class="edge" data-from="{m.group(1)}" data-to="{m.group(2)}"'), svg)
    return _SLOT_INK.sub(lambda m: f' data-slot="{int(m.group(1), 16) - 1}"', svg)


def render(body):
    """SVG text of DOT statements, tagged for the page."""
    return tag_svg(Drawing(name="backward", body=body).pipe(format="svg", encoding="utf-8"))
