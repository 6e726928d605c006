"""The explorer's HTML page: one file with the SVG, the data as JSON, and its own small style and script.

Nothing is fetched: a Content-Security-Policy allows only the page's inline style and script and
`data:` images, so a page that tried to reach the network would fail loudly instead of quietly.
`seal` hides exercise answers from a casual look at the source (XOR with a key from the seed, then
base64); the script unseals them once the student has answered. Obfuscation, not secrecy.
"""
import base64
import hashlib
import html
import json

STYLE = """
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 "DejaVu Sans", Arial, Helvetica, sans-serif; color: #222; }
header { padding: 8px 14px; border-bottom: 1px solid #ccc; background: #fafafa; }
h1 { font-size: 17px; margin: 0 0 6px; }
.controls button { font: inherit; padding: 3px 10px; margin-right: 4px; cursor: pointer; }
#counter { margin-left: 10px; color: #555; }
#status { margin: 6px 0 0; min-height: 1.4em; }
#score { margin: 2px 0 0; font-weight: bold; color: #2a6f2a; }
#score:empty { display: none; }
main { display: flex; height: calc(100vh - 118px); min-height: 420px; }
#graph { flex: 1; overflow: auto; padding: 8px; }
#graph svg { max-width: 100%; height: auto; }
#panel { width: 400px; overflow: auto; border-left: 1px solid #ccc; padding: 8px 12px; background: #fcfcfc; }
#panel h2 { font-size: 16px; margin: 4px 0; }
#panel h3 { font-size: 13px; margin: 12px 0 4px; color: #444; border-bottom: 1px solid #e4e4e4; }
#panel h4 { font-size: 12px; margin: 6px 0 2px; }
#panel .sub, #panel .note { color: #666; font-size: 12px; margin: 2px 0; }
#panel .head { font-weight: bold; margin: 8px 0 2px; }
#panel .math { margin: 3px 0; overflow-x: auto; overflow-y: hidden; }
#panel ul { margin: 2px 0; padding-left: 18px; }
table.grid { border-collapse: collapse; font-size: 12px; }
table.grid td { border: 1px solid #ddd; padding: 1px 5px; text-align: right; }
img.heatmap { image-rendering: pixelated; border: 1px solid #ccc; display: block; }
.check.ok { color: #2a6f2a; } .check.doubtful { color: #a86a00; } .check.wrong { color: #b00; }
.question { border: 1px solid #e0b84d; background: #fff8e1; padding: 4px 8px; margin: 8px 0; border-radius: 4px; }
.question input { width: 8em; font: inherit; }
.verdict.right { color: #2a6f2a; font-weight: bold; } .verdict.wrong { color: #b00; font-weight: bold; }
.mini svg { max-width: 100%; height: auto; }
g.node { cursor: pointer; }
g.node.pending { opacity: 0.3; }
g.node.waiting { opacity: 0.55; }
g.node.current polygon[fill="none"] { stroke: #ff7f0e; stroke-width: 3.5px; }
g.node.current { filter: drop-shadow(0 0 4px #ff7f0e); }
g.node.computing polygon[fill="none"] { stroke: #1f77b4; stroke-width: 3.5px; }
g.node.selected polygon[fill="none"] { stroke-dasharray: 5 2; stroke-width: 2.5px; }
g.edge.idle path, g.edge.idle polygon { stroke: #c8c8c8; }
g.edge.current path, g.edge.current polygon { stroke: #ff7f0e; stroke-width: 2.5px; }
g.edge.current text { fill: #b35500; font-weight: bold; }
g.edge.feeding path, g.edge.feeding polygon { stroke: #1f77b4; stroke-width: 2px; }
text.partial { font-style: italic; fill: #8a5a00; }
text.masked { fill: #c00000; font-weight: bold; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("explorer-data").textContent);
  const key = Uint8Array.from(atob(data.key), (c) => c.charCodeAt(0));
  const unseal = (text) => new TextDecoder().decode(
    Uint8Array.from(atob(text), (c, i) => c.charCodeAt(0) ^ key[i % key.length]));
  const $ = (id) => document.getElementById(id);
  const graph = $("graph"), panel = $("panel");
  const steps = data.steps, last = steps.length - 1;
  const forwardStep = {}, backwardStep = {};
  steps.forEach(([phase, unit], i) => {
    if (phase === "forward") forwardStep[unit] = i;
    if (phase === "backward") backwardStep[unit] = i;
  });
  const firstBackward = Math.min(...Object.values(backwardStep));
  const solved = new Set(), tries = {};
  let step = 0, timer = null, selected = null;

  // -- slots: every changing text of the picture ------------------------------------------------
  const slots = [];
  graph.querySelectorAll("text[data-slot]").forEach((el) => {
    const spec = data.slots[+el.dataset.slot];
    const width = el.getComputedTextLength(), x = +el.getAttribute("x");
    if (spec.align === "c") { el.setAttribute("text-anchor", "middle"); el.setAttribute("x", x + width / 2); }
    if (spec.align === "r") { el.setAttribute("text-anchor", "end"); el.setAttribute("x", x + width); }
    for (const fact of ["name", "kind", "value"]) if (spec[fact] !== undefined) el.dataset[fact] = spec[fact];
    if (spec.index) el.dataset.index = spec.index.join(",");
    slots.push([el, spec]);
  });
  const arrival = {};  // leaf id -> the step its first gradient arrives
  const edges = [...graph.querySelectorAll("g.edge")].map((el) => {
    const label = el.querySelector("text[data-slot]");
    const sent = label ? data.slots[+label.dataset.slot].states[0][0] : backwardStep[el.dataset.from];
    arrival[el.dataset.to] = Math.min(arrival[el.dataset.to] ?? Infinity, sent);
    return [el, sent];
  });
  const nodes = [...graph.querySelectorAll("g.node[data-unit]")];

  function shown(spec) {
    let state = null;
    for (const s of spec.states) if (s[0] <= step) state = s;
    if (state === null) return ["", false, false];
    if (spec.q !== undefined && !solved.has(spec.q)) return [spec.mask, false, true];
    return [spec.q !== undefined ? unseal(state[1]) : state[1], state[2], false];
  }

  function draw() {
    const [phase, current, note] = steps[step];
    for (const [el, spec] of slots) {
      const [text, partial, masked] = shown(spec);
      el.textContent = text;
      el.classList.toggle("partial", partial);
      el.classList.toggle("masked", masked);
    }
    for (const el of nodes) {
      const unit = el.dataset.unit, fwd = forwardStep[unit], bwd = backwardStep[unit];
      const leaf = fwd === undefined;
      el.classList.toggle("pending", !leaf && step < fwd);
      el.classList.toggle("computing", !leaf && step === fwd);
      el.classList.toggle("current", step === bwd);
      el.classList.toggle("waiting", step >= firstBackward &&
        (leaf ? step < (arrival[unit] ?? Infinity) : step < bwd));
    }
    for (const [el, sent] of edges) {
      el.classList.toggle("current", sent === step);
      el.classList.toggle("idle", step >= firstBackward && sent > step);
      el.classList.toggle("feeding", phase === "forward" && el.dataset.from === current);
    }
    const active = graph.querySelector("g.node.current, g.node.computing");
    if (active) active.scrollIntoView({block: "center", inline: "center"});
    document.body.dataset.step = step;
    document.body.dataset.phase = phase;
    document.body.dataset.current = current ?? "";
    $("status").textContent = note;
    $("counter").textContent = `step ${step} of ${last}`;
    $("prev").disabled = step === 0;
    $("next").disabled = step === last;
  }

  function go(to) { step = Math.max(0, Math.min(last, to)); draw(); }
  function play() {
    if (timer) { clearInterval(timer); timer = null; $("play").textContent = "▶ Play"; return; }
    if (step === last) go(0);
    $("play").textContent = "⏸ Pause";
    timer = setInterval(() => { if (step >= last) play(); else go(step + 1); }, 900);
  }
  $("reset").onclick = () => go(0);
  $("prev").onclick = () => go(step - 1);
  $("next").onclick = () => go(step + 1);
  $("play").onclick = play;
  $("to-backward").onclick = () => go(firstBackward - 1);
  $("end").onclick = () => go(last);
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT") return;
    if (event.key === "ArrowRight") { go(step + 1); event.preventDefault(); }
    if (event.key === "ArrowLeft") { go(step - 1); event.preventDefault(); }
    if (event.key === "Home") go(0);
    if (event.key === "End") go(last);
  });

  // -- the side panel -----------------------------------------------------------------------------
  function reveal(root) {
    root.querySelectorAll("div.secret").forEach((el) => {
      const ids = el.dataset.q.split(" ");
      const open = ids.every((id) => id === "all" ? solved.size === data.questions.length : solved.has(+id));
      if (open) el.outerHTML = unseal(data.blobs[+el.dataset.s]);
    });
  }

  function open(unit) {
    panel.innerHTML = data.panels[unit] ?? "<p class='note'>nothing recorded for this box</p>";
    panel.dataset.unit = unit;
    if (selected) selected.classList.remove("selected");
    selected = graph.querySelector(`g.node[data-unit="${unit}"]`);
    if (selected) selected.classList.add("selected");
    reveal(panel);
    panel.querySelectorAll("g.node[data-unit]").forEach((el) => { el.onclick = () => open(el.dataset.unit); });
    panel.querySelectorAll("a[data-open]").forEach((a) => {
      a.onclick = (event) => { event.preventDefault(); open(a.dataset.open); };
    });
    panel.querySelectorAll("div.question").forEach(wire);
  }
  nodes.forEach((el) => { el.onclick = () => open(el.dataset.unit); });

  // -- exercise mode -------------------------------------------------------------------------------
  function parse(text) {
    const t = text.trim().replace(/\u2212/g, "-").replace(/,/g, ".");
    const ratio = t.match(/^(.+)\/(.+)$/);
    return ratio ? Number(ratio[1]) / Number(ratio[2]) : (t === "" ? NaN : Number(t));
  }

  function score() {
    if (!data.questions.length) return;
    $("score").textContent = `Score: ${solved.size} of ${data.questions.length} correct` +
      (solved.size === data.questions.length ? " — all done!" : "");
  }

  function wire(box) {
    const q = data.questions[+box.dataset.q];
    const input = box.querySelector("input"), verdict = box.querySelector(".verdict");
    const tolerance = `accepted within ${data.tolerance * 100}% (relative)`;
    input.title = tolerance;
    const done = () => {
      verdict.textContent = `✓ right: ${unseal(q.answer).replace("-", "−")} (${tolerance})`;
      verdict.className = "verdict right";
      input.disabled = true;
    };
    if (solved.has(q.id)) { done(); return; }
    const check = () => {
      const answer = parse(input.value), truth = Number(unseal(q.answer));
      if (Number.isNaN(answer)) { verdict.textContent = "type a number (e.g. −1.5 or 3/4)"; return; }
      if (Math.abs(answer - truth) <= data.tolerance * Math.abs(truth) + 1e-9) {
        solved.add(q.id); done(); score(); draw(); reveal(panel);
        return;
      }
      tries[q.id] = (tries[q.id] ?? 0) + 1;
      verdict.textContent = `✗ not ${input.value} (${tolerance})`;
      verdict.className = "verdict wrong";
      box.querySelector(".hint").innerHTML = "<p class='head'>hint</p>" + unseal(data.blobs[q.hint]);
      if (tries[q.id] >= 2) box.querySelector(".derivation").innerHTML = "<p class='head'>derivation</p>" +
        unseal(data.blobs[q.derivation]);
    };
    box.querySelector("button.check").onclick = check;
    input.onkeydown = (event) => { if (event.key === "Enter") check(); };
  }

  score();
  draw();
})();
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{style}</style></head>
<body>
<header><h1>{title}</h1>
<div class="controls"><button id="reset" title="back to step 0 (Home)">|◀ Reset</button><button id="prev" title="previous step (←)">◀ Previous</button><button id="play">▶ Play</button><button id="next" title="next step (→)">Next ▶</button><button id="to-backward" title="jump to the end of the forward pass">Skip to backward</button><button id="end" title="the last step (End)">End ▶|</button><span id="counter"></span></div>
<p id="status"></p><p id="score"></p>
</header>
<main><div id="graph">{svg}</div>
<aside id="panel"><p class="note">Click a box of the graph: its op, formulas, values and gradients show here.
Step with the buttons or the ← → keys.</p>{legend}</aside></main>
<script type="application/json" id="explorer-data">{data}</script>
<script>{script}</script>
</body></html>
"""

_LEGEND = """<p class="note">Forward: the box being computed is outlined in blue; boxes not computed yet are faded.
Backward: the box whose VJP runs is outlined in orange and its edges show what it sends (ḡ · local → downstream on
scalars); boxes still waiting for their gradient are faded; a gradient still being summed is in italics.</p>"""


def _key(seed):
    return hashlib.sha256(f"chainrule explore {seed}".encode()).digest()


def seal(text, seed):
    """`text` XOR-ed with the page's key and base64-encoded (the script's `unseal` undoes it)."""
    key = _key(seed)
    raw = str(text).encode("utf-8")
    return base64.b64encode(bytes(b ^ key[i % len(key)] for i, b in enumerate(raw))).decode("ascii")


def page(title, svg, data, seed):
    """The whole page: `svg` (tagged by `_explore_svg`), `data` for the script, the key of `seal`."""
    payload = json.dumps({**data, "key": base64.b64encode(_key(seed)).decode("ascii")}, ensure_ascii=False,
                         separators=(",", ":")).replace("</", "<\\/")
    return _TEMPLATE.format(title=html.escape(title), style=STYLE, svg=svg, legend=_LEGEND, data=payload,
                            script=SCRIPT)
