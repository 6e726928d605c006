"""Exercise questions for the explorer: which numbers to hide, their answers, hints and derivations.

`choose` picks, with a seeded generator, up to `count` of the numbers an exercise asks for:

    grads    ∂L/∂t for a tensor t of the picture (a leaf, a box's output), element by element
    locals   ∂y/∂x along one edge of a primitive (∂y[k]/∂x[i] for tensors: one entry of the Jacobian)
    values   the forward value of a box's output, element by element

(a tensor of more than 16 elements offers 4 random elements).

Each `Question` carries its answer (the captured number), a hint (the VJP formula, or the forward formula
for values) and a derivation (for a leaf, `explain`'s; else the chain rule step with its numbers), as
`(kind, Piece)` lines like a derivation's, so the panels write them the same way.
"""
from typing import NamedTuple

import numpy as np

from . import _formula_text as ft
from ._formula_text import EQ, TIMES, Piece
from ._graph_walk import key_of
from .explain import explain
from .graph import AccumulateGrad, Edge

EXERCISES = ("grads", "locals", "values")
SMALL = 16  # a tensor of at most this many elements is asked about element by element (its grid shows them)
SAMPLE = 4  # and offers this many random elements of a larger one
PARTIALS = 4096  # locals of tensors: one VJP per output element, so outputs of at most this many elements


class Question(NamedTuple):
    """One hidden number. where: (graph position or Flow, element index or None); unit: the box whose panel
    asks it; prompt: a Piece; hint, derivation: [(kind, Piece)]."""

    id: int
    kind: str
    where: tuple
    unit: str
    answer: float
    prompt: Piece
    hint: list
    derivation: list


def _element(rng, shape):
    """None for one element, else a random index into `shape`."""
    if int(np.prod(shape)) == 1:
        return None
    return tuple(int(rng.integers(n)) for n in shape)


def _at(array, index):
    return float(np.asarray(array).reshape(()) if index is None else np.asarray(array)[index])


