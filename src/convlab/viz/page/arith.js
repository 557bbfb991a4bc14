// convlab's size arithmetic re-expressed in JavaScript: parsing (cli/_parse.py),
// validation in the order convlab validates (nn._ConvNd, _args.per_dim,
// _args.padding_pairs, shapes/_formulas.py) and the formulas of
// shapes/_working.py. Every error text is a template written by Python from
// convlab's own messages (CONVLAB.messages), so the page says what convlab says.
"use strict";

class PageError extends Error {}

function fill(key, values) {
  return CONVLAB.messages[key].replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
}

function fail(key, values) {
  throw new PageError(fill(key, values));
}

// Python's repr of a str, of an int, and of tuples of them.
function pyStr(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const body = text.replace(/\\/g, "\\\\").split(quote).join("\\" + quote);
  return quote + body + quote;
}

function pyRepr(value) {
  if (typeof value === "string") return pyStr(value);
  if (Array.isArray(value)) {
    const items = value.map(pyRepr);
    return items.length === 1 ? `(${items[0]},)` : `(${items.join(", ")})`;
  }
  return String(value);
}

// _args.describe: a repr short enough for a one-line message.
function describe(value) {
  const text = pyRepr(value);
  return text.length <= 60 ? text : text.slice(0, 57) + "...";
}

function floorDiv(a, b) {
  const q = Math.trunc(a / b);
  return a % b !== 0 && a < 0 !== b < 0 ? q - 1 : q;
}

function parseInt10(part, what, whole) {
  // Python's int(): optional sign, digits, surrounding blanks, '_' between digits.
  if (!/^\s*[+-]?\d+(_\d+)*\s*$/.test(part)) fail("parse_" + what, { text: pyStr(whole) });
  const value = Number(part.trim().replace(/_/g, ""));
  if (!Number.isSafeInteger(value)) throw new PageError(`the page computes with integers below 2**53, got ${pyStr(whole)}`);
  return value;
}

// cli._parse.size_arg: "24" -> 24, "5x7" -> [5, 7].
function parseSize(text) {
  const values = text.trim().split(/[x,]/).map((p) => parseInt10(p, "sizes", text));
  return values.length === 1 ? values[0] : values;
}

// cli._parse.padding_arg: "1", "1x2", "0:1", "0:1x1:1", "same", "valid".
function parsePadding(text) {
  const t = text.trim();
  if (t === "same" || t === "valid") return t;
  const values = t.split(/[x,]/).map((part) => {
    if (!part.includes(":")) return parseInt10(part, "padding", text);
    const cut = part.indexOf(":");
    return [parseInt10(part.slice(0, cut), "padding", text), parseInt10(part.slice(cut + 1), "padding", text)];
  });
  if (values.length > 1) return values;
  return Array.isArray(values[0]) ? values : values[0];
}

function twoD(name, value, text) {
  if (Array.isArray(value) && value.length !== 2) {
    throw new PageError(`the page draws 2-D layers: ${name} takes one value or two like 3x5, got ${pyStr(text)}`);
  }
  return value;
}

// The Python values a page configuration stands for: the size is always two
// values (a bare 5 means 5x5, as in animate); a single lo:hi pair applies to
// both dimensions, like a single int does.
function pythonArgs(q) {
  const a = { op: q.op };
  const size = twoD("size", parseSize(q.size), q.size);
  a.size = Array.isArray(size) ? size : [size, size];
  a.kernel_size = twoD("kernel_size", parseSize(q.k), q.k);
  a.stride = q.s.trim() === "" ? null : twoD("stride", parseSize(q.s), q.s);
  let p = parsePadding(q.p);
  if (Array.isArray(p) && p.length === 1) p = [p[0], p[0]];
  a.padding = twoD("padding", p, q.p);
  a.dilation = twoD("dilation", parseSize(q.d), q.d);
  a.output_padding = twoD("output_padding", parseSize(q.output_padding), q.output_padding);
  for (const name of ["channels", "out_channels", "groups"]) {
    const v = name === "out_channels" && q[name].trim() === "" ? a.channels : parseSize(q[name]);
    if (Array.isArray(v)) throw new PageError(`${name} takes one integer, got ${pyStr(q[name])}`);
    a[name] = v;
  }
  a.ceil_mode = q.ceil_mode;
  return a;
}

// _args._bound_message through per_dim / as_int.
function perDim(value, name, minimum) {
  const items = Array.isArray(value) ? value : [value, value];
  if (items.some((x) => x < minimum)) {
    fail(minimum === 0 ? "bound_nonneg" : "bound_positive", { name, got: pyRepr(value) });
  }
  return items;
}

function asInt(value, name) {
  if (value < 1) fail("bound_positive", { name, got: pyRepr(value) });
  return value;
}

