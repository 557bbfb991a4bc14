// The page: controls <-> URL query, the arithmetic, the pictures and the torch line.
"use strict";

const FIELDS = ["op", "size", "k", "s", "p", "d", "output_padding", "groups", "channels", "out_channels"];
// The CLI's names and their long forms, all accepted in the URL query.
const ALIASES = {
  kernel_size: "k", "kernel-size": "k", stride: "s", padding: "p", dilation: "d",
  "output-padding": "output_padding", c: "channels", in_channels: "channels", "ceil-mode": "ceil_mode",
};
const OPS = ["conv", "convtranspose", "pool"];
const $ = (id) => document.getElementById(id);
const state = { frame: 0, timer: null, L: null, view: "scatter" };

// Without a query the page opens on the layer it was written for; with one,
// the query alone describes the layer and what it leaves out takes the CLI's
// defaults (the written size and kernel stand in for the required ones).
function readQuery() {
  const query = new URLSearchParams(window.location.search);
  const q = { ...(window.location.search.length > 1 ? CONVLAB.base : CONVLAB.defaults) };
  for (const [rawKey, value] of query) {
    const key = ALIASES[rawKey] || rawKey;
    if (key === "ceil_mode") q.ceil_mode = ["1", "true", "yes", "on", ""].includes(value.toLowerCase());
    else if (key === "view") q.view = value === "zero-insertion" || value === "zero" ? "zero" : "scatter";
    else if (FIELDS.includes(key)) q[key] = value;
  }
  if (!OPS.includes(q.op)) q.op = "conv";
  return q;
}

function fromControls() {
  const q = {};
  for (const f of FIELDS) q[f] = $(f).value;
  q.ceil_mode = $("ceil_mode").checked;
  return q;
}

function toControls(q) {
  for (const f of FIELDS) $(f).value = q[f];
  $("ceil_mode").checked = !!q.ceil_mode;
  state.view = q.view || "scatter";
  document.querySelector(`input[name=view][value=${state.view}]`).checked = true;
}

function writeQuery(q) {
  const params = new URLSearchParams();
  for (const f of FIELDS) if (q[f] !== "") params.set(f, q[f]);
  if (q.op === "pool" && q.ceil_mode) params.set("ceil_mode", "1");
  if (q.op === "convtranspose") params.set("view", state.view);
  try {
    history.replaceState(null, "", "?" + params.toString());
  } catch (err) {
    // Some browsers refuse replaceState on file:// pages; the page works without it.
  }
}

function applies(op) {
  document.querySelectorAll("[data-ops]").forEach((el) => {
    el.hidden = !el.dataset.ops.split(" ").includes(op);
  });
  $("s").placeholder = op === "pool" ? "= kernel" : "1";
}

function hw(values) {
  return values.join("x");
}

function update(fromUser) {
  const q = fromControls();
  applies(q.op);
  if (fromUser) writeQuery(q);
  stop();
  try {
    state.L = layer(q);
  } catch (err) {
    if (!(err instanceof PageError)) throw err;
    state.L = null;
    $("output-size").textContent = "";
    $("error").textContent = err.message;
    $("error").hidden = false;
    $("result").hidden = true;
    return;
  }
  $("error").hidden = true;
  $("error").textContent = "";
  $("result").hidden = false;
  state.frame = 0;
  describeLayer(state.L);
  draw();
}

function describeLayer(L) {
  $("output-size").textContent = hw(L.out);
  const names = ["rows", "cols"];
  $("formula").innerHTML = working(L)
    .map((line, i) => `<div><span class="axis">${names[i]}</span><code class="work">${esc(line)}</code></div>`)
    .join("");
  $("pads").textContent = L.pads.map(([lo, hi]) => `${lo}:${hi}`).join(" x ");
  $("torch").textContent = torchLines(L).join("\n");
  const cin = L.a.channels;
  const cout = L.op === "pool" ? cin : L.a.out_channels;
  $("tensors").textContent = `x: (1, ${cin}, ${hw(L.n)})  ->  y: (1, ${cout}, ${hw(L.out)})` + weightText(L);
}

