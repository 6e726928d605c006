"""The backprop explorer: one self-contained HTML page to step through a graph's forward and backward.

    from autograd import viz
    page = viz.explore(loss, params=model)                 # shows inline in Jupyter
    page.save("backprop.html")                             # one file: inline SVG, CSS and script, no network
    viz.explore(loss, level="layer")                       # one box per composite, with its layer rule
    viz.explore(loss, exercise="grads", seed=3)            # some gradients hidden: the student answers them

The page shows the picture of `viz.draw` (laid out once by Graphviz, never moved) and a timeline:
step 0 shows the leaves; then the forward pass, one box per step (its values appear); then the
backward pass in the engine's order (`graph.backward_order`), one box per step: the box runs, its
edges show what it sends (`ḡ · local → downstream` on scalar graphs), the gradients it completes
stay written, and a tensor used several times shows its running sum. Clicking a box opens a panel:
the op, its forward and VJP formulas (MathML made here, at build time), shapes, values and gradients
(grids up to 16 elements, heatmaps beyond), what it saved for backward and the numerical check of its
VJP; a leaf shows its `explain` derivation; a layer box its rule and its primitives.

Exercise mode hides chosen gradients (`"grads"`), local derivatives (`"locals"`) or forward values
(`"values"`): the student types each answer into its box's panel, the page compares it with the
captured number (relative tolerance), shows the VJP formula after a wrong try and the derivation after
two, and keeps score. Answers travel with the page, obfuscated (`_explore_page.seal`).

Numbers are the ones the forward computed and the engine's backward computes (`_capture.Capture`),
so explore before `loss.backward()` (or after `backward(retain_graph=True)`).
"""
import math
import re

import numpy as np

from ._explore_page import page, seal
from ._explore_panels import Panels
from ._explore_questions import EXERCISES, choose
from ._explore_svg import SlotScene, render, slot
from . import _formula_text as ft
from ._graph_walk import number, plural
from .explain import LEVELS
from .graph import AccumulateGrad, Edge

__all__ = ["explore", "Explorer"]

SMALL = 16  # tensors with at most this many elements show their numbers as a grid
_CHAIN = re.compile(r"(.+) · (.+) → (.+)")


def explore(loss, params=None, *, level="primitive", exercise=None, seed=0, questions=4, ask=None, tolerance=0.01,
            title=None):
    """The explorer page of the graph that ends in `loss` (one element), as an `Explorer`.

    params: a Module or {name: tensor} naming the leaves. level: "primitive" (every VJP a box) or "layer"
    (each composite one box with its layer rule; its panel expands it into its primitives).
    exercise: None, "grads", "locals" or "values": hide `questions` of those (chosen with `seed`; None:
    all of them), about the tensors in `ask` (None: any), for the student to answer; an answer within
    `tolerance` (relative) of the captured number is right. title: the page's heading.
    """
    return Explorer(loss, params, level=level, exercise=exercise, seed=seed, questions=questions, ask=ask,
                    tolerance=tolerance, title=title)


class _Timeline:
    """Step 0: the leaves; then one step per box in forward order; then one per box in backward order.

    A box of several nodes (a collapsed layer) runs where the engine reaches its first node (its output's
    VJP): by then every box that sends it gradient has run."""

    def __init__(self, scene):
        graph = scene.graph
        units = [unit for unit in scene.units if unit.kind != "leaf"]
        backward = sorted(units, key=lambda unit: min(graph.step[node] for node in unit.nodes))
        self.forward = backward[::-1]
        self.backward = backward
        self.forward_step = {unit.id: i + 1 for i, unit in enumerate(self.forward)}
        self.backward_step = {unit.id: len(units) + i + 1 for i, unit in enumerate(backward)}
        self.unit_of = scene.unit_of

    def made(self, key):
        """The step at which the value at graph position `key` exists."""
        return 0 if isinstance(key.node, AccumulateGrad) else self.forward_step[self.unit_of[key.node].id]

    def sent(self, node):
        """The step at which `node`'s VJP runs."""
        return self.backward_step[self.unit_of[node].id]


