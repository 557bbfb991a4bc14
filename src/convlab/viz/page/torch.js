// The torch.nn code that builds the same layer; x is (N, C_in, H, W).
"use strict";

function pyArg(values) {
  return values[0] === values[1] ? String(values[0]) : `(${values[0]}, ${values[1]})`;
}

function keywords(L, defaults) {
  const out = [];
  for (const [name, values, plain] of defaults) {
    if (values[0] !== plain || values[1] !== plain) out.push(`${name}=${pyArg(values)}`);
  }
  return out;
}

// ZeroPad2d and ConstantPad2d take (left, right, top, bottom).
function padTuple(L) {
  const [[t, b], [l, r]] = L.pads;
  return `(${l}, ${r}, ${t}, ${b})`;
}

function symmetric(L) {
  return L.pads.every(([lo, hi]) => lo === hi);
}

function convLines(L) {
  const head = `nn.Conv2d(${L.a.channels}, ${L.a.out_channels}, kernel_size=${pyArg(L.k)}`;
  const rest = keywords(L, [["stride", L.s, 1], ["dilation", L.d, 1], ["groups", [L.a.groups, L.a.groups], 1]]);
  if (L.a.padding === "same" && L.s.every((s) => s === 1)) {
    return [`layer = ${[head, ...rest, "padding='same'"].join(", ")})`, "y = layer(x)"];
  }
  const refused = `# PyTorch refuses padding='same' with stride > 1; SAME_UPPER pads ${L.pads.map(([lo, hi]) => `${lo}:${hi}`).join(" x ")}`;
  if (symmetric(L)) {
    const pad = keywords(L, [["padding", L.pads.map(([lo]) => lo), 0]]);
    const lines = [`layer = ${[head, ...rest, ...pad].join(", ")})`, "y = layer(x)"];
    return L.a.padding === "same" ? [refused, ...lines] : lines;
  }
  const why =
    L.a.padding === "same"
      ? refused
      : "# nn.Conv2d pads both sides equally; asymmetric padding is an explicit ZeroPad2d";
  return [why, `layer = nn.Sequential(nn.ZeroPad2d(${padTuple(L)}), ${[head, ...rest].join(", ")}))`, "y = layer(x)"];
}

function transposeLines(L) {
  const head = `nn.ConvTranspose2d(${L.a.channels}, ${L.a.out_channels}, kernel_size=${pyArg(L.k)}`;
  const common = [["stride", L.s, 1], ["dilation", L.d, 1], ["groups", [L.a.groups, L.a.groups], 1]];
  if (symmetric(L)) {
    const rest = keywords(L, [...common, ["padding", L.pads.map(([lo]) => lo), 0], ["output_padding", L.o, 0]]);
    return [`layer = ${[head, ...rest].join(", ")})`, "y = layer(x)"];
  }
  // Pad by the smaller side in the layer, then crop what the larger side removes.
  const least = L.pads.map(([lo, hi]) => Math.min(lo, hi));
  const rest = keywords(L, [...common, ["padding", least, 0], ["output_padding", L.o, 0]]);
  const crop = L.pads.map(([lo], i) => `${lo - least[i]}:${lo - least[i] + L.out[i]}`);
  return [
    "# nn.ConvTranspose2d crops both sides equally; asymmetric padding crops the rest by hand",
    `layer = ${[head, ...rest].join(", ")})`,
    `y = layer(x)[:, :, ${crop.join(", ")}]`,
  ];
}

function poolLines(L) {
  const rest = keywords(L, [["dilation", L.d, 1]]);
  if (L.s[0] !== L.k[0] || L.s[1] !== L.k[1]) rest.unshift(`stride=${pyArg(L.s)}`);
  if (L.ceil) rest.push("ceil_mode=True");
  const head = `nn.MaxPool2d(kernel_size=${pyArg(L.k)}`;
  if (symmetric(L)) {
    const pad = keywords(L, [["padding", L.pads.map(([lo]) => lo), 0]]);
    return [`layer = ${[head, ...rest, ...pad].join(", ")})`, "y = layer(x)"];
  }
  const lines = ["# nn.MaxPool2d pads both sides equally; asymmetric padding is an explicit -inf pad"];
  lines.push(`layer = nn.Sequential(nn.ConstantPad2d(${padTuple(L)}, float("-inf")), ${[head, ...rest].join(", ")}))`);
  if (!L.ceil) return [...lines, "y = layer(x)"];
  // The pad is now input to torch, so ceil_mode's rule (drop a last window that
  // starts in the right padding) no longer sees the right padding: crop.
  lines[0] += "; ceil_mode would keep a window starting in it, hence the crop";
  return [...lines, `y = layer(x)[:, :, :${L.out[0]}, :${L.out[1]}]`];
}

function torchLines(L) {
  const lines = L.op === "conv" ? convLines(L) : L.op === "convtranspose" ? transposeLines(L) : poolLines(L);
  const cout = L.op === "pool" ? L.a.channels : L.a.out_channels;
  lines[lines.length - 1] += `  # (N, ${L.a.channels}, ${L.n.join(", ")}) -> (N, ${cout}, ${L.out.join(", ")})`;
  return lines;
}
