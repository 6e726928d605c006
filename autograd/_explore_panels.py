"""The explorer's side panels, written once as HTML: what a box, a leaf or a layer did, with its numbers.

A node's panel: its op, forward and VJP formulas (MathML, made here from the formulas' LaTeX with the
`latex2mathml` package), input and output shapes, value and gradient, the gradient it sends to each
input, what it saved for backward (with bytes) and the numerical check of its VJP (`Capture.check`).
A leaf's: its value, gradient and `explain` derivation. A layer box's: its layer rule, the rule's check
against the engine, its outputs and its primitives as a small picture whose boxes open their panels.
Tensors of at most 16 elements show every number; larger ones a heatmap (an inline PNG) with
min/max/norm. In exercise mode what would give an answer away is sealed (`_explore_page.seal`) until
the student has answered.
"""
import base64
import functools
import html
import io
import re

import numpy as np
from latex2mathml import converter

from . import _formula_text as ft
from ._explore_page import seal
from ._explore_svg import render
from ._graph_walk import key_of, number, plural, shape_text
from .explain import explain
from .graph import Edge
from .layer_rules import verify
from .viz import _Scene, _bytes

SMALL = 16
HEATMAP_SIDE = 256  # a heatmap shows at most this many pixel rows and columns
_UNIT_LINE = re.compile(r"^\t+(\w+) \[label=")
_EDGE_LINE = re.compile(r"^\t(\w+) -> (\w+) ")


def _esc(text):
    return html.escape(str(text))


_ENTITY = re.compile(r"&#x0*([0-9A-Fa-f]+);")
_TEXT = re.compile(r"\\text\{([^{}]*)\}")
_SAFE = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


@functools.lru_cache(maxsize=4096)
def _mathml(tex):
    """MathML of `tex`, written compactly: characters instead of numeric entities, no defaults repeated."""
    mathml = converter.convert(tex).replace(' xmlns="http://www.w3.org/1998/Math/MathML" display="inline"', "")
    return _ENTITY.sub(lambda m: _SAFE.get(chr(int(m.group(1), 16)), chr(int(m.group(1), 16))), mathml)


def math_html(piece):
    """A Piece (or LaTeX text) as inline MathML; its plain text where the converter cannot read it."""
    tex = ft.render(piece.raw_tex, tex=True) if isinstance(piece, ft.Piece) else piece
    # inside \text{…} the converter would print an escaped underscore `\_` as it is: give it the plain one
    tex = _TEXT.sub(lambda m: "\\text{" + m.group(1).replace("\\_", "_") + "}", tex)
    try:
        return _mathml(tex)
    except Exception:  # a formula the converter cannot parse still reads as text
        return f"<code>{_esc(piece.text if isinstance(piece, ft.Piece) else tex)}</code>"


def lines_html(lines, mathml=True):
    """Derivation lines [(kind, Piece)]: headings bold, formulas as MathML (as text when not `mathml`: a long
    derivation stays small), notes as text."""
    out = []
    for kind, piece in lines:
        if kind == "head":
            out.append(f"<p class='head'>{_esc(piece.text)}</p>")
        elif kind == "math":
            out.append(f"<p class='math'>{math_html(piece) if mathml else _esc(piece.text)}</p>")
        else:
            out.append(f"<p class='note'>{_esc(piece.text)}</p>")
    return "".join(out)


# -- tensors ---------------------------------------------------------------------------------------
def _palette():
    """Index 0: the gap between tiles; 1…255: blue (negative) through white (0) to red (positive)."""
    colours = [(225, 225, 225)]
    for i in range(255):
        t = i / 254 * 2 - 1
        fade = 1 - abs(t)
        strong = (178, 24, 43) if t > 0 else (33, 102, 172)
        colours.append(tuple(round(255 * fade + c * (1 - fade)) for c in strong))
    return [c for rgb in colours for c in rgb]


_PALETTE = _palette()