// _args.padding_pairs, then 'same' resolved by shapes.same_padding (SAME_UPPER).
function paddingPairs(padding, op, n, k, s, d) {
  if (padding === "valid") return [[0, 0], [0, 0]];
  if (padding === "same") {
    if (op !== "conv") fail("same_refused", {});
    return n.map((ni, i) => {
      const out = -floorDiv(-ni, s[i]);
      const total = Math.max((out - 1) * s[i] + d[i] * (k[i] - 1) + 1 - ni, 0);
      return [floorDiv(total, 2), total - floorDiv(total, 2)];
    });
  }
  const items = Array.isArray(padding) ? padding : [padding, padding];
  return items.map((item) => {
    const pair = Array.isArray(item) ? item : [item, item];
    if (pair.some((v) => v < 0)) fail("pad_negative", { padding: describe(padding) });
    return pair;
  });
}

// nn._ConvNd checks the channels before the shapes see the layer.
function checkChannels(a) {
  asInt(a.channels, "in_channels");
  asInt(a.out_channels, "out_channels");
  asInt(a.groups, "groups");
  for (const [name, c] of [["in_channels", a.channels], ["out_channels", a.out_channels]]) {
    if (c % a.groups !== 0) fail("groups_divide", { name, channels: c, groups: a.groups });
  }
}

function conv1d(n, k, s, lo, hi, d, dim) {
  const eff = d * (k - 1) + 1;
  const padded = n + lo + hi;
  if (padded < eff) fail("conv_kernel", { n, k, d, lo, hi, eff, padded, dim });
  return floorDiv(padded - eff, s) + 1;
}

function pool1d(n, k, s, lo, hi, d, ceil, dim, padding) {
  if (Math.max(lo, hi) > floorDiv(k, 2)) fail("pool_pad", { k, half: floorDiv(k, 2), dim, padding });
  const eff = d * (k - 1) + 1;
  let out = floorDiv(n + lo + hi - eff + (ceil ? s - 1 : 0), s) + 1;
  // ATen: with ceil_mode a last window starting in the right padding is dropped.
  if (ceil && (out - 1) * s >= n + lo) out -= 1;
  if (out < 1) fail("pool_empty", { n, lo, hi, eff, dim });
  return out;
}

// The whole layer: canonical per-dimension values and the output size, or a PageError.
function layer(q) {
  const a = pythonArgs(q);
  if (a.op !== "pool") checkChannels(a);
  else asInt(a.channels, "in_channels");
  const n = perDim(a.size, "size", 1);
  const k = perDim(a.kernel_size, "kernel_size", 1);
  const strideValue = a.stride === null ? (a.op === "pool" ? a.kernel_size : 1) : a.stride;
  const s = perDim(strideValue, "stride", 1);
  const d = perDim(a.dilation, "dilation", 1);
  const pads = paddingPairs(a.padding, a.op, n, k, s, d);
  const L = { a, op: a.op, n, k, s, d, pads, o: [0, 0], ceil: a.op === "pool" && a.ceil_mode };
  if (a.op === "conv") {
    L.out = n.map((ni, i) => conv1d(ni, k[i], s[i], pads[i][0], pads[i][1], d[i], i));
  } else if (a.op === "convtranspose") {
    L.o = perDim(a.output_padding, "output_padding", 0);
    L.o.forEach((o, i) => {
      const m = Math.max(s[i], d[i]);
      if (o >= m) fail("output_padding", { max: m, dim: i, output_padding: pyRepr(a.output_padding) });
    });
    L.out = n.map((ni, i) => (ni - 1) * s[i] - pads[i][0] - pads[i][1] + d[i] * (k[i] - 1) + L.o[i] + 1);
    L.out.forEach((out, i) => {
      if (out < 1) fail("transpose_pad", { out, dim: i, padding: pyRepr(a.padding) });
    });
  } else {
    const text = pyRepr(a.padding);
    L.out = n.map((ni, i) => pool1d(ni, k[i], s[i], pads[i][0], pads[i][1], d[i], L.ceil, i, text));
  }
  return L;
}

// shapes.size_working: the formula with every term, one line per dimension.
function working(L) {
  return L.n.map((n, i) => {
    const [k, s, d, o] = [L.k[i], L.s[i], L.d[i], L.o[i]];
    const [lo, hi] = L.pads[i];
    if (L.op === "convtranspose") {
      return (
        `(${n} - 1)*${s} - ${lo} - ${hi} + ${d}*(${k}-1) + ${o} + 1 = ` +
        `${(n - 1) * s} - ${lo + hi} + ${d * (k - 1)} + ${o} + 1 = ${L.out[i]}`
      );
    }
    const top = n + lo + hi - (d * (k - 1) + 1);
    if (L.ceil) {
      const up = -floorDiv(-top, s);
      let line = `ceil((${n} + ${lo} + ${hi} - ${d}*(${k}-1) - 1) / ${s}) + 1 = ceil(${top} / ${s}) + 1 = ${up} + 1 = ${up + 1}`;
      if (L.out[i] !== up + 1) line += `, minus the last window that would start in the right padding = ${L.out[i]}`;
      return line;
    }
    const down = floorDiv(top, s);
    return `floor((${n} + ${lo} + ${hi} - ${d}*(${k}-1) - 1) / ${s}) + 1 = floor(${top} / ${s}) + 1 = ${down} + 1 = ${down + 1}`;
  });
}