def _table(head, shape, cell):
    """A Graphviz table of a small tensor: the head, then `cell(index)` for every element, one row per index
    of the leading axes (a vector of more than 8 in rows of 4)."""
    indices = list(np.ndindex(*shape))
    across = shape[-1] if len(shape) > 1 else (len(indices) if len(indices) <= 8 else 4)
    rows = [indices[i:i + across] for i in range(0, len(indices), across)]
    cells = []
    for i, row in enumerate(rows):
        first = f'<td align="left" valign="top" rowspan="{len(rows)}">{head}</td>' if i == 0 else ""
        cells.append("<tr>" + first + "".join(f'<td align="right">{cell(index)}</td>' for index in row) + "</tr>")
    return '<table border="0" cellborder="0" cellspacing="0" cellpadding="1">' + "".join(cells) + "</table>"


class Explorer:
    """An explorer page: `html` (the page), `save(path)`, `_repr_html_()` for Jupyter; `backward_units`
    (box ids in the order backward runs them), `questions` (exercise mode)."""

    def __init__(self, loss, params=None, *, level="primitive", exercise=None, seed=0, questions=4, ask=None,
                 tolerance=0.01, title=None):
        if level not in LEVELS:
            raise ValueError(f"explore: level must be one of {LEVELS}, got {level!r}")
        if exercise is not None and exercise not in EXERCISES:
            raise ValueError(f"explore: exercise must be None or one of {EXERCISES}, got {exercise!r}")
        if np.size(loss.data) != 1:
            raise ValueError(f"explore: the loss must have one element (reduce it first), got shape {loss.shape}")
        self._slots, self._seed = [], seed
        scene = SlotScene(loss, params, self._rows, self._edge, collapse=True if level == "layer" else ())
        if scene.capture.freed:
            raise RuntimeError("explore: the graph's values were freed by backward(); call viz.explore before "
                               "loss.backward(), or after loss.backward(retain_graph=True)")
        self._scene, self._capture = scene, scene.capture
        self._timeline = _Timeline(scene)
        self.questions = choose(scene, self._timeline, params, level, exercise, seed, questions,
                                ask) if exercise else []
        self._asked = {(q.kind, q.where): q for q in self.questions}
        svg = render(scene.body())
        panels = Panels(scene, level, self.questions, seed, params)
        self.backward_units = [unit.id for unit in self._timeline.backward]
        heading = title or f"Backprop explorer: {scene.names.root} ({level} level" + (
            f", exercise: {exercise})" if exercise else ")")
        self.html = page(heading, svg, {
            "steps": self._steps(), "slots": self._slots, "panels": panels.html, "questions": panels.questions,
            "blobs": panels.blobs, "exercise": exercise, "tolerance": tolerance}, seed)

    # -- the timeline ----------------------------------------------------------------------------
    def _steps(self):
        """Per step: [phase, box id (None at step 0), the note that says what happens]."""
        timeline = self._timeline
        steps = [["start", None, "the leaves hold their values; press Next (→) to run the forward pass"]]
        for i, unit in enumerate(timeline.forward):
            steps.append(["forward", unit.id, f"forward {i + 1} of {len(timeline.forward)}: "
                                              f"{self._computes(unit)}"])
        for i, unit in enumerate(timeline.backward):
            steps.append(["backward", unit.id, f"backward {i + 1} of {len(timeline.backward)} (the engine's "
                                               f"order): {self._runs(unit)} sends ḡ to its inputs"])
        return steps

    def _computes(self, unit):
        """`v3 = x·w`, or `conv2d computes v7 (10 primitives)` for a layer box."""
        scene = self._scene
        if unit.kind == "box":
            return f"{unit.scope[-1]} runs its {plural(len(unit.nodes), 'primitive')}"
        node = unit.nodes[0]
        return (scene.binder.of(Edge(node, 0)) + ft.EQ + ft.forward(node, scene.binder)).text

    def _runs(self, unit):
        if unit.kind == "box":
            return f"{unit.scope[-1]} (its {plural(len(unit.nodes), 'primitive')})"
        node = unit.nodes[0]
        return f"#{self._scene.graph.step[node]} {node.title}"

    # -- slots -----------------------------------------------------------------------------------
    def _new_slot(self, states, align="c", question=None, mask=None, **facts):
        """A slot's states [[step, text, partial]] (sealed and masked when a question hides it). align: where
        shorter texts sit in the widest one's place: "c" centred, "r" right, "l" left (as laid out)."""
        spec = {"align": align, **facts}
        if question is not None:
            spec.update(q=question.id, mask=mask, states=[[step, seal(text, self._seed), partial]
                                                          for step, text, partial in states])
        else:
            spec["states"] = [list(state) for state in states]
        self._slots.append(spec)
        return len(self._slots) - 1

    @staticmethod
    def _widest(states, question):
        """The text a slot is laid out with: its widest state, as zeros when it is an answer to hide."""
        text = max((text for _, text, _ in states), key=len)
        return text if question is None else re.sub(r"\S", "0", text)

    def _question(self, kind, key, cell=None):
        return self._asked.get((kind, (key, cell)))

    def _rows(self, key, shape):
        """The data and gradient rows of the tensor at `key` (a leaf or a node output), written as slots."""
        size = math.prod(shape)
        name = self._scene.names[key]
        value = self._capture.value(key)
        made = self._timeline.made(key)
        parts = self._parts(key)
        if size == 1:
            data = [(made, f"data {number(np.asarray(value).reshape(()))}", False)]
            question = self._question("values", key)
            row = slot(self._new_slot(data, align="l", question=question, mask="data ?", name=name, kind="data"),
                       self._widest(data, question))
            if parts:
                grads = self._scalar_states(parts)
                question = self._question("grads", key)
                code = self._new_slot(grads, align="l", question=question, mask=" | grad ?", name=name, kind="grad",
                                      value=repr(float(np.sum([g for _, g in parts]))))
                row += slot(code, self._widest(grads, question))
            return [row]
        rows = []
        if size <= SMALL:
            rows.append(self._grid("data", key, [(made, value)], name))
            if parts:
                rows.append(self._grid("grad", key, parts, name))
        elif parts:
            states = self._norm_states(parts)
            rows.append(slot(self._new_slot(states, name=name, kind="grad-norm"), self._widest(states, None)))
        return rows

    def _parts(self, key):
        """[(step, gradient)] of each contribution to the gradient at `key`, in the order they arrive."""
        capture, timeline = self._capture, self._timeline
        if key == self._scene.graph.root_key:
            return [(timeline.sent(key.node), np.asarray(capture.grad(key)))]
        flows = [flow for flow in self._scene.graph.consumers.get(key, ()) if flow in capture.flows]
        return sorted(((timeline.sent(flow.node), np.asarray(capture.flows[flow][1])) for flow in flows),
                      key=lambda part: part[0])

    @staticmethod
    def _scalar_states(parts):
        """` | grad −3 + …`, then ` | grad −3 + 1 = −2`: the sum as its terms arrive."""
        values = [float(np.asarray(g).reshape(())) for _, g in parts]
        terms = [number(values[0])] + [f" − {number(-v)}" if v < 0 else f" + {number(v)}" for v in values[1:]]
        states = []
        for i, (step, _) in enumerate(parts):
            done = i == len(parts) - 1
            tail = (f" = {number(sum(values))}" if len(parts) > 1 else "") if done else " + …"
            states.append((step, " | grad " + "".join(terms[:i + 1]) + tail, not done))
        return states

    @staticmethod
    def _norm_states(parts):
        """`‖grad‖ 0.5 (1 of 2 parts)`, then `‖grad‖ 0.7 (sum of 2 parts)`."""
        states, total = [], 0
        for i, (step, g) in enumerate(parts):
            total = total + np.asarray(g, np.float64)
            done = i == len(parts) - 1
            many = "" if len(parts) == 1 else f" (sum of {len(parts)} parts)" if done else \
                f" ({i + 1} of {len(parts)} parts)"
            states.append((step, f"‖grad‖ {number(np.linalg.norm(total))}{many}", not done))
        return states

    def _grid(self, label, key, parts, name):
        """A small tensor as a table of slots (label, then one slot per element), partial sums as they arrive."""
        kind = "grads" if label == "grad" else "values"
        sums, states = 0, []
        for i, (step, g) in enumerate(parts):
            sums = sums + np.asarray(g, np.float64)
            states.append((step, sums.copy(), i < len(parts) - 1))
        first = states[0][0]
        head = slot(self._new_slot([(first, label, False)], align="l"), label)

        def cell(index):
            question = self._question(kind, key, index)
            texts = [(step, number(array[index]), partial) for step, array, partial in states]
            code = self._new_slot(texts, align="r", question=question, mask="?", name=name, kind=label,
                                  index=list(index), value=repr(float(states[-1][1][index])))
            return slot(code, self._widest(texts, question))

        return _table(head, states[-1][1].shape, cell)

    # -- edges -----------------------------------------------------------------------------------
    def _edge(self, source, target, label):
        """An edge's label: hidden until its box runs backward; a gradient that several edges send to one
        scalar also shows the running sum (`, Σ −2`); masked where it would give an answer away."""
        scene, timeline = self._scene, self._timeline
        flows = [flow for flow in scene.graph.edges
                 if scene.unit_of[flow.node].id == source and scene._unit_at(flow.key).id == target]
        step = timeline.sent(flows[0].node)
        key = flows[0].key
        parts = self._parts(key)
        if len(parts) > 1 and np.size(parts[0][1]) == 1 and _CHAIN.fullmatch(label):
            label += f", Σ {number(sum(float(np.sum(g)) for s, g in parts if s <= step))}"
        question, mask = self._edge_question(flows, label)
        states = [(step, label, False)]
        return self._new_slot(states, align="l", question=question, mask=mask, kind="edge"), \
            self._widest(states, question)

    def _edge_question(self, flows, label):
        """The question an edge's numbers would answer, and the label with those numbers as `?`."""
        chain = _CHAIN.fullmatch(label)
        if chain is None:
            return None, None
        upstream, local, rest = chain.groups()
        for flow in flows:
            into = self._question("grads", flow.key)
            if into is not None:
                return into, f"{upstream} · ? → ?" + (", Σ ?" if ", Σ " in rest else "")
            out = self._question("grads", Edge(flow.node, 0))
            if out is not None:
                return out, f"? · {local} → ?" + (", Σ ?" if ", Σ " in rest else "")
            local_question = self._question("locals", flow)
            if local_question is not None:
                return local_question, f"{upstream} · ? → ?" + (", Σ ?" if ", Σ " in rest else "")
        return None, None

    # -- output ----------------------------------------------------------------------------------
    def save(self, path):
        """Write the page to `path` (one self-contained HTML file); returns the path."""
        with open(path, "w", encoding="utf-8") as file:
            file.write(self.html)
        return path

    def _repr_html_(self):
        """The page in an iframe (its script and styles kept apart from the notebook's)."""
        inside = self.html.replace("&", "&amp;").replace('"', "&quot;")  # all a quoted attribute needs
        return (f'<iframe srcdoc="{inside}" style="width: 100%; height: 720px; border: 1px solid #ccc" '
                'sandbox="allow-scripts"></iframe>')