class _Asker:
    """The questions of one kind for a scene: `sites()` lists what could be asked (cheaply, with the step at
    which the student meets it), `ask(site)` builds the question (None when there is nothing to ask)."""

    def __init__(self, scene, timeline, params, level, rng, ask):
        self.scene, self.graph, self.capture, self.binder = scene, scene.graph, scene.capture, scene.binder
        self.timeline, self.params, self.level, self.rng = timeline, params, level, rng
        self.root = self.binder.of(self.graph.root_key)
        self.ask = None if ask is None else {key_of(tensor) for tensor in ask}

    def _asked(self, *keys):
        return self.ask is None or any(key in self.ask for key in keys)

    def _positions(self, leaves):
        """(graph position, its box) of every tensor drawn in the picture and asked about: leaves (if
        `leaves`), node outputs, the outputs of layer boxes."""
        scene, graph = self.scene, self.graph
        out = [(key_of(leaf), scene.unit_of[key_of(leaf)].id) for leaf in graph.leaves] if leaves else []
        for node in graph.nodes:
            unit = scene.unit_of[node]
            for slot in range(node.n_outputs):
                key = Edge(node, slot)
                if unit.kind == "node" or key == graph.root_key or any(
                        scene.unit_of[flow.node] is not unit for flow in graph.consumers.get(key, ())):
                    out.append((key, unit.id))
        return [(key, unit) for key, unit in out if self._asked(key)]

    def _elements(self, key):
        """Each element of a small tensor (None for one number), a few random elements of a larger one."""
        shape = _shape(key)
        size = int(np.prod(shape))
        if size == 1:
            return [None]
        if size <= SMALL:
            return list(np.ndindex(*shape))
        picked = sorted(self.rng.choice(size, size=SAMPLE, replace=False))
        return [tuple(int(i) for i in np.unravel_index(flat, shape)) for flat in picked]

    # -- grads --------------------------------------------------------------------------------------------
    def grads_sites(self):
        for key, unit in self._positions(leaves=True):
            flows = self.graph.consumers.get(key, ())
            if key != self.graph.root_key and flows and self.capture.grad(key) is not None:
                for index in self._elements(key):
                    yield (key, unit, index), max(self.timeline.sent(flow.node) for flow in flows)

    def grads(self, site):
        key, unit, index = site
        return "grads", (key, index), unit, _at(self.capture.grad(key), index), \
            ft.partial(self.root, self.binder.of(key, index)), self._grad_hint(key), self._grad_derivation(key, index)

    # -- values -------------------------------------------------------------------------------------------
    def values_sites(self):
        for key, unit in self._positions(leaves=False):
            for index in self._elements(key):
                yield (key, unit, index), self.timeline.made(key)

    def values(self, site):
        key, unit, index = site
        node = key.node
        value = _at(self.capture.value(key), index)
        formula = self.binder.of(Edge(node, 0)) + EQ + ft.forward(node, self.binder)
        derivation = [("math", formula)]
        if node.formula is not None and index is None:
            derivation.append(("math", self.binder.of(key) + EQ + ft.fill(
                node, "forward", self.binder.inputs(node, values=True)) + EQ + ft.num(value)))
        else:
            derivation.append(("math", self.binder.of(key, index) + EQ + ft.num(value)))
        return "values", (key, index), unit, value, self.binder.of(key, index), [("math", formula)], derivation

    # -- locals -------------------------------------------------------------------------------------------
    def locals_sites(self):
        for flow in self.graph.edges:
            node = flow.node
            if self.scene.unit_of[node].kind == "node" and node.n_outputs == 1 and node.formula is not None \
                    and np.prod(node.out_meta[0][0]) <= PARTIALS and self._asked(flow.key, Edge(node, 0)):
                yield flow, self.timeline.sent(node)

    def locals(self, flow):
        node = flow.node
        if np.prod(node.out_meta[0][0]) == 1 and np.prod(_shape(flow.key)) == 1:
            where, answer, y, x = (flow, None), self.capture.local(flow), None, None
        else:
            x = _element(self.rng, _shape(flow.key)) or (0,) * len(_shape(flow.key))
            column = self.capture.partials(flow, x)
            nonzero = list(zip(*np.nonzero(column)))
            if not nonzero:
                return None
            y = tuple(int(i) for i in nonzero[int(self.rng.integers(len(nonzero)))])
            where, answer = (flow, (y, x)), column[y]
        if answer is None:
            return None
        answer = _at(answer, None)
        prompt = ft.partial(self.binder.of(Edge(node, 0), y or None), self.binder.of(flow.key, x or None))
        vjp = ft.fill(node, "vjp", self.binder.inputs(node), index=flow.index)
        rule = ft.rule(node, flow.index)
        derivation = ([("math", rule)] if rule is not None else []) + [("math", prompt + EQ + ft.num(answer))]
        return "locals", where, self.scene.unit_of[node].id, answer, prompt, \
            [("math", Piece("VJP: ", r"\text{VJP: }") + vjp)], derivation

    # -- hints and derivations of gradients -------------------------------------------------------------
    def _grad_hint(self, key):
        """The VJP of every node that sends gradient to `key` (the layer rule of a collapsed box)."""
        lines = []
        for flow in self.graph.consumers.get(key, ()):
            node = flow.node
            unit = self.scene.unit_of[node]
            rule = next(((call, p) for call, _ in unit.calls for p, target in call.inputs().items()
                         if target == key), None)
            if rule is not None:
                call, p = rule
                text, tex, gloss = call.rule.vjps[p]
                lines.append(("math", Piece(f"{call.rule.name}: {text}", rf"\text{{{ft.word(call.rule.name)}: }} {tex}")))
            elif node.formula is not None:
                upstream = Piece(" with ḡ = ", r"\ \text{with}\ \bar{g} = ") + ft.partial(
                    self.root, self.binder.of(Edge(node, 0)))
                lines.append(("math", Piece(f"{node.name}: ", rf"\text{{{ft.word(node.name)}: }}")
                              + ft.fill(node, "vjp", self.binder.inputs(node), index=flow.index) + upstream))
        if len(lines) > 1:
            lines.append(("note", Piece("the contributions add up", r"\text{the contributions add up}")))
        return lines

    def _grad_derivation(self, key, index):
        """A leaf: `explain`'s derivation. Else each contribution ḡ · local = part, and their sum."""
        if isinstance(key.node, AccumulateGrad):
            report = explain(self.graph.root, key.node.variable, self.params, index=index, level=self.level)
            return list(report.lines)
        target = ft.partial(self.root, self.binder.of(key, index))
        lines, parts = [], []
        for flow in self.graph.consumers.get(key, ()):
            if flow not in self.capture.flows:
                continue
            part = _at(self.capture.flows[flow][1], index)
            parts.append(part)
            upstream = self.capture.grad(Edge(flow.node, 0))
            local = self.capture.local(flow)
            sent = Piece(f"from {flow.node.name}: ", rf"\text{{from {ft.word(flow.node.name)}: }}")
            if index is None and local is not None and np.size(upstream) == 1:
                lines.append(("math", sent + ft.num(upstream, wrap=True) + TIMES + ft.num(local, wrap=True)
                              + EQ + ft.num(part)))
            elif flow.node.formula is not None:
                lines.append(("math", sent + ft.fill(flow.node, "vjp", self.binder.inputs(flow.node),
                                                     index=flow.index) + EQ + ft.num(part)
                              + (f" at {list(index)}" if index is not None else "")))
        lines.append(("math", target + EQ + ft.join([ft.num(p, wrap=True) for p in parts], ft.PLUS)
                      + (EQ + ft.num(sum(parts)) if len(parts) > 1 else ft.EMPTY)))
        return lines


def _shape(key):
    return key.node.out_meta[key.index][0]


def choose(scene, timeline, params, level, exercise, seed, count, ask=None):
    """Up to `count` questions of kind `exercise` (None: all), about the tensors `ask` (None: any), picked
    by `seed`, in the order the student meets them along the timeline."""
    rng = np.random.default_rng(seed)
    asker = _Asker(scene, timeline, params, level, rng, ask)
    sites = sorted(getattr(asker, exercise + "_sites")(), key=lambda site: site[1])
    if count is not None and len(sites) > count:
        sites = [sites[i] for i in sorted(rng.choice(len(sites), size=count, replace=False))]
    asked = [fields for fields in map(getattr(asker, exercise), (site for site, _ in sites)) if fields is not None]
    return [Question(i, *fields) for i, fields in enumerate(asked)]