function weightText(L) {
  if (L.op === "pool") return "";
  const g = L.a.groups;
  const shape =
    L.op === "conv"
      ? `(${L.a.out_channels}, ${L.a.channels / g}, ${L.k.join(", ")})`
      : `(${L.a.channels}, ${L.a.out_channels / g}, ${L.k.join(", ")})`;
  const groups = g > 1 ? `; ${g} groups of ${L.a.channels / g} -> ${L.a.out_channels / g} channels` : "";
  return `;  weight ${shape}${groups}`;
}

function currentView(L) {
  return L.op === "convtranspose" ? state.view : "window";
}

function draw() {
  const L = state.L;
  if (!L) return;
  const view = currentView(L);
  const count = frameCount(L, view);
  state.frame = Math.min(state.frame, count - 1);
  $("slider").max = count - 1;
  $("slider").value = state.frame;
  $("frame").textContent = `${state.frame + 1} / ${count}`;
  if (tooLarge(L, view)) {
    $("picture").innerHTML = `<p class="note">Too large to draw (more than ${MAX_CELLS} cells a side); the arithmetic above still holds. Try a size like 5x5.</p>`;
  } else {
    $("picture").innerHTML = view === "scatter" ? scatterSvg(L, state.frame, view) : windowSvg(L, state.frame, view);
  }
  const m = matrixSvg(L, state.frame, view);
  $("matrix").innerHTML = m || `<p class="note">The matrix is drawn up to ${MAX_MATRIX} input and output pixels.</p>`;
  $("matrix-caption").textContent = matrixCaption(L);
  $("step-text").textContent = stepText(L, view, state.frame);
}

function matrixCaption(L) {
  if (L.op === "convtranspose") {
    return "y = Mᵀ x: the transposed conv is the transpose of the conv matrix M of the same layer (column = input pixel, entry = kernel tap).";
  }
  if (L.op === "pool") return "Which inputs each output takes the maximum of (row = output pixel, column = input pixel).";
  return "y = M x: row = output pixel, column = input pixel, entry = the kernel tap that multiplies it (0 elsewhere).";
}

function stepText(L, view, frame) {
  if (view === "scatter") {
    const [iy, ix] = [Math.floor(frame / L.n[1]), frame % L.n[1]];
    return `input x${frame + 1} (row ${iy + 1}, col ${ix + 1}) adds x${frame + 1} * kernel at output rows ${iy * L.s[0] + 1}.., cols ${ix * L.s[1] + 1}.. of the full output`;
  }
  const [oy, ox] = [Math.floor(frame / L.out[1]), frame % L.out[1]];
  const what = L.op === "pool" ? "the maximum of " : "the sum of kernel * ";
  return `output y${frame + 1} (row ${oy + 1}, col ${ox + 1}) is ${what}the highlighted window`;
}

function step(delta) {
  const L = state.L;
  if (!L) return;
  const count = frameCount(L, currentView(L));
  state.frame = (state.frame + delta + count) % count;
  draw();
}

function stop() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
  $("play").textContent = "▶ play";
}

function play() {
  if (state.timer) return stop();
  state.timer = setInterval(() => step(1), 700);
  $("play").textContent = "❚❚ pause";
}

function init() {
  const q = readQuery();
  toControls(q);
  for (const f of [...FIELDS, "ceil_mode"]) $(f).addEventListener("input", () => update(true));
  document.querySelectorAll("input[name=view]").forEach((el) =>
    el.addEventListener("change", () => {
      state.view = el.value;
      state.frame = 0;
      writeQuery(fromControls());
      draw();
    }),
  );
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  $("first").addEventListener("click", () => { state.frame = 0; draw(); });
  $("play").addEventListener("click", play);
  $("slider").addEventListener("input", () => { state.frame = Number($("slider").value); draw(); });
  update(false);
}

// The scripts stand at the end of <body>: every element they use already exists.
init();
