// Plain SVG drawing shared by the views: a line chart of one metric's datapoints. Built
// with DOM calls (dom.js's svg()), never markup; every label is a text node.

import { svg } from "./dom.js";

const WIDTH = 360;
const HEIGHT = 150;
const PAD = { left: 44, right: 10, top: 10, bottom: 24 };

// ``points``: [[epoch ms, value], ...]; ``from``/``to``: the time axis, epoch ms.
export function lineChart(points, { from, to, unit = "" } = {}) {
  const sorted = [...points].sort((a, b) => a[0] - b[0]);
  const top = Math.max(1, ...sorted.map((p) => p[1]));
  const w = WIDTH - PAD.left - PAD.right;
  const h = HEIGHT - PAD.top - PAD.bottom;
  const x = (t) => PAD.left + (to > from ? ((t - from) / (to - from)) * w : w / 2);
  const y = (v) => PAD.top + h - (v / top) * h;
  const clock = (t) => new Date(t).toISOString().slice(11, 16);
  return svg("svg", { class: "chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: WIDTH, height: HEIGHT, role: "img" },
    svg("line", { class: "axis", x1: PAD.left, y1: PAD.top + h, x2: PAD.left + w, y2: PAD.top + h }),
    svg("line", { class: "axis", x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: PAD.top + h }),
    svg("text", { class: "tick", x: PAD.left - 4, y: PAD.top + 8, "text-anchor": "end" }, formatValue(top)),
    svg("text", { class: "tick", x: PAD.left - 4, y: PAD.top + h, "text-anchor": "end" }, "0"),
    svg("text", { class: "tick", x: PAD.left, y: HEIGHT - 6 }, clock(from)),
    svg("text", { class: "tick", x: PAD.left + w, y: HEIGHT - 6, "text-anchor": "end" }, `${clock(to)} UTC`),
    sorted.length > 1 ? svg("polyline", { class: "series", points: sorted.map(([t, v]) => `${x(t)},${y(v)}`).join(" ") }) : null,
    sorted.map(([t, v]) => svg("circle", { class: "point", cx: x(t), cy: y(v), r: 3, "data-value": v },
      svg("title", {}, `${new Date(t).toISOString().replace("T", " ").slice(0, 19)}: ${formatValue(v)}${unit ? " " + unit : ""}`))));
}

export function formatValue(value) {
  if (Math.abs(value) >= 1000) return value.toFixed(0);
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}
