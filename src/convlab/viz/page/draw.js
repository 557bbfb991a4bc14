// Pictures of the layer in SVG: the sliding window (conv, pool, zero insertion),
// the scatter of a transposed conv, and the conv matrix. Numbers start at 1.
"use strict";

const CELL = 28;
const MAX_CELLS = 30; // per side of a drawn grid; beyond that the picture would not be readable
const MAX_MATRIX = 49; // rows or columns of the drawn conv matrix (a 7x7 image)

function esc(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function rect(x, y, cls, label, extra = "") {
  const t = label === "" ? "" : `<text x="${x + CELL / 2}" y="${y + CELL / 2 + 4}" class="t ${cls}">${esc(label)}</text>`;
  return `<rect x="${x}" y="${y}" width="${CELL - 2}" height="${CELL - 2}" rx="3" class="c ${cls}" ${extra}/>${t}`;
}

// The grids of one frame, per dimension: rows then cols.
function axes(L) {
  return [0, 1].map((i) => {
    const [n, k, s, d, o, out] = [L.n[i], L.k[i], L.s[i], L.d[i], L.o[i], L.out[i]];
    const [lo, hi] = L.pads[i];
    if (L.op === "convtranspose") {
      const stuffed = (n - 1) * s + 1;
      const plo = d * (k - 1) - lo;
      const phi = d * (k - 1) - hi + o;
      return { n, k, s, d, lo, hi, o, out, full: stuffed + d * (k - 1) + o, stuffed, plo, len: stuffed + plo + phi };
    }
    const reach = (out - 1) * s + d * (k - 1) + 1;
    return { n, k, s, d, lo, hi, o, out, len: Math.max(n + lo + hi, reach) };
  });
}

// Kind and 0-based data index of grid cell r along one axis.
function kindOf(ax, r, op, view) {
  if (op === "convtranspose" && view === "zero") {
    const j = r - ax.plo;
    if (j < 0 || j >= ax.stuffed) return ["pad", -1];
    return j % ax.s === 0 ? ["data", j / ax.s] : ["zero", -1];
  }
  const j = r - ax.lo;
  if (j >= 0 && j < ax.n) return ["data", j];
  return r < ax.n + ax.lo + ax.hi ? ["pad", -1] : ["over", -1];
}

function frameCount(L, view) {
  return L.op === "convtranspose" && view === "scatter" ? L.n[0] * L.n[1] : L.out[0] * L.out[1];
}

function tooLarge(L, view) {
  const [ry, rx] = axes(L);
  const sides =
    L.op === "convtranspose" && view === "scatter" ? [ry.full, rx.full, ry.n, rx.n] : [ry.len, rx.len, L.out[0], L.out[1]];
  return Math.max(...sides) > MAX_CELLS;
}

function planes(x, y, w, h, count) {
  let out = "";
  for (let p = Math.min(count, 4) - 1; p > 0; p--) {
    out += `<rect x="${x + 6 * p}" y="${y - 6 * p}" width="${w}" height="${h}" rx="4" class="plane"/>`;
  }
  return out;
}

function tapLabel(L, ty, tx, flipped) {
  const [ky, kx] = L.k;
  const [a, b] = flipped ? [ky - 1 - ty, kx - 1 - tx] : [ty, tx];
  return L.op === "pool" ? "max" : "w" + (a * kx + b + 1);
}

// Sliding window over a (padded or zero-inserted) input: conv, pool, zero insertion.
function windowSvg(L, frame, view) {
  const [ry, rx] = axes(L);
  const [oy, ox] = [Math.floor(frame / L.out[1]), frame % L.out[1]];
  const stride = view === "zero" ? [1, 1] : L.s;
  const taps = new Map();
  for (let ty = 0; ty < L.k[0]; ty++) {
    for (let tx = 0; tx < L.k[1]; tx++) {
      taps.set(`${oy * stride[0] + ty * L.d[0]},${ox * stride[1] + tx * L.d[1]}`, tapLabel(L, ty, tx, view === "zero"));
    }
  }
  const top = 40;
  const left = 20;
  let body = planes(left - 2, top - 2, rx.len * CELL + 2, ry.len * CELL + 2, L.a.channels);
  for (let r = 0; r < ry.len; r++) {
    for (let c = 0; c < rx.len; c++) {
      const [kr, jr] = kindOf(ry, r, L.op, view);
      const [kc, jc] = kindOf(rx, c, L.op, view);
      const kind = kr === "data" && kc === "data" ? "data" : [kr, kc].includes("over") ? "over" : kr === "pad" || kc === "pad" ? "pad" : "zero";
      const label = kind === "data" ? "x" + (jr * L.n[1] + jc + 1) : kind === "zero" ? "0" : "";
      const tap = taps.get(`${r},${c}`);
      // A pool's padding is -inf: it never wins the maximum.
      const padTap = L.op === "pool" ? "−∞" : tap;
      body += rect(left + c * CELL, top + r * CELL, tap ? `win ${kind}` : kind, tap && kind !== "data" ? padTap : label);
      if (tap && kind === "data") body += `<text x="${left + c * CELL + CELL - 4}" y="${top + r * CELL + 10}" class="tap">${tap}</text>`;
    }
  }
  const gap = 70;
  const x0 = left + rx.len * CELL + gap;
  const y0 = top + Math.max(0, Math.floor((ry.len - L.out[0]) / 2)) * CELL;
  body += planes(x0 - 2, y0 - 2, L.out[1] * CELL + 2, L.out[0] * CELL + 2, L.op === "pool" ? L.a.channels : L.a.out_channels);
  for (let r = 0; r < L.out[0]; r++) {
    for (let c = 0; c < L.out[1]; c++) {
      const now = r === oy && c === ox;
      const done = r * L.out[1] + c < frame;
      body += rect(x0 + c * CELL, y0 + r * CELL, now ? "out now" : done ? "out done" : "out", "y" + (r * L.out[1] + c + 1));
    }
  }
  // Projection lines from the window's corners to the output cell it produces.
  const wy0 = top + oy * stride[0] * CELL;
  const wy1 = top + (oy * stride[0] + (L.k[0] - 1) * L.d[0] + 1) * CELL;
  const wx1 = left + (ox * stride[1] + (L.k[1] - 1) * L.d[1] + 1) * CELL;
  const cx = x0 + ox * CELL;
  const cy = y0 + oy * CELL;
  body += `<line x1="${wx1}" y1="${wy0}" x2="${cx}" y2="${cy}" class="proj"/><line x1="${wx1}" y1="${wy1}" x2="${cx}" y2="${cy + CELL - 2}" class="proj"/>`;
  const names = view === "zero" ? ["zero-inserted, padded input (kernel flipped, stride 1)", "output"] : ["padded input", "output"];
  body += `<text x="${left}" y="${top - 14}" class="cap">${names[0]}</text><text x="${x0}" y="${y0 - 14}" class="cap">${names[1]}</text>`;
  return svgBox(body, x0 + L.out[1] * CELL + 30, top + Math.max(ry.len, L.out[0]) * CELL + 20);
}

// A transposed conv as scatter: input pixel i adds x_i * kernel at i*stride; padding then crops.
function scatterSvg(L, frame, view) {
  const [ry, rx] = axes(L);
  const [iy, ix] = [Math.floor(frame / L.n[1]), frame % L.n[1]];
  const counts = Array.from({ length: ry.full }, () => new Array(rx.full).fill(0));
  const now = new Map();
  for (let p = 0; p <= frame; p++) {
    const [py, px] = [Math.floor(p / L.n[1]), p % L.n[1]];
    for (let ty = 0; ty < L.k[0]; ty++) {
      for (let tx = 0; tx < L.k[1]; tx++) {
        const [r, c] = [py * L.s[0] + ty * L.d[0], px * L.s[1] + tx * L.d[1]];
        counts[r][c] += 1;
        if (p === frame) now.set(`${r},${c}`, tapLabel(L, ty, tx, false));
      }
    }
  }
  const top = 40;
  const left = 20;
  let body = planes(left - 2, top - 2, L.n[1] * CELL + 2, L.n[0] * CELL + 2, L.a.channels);
  for (let r = 0; r < L.n[0]; r++) {
    for (let c = 0; c < L.n[1]; c++) {
      body += rect(left + c * CELL, top + r * CELL, r === iy && c === ix ? "data win" : "data", "x" + (r * L.n[1] + c + 1));
    }
  }
  const x0 = left + L.n[1] * CELL + 70;
  body += planes(x0 - 2, top - 2, rx.full * CELL + 2, ry.full * CELL + 2, L.a.out_channels);
  for (let r = 0; r < ry.full; r++) {
    for (let c = 0; c < rx.full; c++) {
      const kept = r >= ry.lo && r < ry.full - ry.hi && c >= rx.lo && c < rx.full - rx.hi;
      const tap = now.get(`${r},${c}`);
      const cls = (kept ? "out" : "crop") + (tap ? " now" : counts[r][c] ? " done" : "");
      body += rect(x0 + c * CELL, top + r * CELL, cls, tap || (counts[r][c] ? String(counts[r][c]) : ""));
    }
  }
  const [fy, fx] = [top + iy * L.s[0] * CELL, x0 + ix * L.s[1] * CELL];
  body += `<line x1="${left + (ix + 1) * CELL - 2}" y1="${top + iy * CELL}" x2="${fx}" y2="${fy}" class="proj"/>`;
  body += `<line x1="${left + (ix + 1) * CELL - 2}" y1="${top + (iy + 1) * CELL - 2}" x2="${fx}" y2="${fy + ((L.k[0] - 1) * L.d[0] + 1) * CELL - 2}" class="proj"/>`;
  body += `<text x="${left}" y="${top - 14}" class="cap">input</text>`;
  body += `<text x="${x0}" y="${top - 14}" class="cap">full output (numbers: taps landed so far; grey: cropped by padding)</text>`;
  return svgBox(body, Math.max(x0 + rx.full * CELL + 30, x0 + 520), top + Math.max(ry.full, L.n[0]) * CELL + 20);
}

function svgBox(body, width, height) {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${body}</svg>`;
}

// Entry (output o, input i) of the matrix along one axis: the tap t, or -1.
// conv and pool: i = o*s + t*d - lo; transposed: o = i*s + t*d - lo (the transpose).
function tapOf(L, axis, o, i) {
  const [s, d, k, lo] = [L.s[axis], L.d[axis], L.k[axis], L.pads[axis][0]];
  const diff = L.op === "convtranspose" ? o - i * s + lo : i - o * s + lo;
  return diff >= 0 && diff % d === 0 && diff / d < k ? diff / d : -1;
}

function matrixSvg(L, frame, view) {
  const rows = L.out[0] * L.out[1];
  const cols = L.n[0] * L.n[1];
  if (rows > MAX_MATRIX || cols > MAX_MATRIX) return null;
  const size = 18;
  const [x0, y0] = [40, 24];
  let body = "";
  for (let r = 0; r < rows; r++) {
    const [oy, ox] = [Math.floor(r / L.out[1]), r % L.out[1]];
    const rowNow = view !== "scatter" && r === frame;
    body += `<text x="${x0 - 4}" y="${y0 + r * size + 13}" class="lab end">y${r + 1}</text>`;
    for (let c = 0; c < cols; c++) {
      const [iy, ix] = [Math.floor(c / L.n[1]), c % L.n[1]];
      const [ty, tx] = [tapOf(L, 0, oy, iy), tapOf(L, 1, ox, ix)];
      const hit = ty >= 0 && tx >= 0;
      const now = rowNow || (view === "scatter" && c === frame);
      const label = hit ? (L.op === "pool" ? "•" : String(ty * L.k[1] + tx + 1)) : "";
      body += `<rect x="${x0 + c * size}" y="${y0 + r * size}" width="${size - 1}" height="${size - 1}" class="m${hit ? " hit" : ""}${now ? " cur" : ""}"/>`;
      if (label) body += `<text x="${x0 + c * size + size / 2}" y="${y0 + r * size + 13}" class="mt">${label}</text>`;
    }
  }
  for (let c = 0; c < cols; c++) {
    body += `<text x="${x0 + c * size + size / 2}" y="${y0 - 6}" class="lab">${c + 1}</text>`;
  }
  return svgBox(body, x0 + cols * size + 10, y0 + rows * size + 10);
}