def _tiles(array):
    """An array as a 2-d picture: matrices as they are, higher ranks as a grid of their last two axes
    (rows: the leading axes but the last of them, columns: that one), vectors wrapped in rows of 64."""
    if array.ndim < 2:
        flat = array.reshape(-1)
        width = min(64, flat.size)
        padded = np.full(-(-flat.size // width) * width, np.nan)
        padded[:flat.size] = flat
        return padded.reshape(-1, width)
    if array.ndim == 2:
        return array
    h, w = array.shape[-2:]
    lead = array.shape[:-2]
    rows, cols = int(np.prod(lead[:-1])), lead[-1]
    tiles = array.reshape(rows, cols, h, w)
    out = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    for r in range(rows):
        for c in range(cols):
            out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = tiles[r, c]
    return out


def heatmap(array):
    """(data URI of a PNG heatmap, note on what was left out): colour by value, symmetric around 0."""
    from PIL import Image

    picture = _tiles(np.asarray(array, np.float64))
    note = ""
    if picture.shape[0] > HEATMAP_SIDE or picture.shape[1] > HEATMAP_SIDE:
        note = f"first {min(picture.shape[0], HEATMAP_SIDE)} × {min(picture.shape[1], HEATMAP_SIDE)} " \
               f"of {picture.shape[0]} × {picture.shape[1]} pixels shown"
        picture = picture[:HEATMAP_SIDE, :HEATMAP_SIDE]
    limit = np.nanmax(np.abs(picture)) if np.any(np.isfinite(picture)) else 0
    scaled = np.where(np.isnan(picture), 0, 1 + np.round((np.nan_to_num(picture) / (limit or 1) + 1) / 2 * 254))
    image = Image.fromarray(scaled.astype(np.uint8), mode="P")
    image.putpalette(_PALETTE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode(), note


def tensor_html(array, heatmaps=True):
    """Every number of a small tensor as a table; a heatmap with min/max/norm for a larger one."""
    array = np.asarray(array)
    if array.size == 1:
        return f"<p class='value'>{_esc(number(array.reshape(())))}</p>"
    if array.size <= SMALL:
        rows = array.reshape(-1, array.shape[-1]) if array.ndim > 1 else array.reshape(1, -1)
        cells = "".join("<tr>" + "".join(f"<td>{_esc(number(v))}</td>" for v in row) + "</tr>" for row in rows)
        return f"<table class='grid'>{cells}</table>"
    values = np.asarray(array, np.float64)
    stats = (f"<p class='stats'>min {_esc(number(values.min()))} · max {_esc(number(values.max()))} · "
             f"‖·‖ {_esc(number(np.linalg.norm(values)))}</p>")
    if not heatmaps:
        return stats
    uri, note = heatmap(values)
    scale = max(1, min(12, 360 // max(_tiles(values).shape[1], 1)))
    return (f"<img class='heatmap' alt='heatmap' src='{uri}' style='zoom: {scale}'>" + stats
            + (f"<p class='note'>{_esc(note)}</p>" if note else ""))


def _section(title, body, secret=None):
    """A titled part of a panel; sealed (shown once `secret` = question ids are answered) when given."""
    inner = f"<section><h3>{_esc(title)}</h3>{body}</section>"
    return inner if secret is None else secret(inner)


class Panels:
    """`html` {box id: panel HTML}, `questions` (the page's view of them) and `blobs` (sealed HTML that
    panels and questions refer to by index) for one explorer."""

    def __init__(self, scene, level, questions, seed, params):
        self.scene, self.graph, self.capture, self.binder = scene, scene.graph, scene.capture, scene.binder
        self.level, self.params, self.seed = level, params, seed
        self.root = self.binder.of(self.graph.root_key)
        self.exercise = bool(questions)
        self.asked = {}
        for q in questions:
            self.asked.setdefault(q.unit, []).append(q)
        self.html, self._expanded = {}, None
        self.blobs, self._blob_of = [], {}  # sealed HTML, each text once
        for unit in scene.units:
            if unit.kind == "leaf":
                self.html[unit.id] = self._leaf(unit)
            elif unit.kind == "node":
                self.html[unit.id] = self._node(unit.nodes[0], unit.id)
            else:
                self.html[unit.id] = self._box(unit)
                for node in unit.nodes:
                    self.html[f"n{self.graph.step[node]}"] = self._node(node, f"n{self.graph.step[node]}", inner=unit.id)
        self.questions = [self._question(q) for q in questions]

    # -- sealing -------------------------------------------------------------------------------------
    def _hidden(self, *ids):
        """A sealer for HTML that would answer questions `ids` ("all": every question), or None."""
        ids = [str(i) for i in ids]
        if not self.exercise or not ids:
            return None
        return lambda inner: (f"<div class='secret' data-q='{' '.join(ids)}' data-s='{self._seal(inner)}'>"
                              "<p class='note'>hidden until you have answered</p></div>")

    def _seal(self, text):
        """The index of `text`, sealed, in `blobs` (the same text is stored once)."""
        if text not in self._blob_of:
            self._blob_of[text] = len(self.blobs)
            self.blobs.append(seal(text, self.seed))
        return self._blob_of[text]

    def _question_ids(self, kind, key):
        return [q.id for qs in self.asked.values() for q in qs if q.kind == kind and q.where[0] == key]

    def _tensor(self, title, array, kind, key, heatmaps=True):
        if array is None:
            return ""
        return _section(title, tensor_html(array, heatmaps), self._hidden(*self._question_ids(kind, key)))

    # -- the panels ----------------------------------------------------------------------------------
    def _header(self, title, subtitle):
        return f"<h2>{_esc(title)}</h2><p class='sub'>{_esc(subtitle)}</p>"

    def _node(self, node, unit_id, inner=None):
        names, binder, capture = self.scene.names, self.binder, self.capture
        out = Edge(node, 0)
        parts = [self._header(f"#{self.graph.step[node]} {node.title}",
                              f"op {node.name}" + (f" · in {' › '.join(node.scope)}" if node.scope else ""))]
        if inner is not None:
            parts.append(f"<p><a href='#' data-open='{inner}'>↑ back to the layer</a></p>")
        parts += self._ask(unit_id)
        forward = binder.of(out) + ft.EQ + ft.forward(node, binder)
        formulas = [f"<p class='math'>{math_html(forward)}</p>"]
        if node.formula is not None:
            formulas.append(f"<p class='note'>table: y = {math_html(node.formula.tex)}</p>")
        parts.append(_section("forward", "".join(formulas)))
        parts.append(_section("VJP (backward)", self._vjps(node)))
        parts.append(_section("shapes", self._shapes(node)))
        heatmaps = inner is None or self.level == "primitive"
        for slot in range(node.n_outputs):
            key = Edge(node, slot)
            label = names[key]
            parts.append(self._tensor(f"value {label}", capture.value(key), "values", key, heatmaps))
            parts.append(self._tensor(f"gradient ∂{names.root}/∂{label}", capture.grad(key), "grads", key, heatmaps))
        parts.append(self._sends(node, heatmaps))
        parts.append(_section("saved for backward", self._saved(node)))
        parts.append(_section("numerical check of the VJP", self._check(node)))
        return "".join(parts)

    def _vjps(self, node):
        if node.formula is None:
            return f"<p class='note'>{_esc(node.name)} is not in the primitives table (a user Function)</p>"
        rows = []
        names = self.scene.names
        for flow in self.graph.out_edges[node]:
            target = ft.partial(self.root, self.binder.of(flow.key))
            vjp = ft.fill(node, "vjp", self.binder.inputs(node), index=flow.index)
            upstream = ft.partial(self.root, self.binder.of(Edge(node, 0)))
            rows.append(f"<p class='math'>{math_html(target + ft.EQ + vjp)}</p>")
            rows.append(f"<p class='note'>to {_esc(names[flow.key])}; ḡ = {math_html(upstream)}; table: "
                        f"{math_html(ft.vjp_formula(node, flow.index)[1])}</p>")
        return "".join(rows)

    def _shapes(self, node):
        rows = []
        symbols = node.formula.inputs if node.formula is not None else ()
        for i, meta in enumerate(node.in_meta):
            edge = node.edges[i]
            name = self.scene.names[edge] if edge is not None and edge in self.scene.names else "constant"
            symbol = symbols[i] if i < len(symbols) else f"input {i}"
            what = shape_text(meta[0]) + f" {np.dtype(meta[1]).name}" if meta is not None else "a number"
            rows.append(f"<li>in {_esc(symbol)} = {_esc(name)}: {_esc(what)}</li>")
        for slot, (shape, dtype) in enumerate(node.out_meta):
            rows.append(f"<li>out {_esc(self.scene.names[Edge(node, slot)])}: {_esc(shape_text(shape))} "
                        f"{np.dtype(dtype).name}</li>")
        return f"<ul>{''.join(rows)}</ul>"

    def _sends(self, node, heatmaps):
        rows = []
        for flow in self.graph.out_edges[node]:
            if flow in self.capture.flows:
                rows.append(f"<h4>to {_esc(self.scene.names[flow.key])}</h4>"
                            + tensor_html(self.capture.flows[flow][1], heatmaps))
        if not rows:
            return ""
        return _section("gradient sent to each input", "".join(rows), self._hidden("all"))

    def _saved(self, node):
        if node.released:
            return "<p>freed by backward()</p>"
        if not node.saved:
            return "<p>nothing: its VJP needs no value of the forward</p>"
        words = {"output": "its output y", "input": "an input", "value": "an array"}
        rows = [f"<li>{_esc(words['output'] if kind == 'output' else symbol or words[kind])} "
                f"{_esc(shape_text(shape))}</li>" for symbol, kind, shape in node.saved_symbols()]
        return f"<ul>{''.join(rows)}</ul><p>{_esc(_bytes(node.saved_nbytes))} in all</p>"

    def _check(self, node):
        error, why = self.capture.check(node)
        if error is None:
            return f"<p class='note'>not checked: {_esc(why)}</p>"
        verdict = "ok" if error < 1e-5 else "doubtful" if error < 1e-2 else "wrong?"
        return (f"<p class='check {verdict.rstrip('?')}'>relative error {error:.1e}: {verdict}</p><p class='note'>"
                "⟨v, J·u⟩ by central differences against ⟨Jᵀ·v, u⟩ from the VJP, in float64</p>")

    def _leaf(self, unit):
        leaf = unit.leaf
        key = key_of(leaf)
        name = self.scene.names[key]
        parts = [self._header(name, f"leaf {shape_text(leaf.shape)} {leaf.dtype.name}: its gradient accumulates "
                                    "into .grad")]
        parts += self._ask(unit.id)
        parts.append(self._tensor("value", self.capture.value(key), "values", key))
        parts.append(self._tensor(f"gradient ∂{self.scene.names.root}/∂{name}", self.capture.grad(key), "grads", key))
        grad = self.capture.grad(key)
        index = None if grad is None or np.size(grad) == 1 else np.unravel_index(np.argmax(np.abs(grad)), np.shape(grad))
        report = explain(self.graph.root, leaf, self.params, index=index, level=self.level)
        title = "derivation (explain)" + ("" if index is None else f" of its largest entry {name}{list(map(int, index))}")
        parts.append(_section(title, lines_html(report.lines, mathml=False), self._hidden("all")))
        return "".join(parts)

    def _box(self, unit):
        steps = sorted(self.graph.step[node] for node in unit.nodes)
        parts = [self._header(unit.scope[-1], f"layer · {plural(len(unit.nodes), 'primitive')}, engine steps "
                                              f"#{steps[0]}–#{steps[-1]} · in {' › '.join(unit.scope)}")]
        parts += self._ask(unit.id)
        for call, members in unit.calls:
            parts.append(_section(f"layer rule of {call.rule.name}", self._rule(call, members)))
        for node in unit.nodes:
            for slot in range(node.n_outputs):
                key = Edge(node, slot)
                leaves = key == self.graph.root_key or any(
                    self.scene.unit_of[flow.node] is not unit for flow in self.graph.consumers.get(key, ()))
                if leaves:
                    name = self.scene.names[key]
                    parts.append(self._tensor(f"value {name}", self.capture.value(key), "values", key))
                    parts.append(self._tensor(f"gradient ∂{self.scene.names.root}/∂{name}", self.capture.grad(key),
                                              "grads", key))
        parts.append(_section("expanded into its primitives (click one)", self._primitives(unit),
                              self._hidden("all")))
        return "".join(parts)

    def _rule(self, call, members):
        rule = call.rule
        rows = [f"<p class='math'>{math_html(rule.forward[1])}</p>"]
        checks = verify(call, members, self.capture)
        for p in call.inputs():
            text, tex, gloss = rule.vjps[p]
            check = checks[p]
            agreement = f"not compared: {check.why}" if check.error is None else \
                f"agrees with the engine to {number(check.error, 2)}" if check.agrees else \
                f"DIFFERS from the engine by {number(check.error, 2)}"
            rows.append(f"<p class='math'>{math_html(tex)}</p><p class='note'>{_esc(gloss)}; {_esc(agreement)}</p>")
        return "".join(rows)

    def _primitives(self, unit):
        """The box's primitives drawn as in `viz.draw` (expanded), each clickable."""
        if self._expanded is None:
            self._expanded = _Scene(self.graph.root, self.params, collapse=(), group_scopes=False)
        ids = {f"n{self.graph.step[node]}" for node in unit.nodes}
        body = []
        for line in self._expanded.body():
            unit_line, edge_line = _UNIT_LINE.match(line), _EDGE_LINE.match(line)
            if line.startswith(("\tgraph [", "\tnode [", "\tedge [")) or (unit_line and unit_line.group(1) in ids) \
                    or (edge_line and {edge_line.group(1), edge_line.group(2)} <= ids):
                body.append(line)
        return f"<div class='mini'>{render(body)}</div>"

    # -- questions -----------------------------------------------------------------------------------
    def _ask(self, unit_id):
        """The answer boxes of the questions this panel asks."""
        return [f"<div class='question' data-q='{q.id}'><p>{math_html(q.prompt)} = "
                f"<input type='text' inputmode='decimal' aria-label='your answer'> <button class='check'>Check</button>"
                f" <span class='verdict'></span></p><div class='hint'></div><div class='derivation'></div></div>"
                for q in self.asked.get(unit_id, ())]

    def _question(self, q):
        return {"id": q.id, "unit": q.unit, "kind": q.kind, "prompt": math_html(q.prompt),
                "answer": seal(repr(q.answer), self.seed), "hint": self._seal(lines_html(q.hint)),
                "derivation": self._seal(lines_html(q.derivation, mathml=False))}

