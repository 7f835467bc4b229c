// X-Ray: the service map (GetServiceGraph) and recent traces (GetTraceSummaries) of the
// last hour -> a trace's waterfall (BatchGetTraces: its segments and subsegments as bars
// on one time axis). Drawn as plain SVG with DOM calls; every name is a text node.

import { formatValue } from "../charts.js";
import { el, errorBox, link, panel, poll, pretty, show, svg, table } from "../dom.js";

const WINDOW_S = 60 * 60;
const TRACE_RETRY_MS = 1000; // a trace's segments are uploaded just after its invocation

export async function tracesView(aws) {
  const end = Math.ceil(Date.now() / 1000);
  const window = { StartTime: end - WINDOW_S, EndTime: end };
  const [graph, summaries] = await Promise.all([
    aws.xrayPages("/ServiceGraph", window, "Services"),
    aws.xrayPages("/TraceSummaries", { ...window, Sampling: false }, "TraceSummaries"),
  ]);
  summaries.sort((a, b) => traceStart(b) - traceStart(a));
  const refresh = el("button", { id: "refresh-traces", class: "secondary" }, "Refresh");
  refresh.addEventListener("click", () => tracesView(aws).catch((error) => show(errorBox(error))));
  show(
    panel(el("h2", {}, `X-Ray service map (${aws.region}, last hour)`), refresh,
      graph.length ? serviceMap(graph) : el("p", { class: "hint" }, "No traced requests in the last hour.")),
    panel(el("h2", {}, `Traces (${summaries.length})`),
      summaries.length === 0 ? el("p", {}, "No traces in the last hour.") :
        table(["Trace ID", "Started (UTC)", "Response (ms)", "Duration (ms)", "Status", "Entry point", "HTTP"],
          summaries.map((s) => [
            link(`/xray/trace/${encodeURIComponent(s.Id)}`, s.Id, { class: "trace-link" }),
            new Date(traceStart(s)).toISOString().replace("T", " ").slice(0, 19),
            formatValue((s.ResponseTime || 0) * 1000), formatValue((s.Duration || 0) * 1000),
            el("span", { class: `status status-${summaryStatus(s)}` }, summaryStatus(s)),
            s.EntryPoint ? `${s.EntryPoint.Name} (${s.EntryPoint.Type || ""})` : "",
            s.Http ? [s.Http.HttpMethod, s.Http.HttpURL, s.Http.HttpStatus].filter(Boolean).join(" ") : "",
          ]), { id: "traces-table" })));
}

// The trace's waterfall, asked for again each second until X-Ray has it; returns the stopper.
export function traceView(aws, traceId) {
  const state = el("p", { id: "trace-state", class: "hint" }, "loading…");
  const body = el("div");
  show(panel(el("h2", {}, "Trace ", el("code", { id: "trace-id" }, traceId)), state, body));
  return poll(async () => {
    try {
      const answer = await aws.xray("/Traces", { TraceIds: [traceId] });
      const trace = (answer.Traces || [])[0];
      if (!trace) {
        state.textContent = "not recorded yet (X-Ray receives a trace's segments just after its requests): asking again";
        return TRACE_RETRY_MS;
      }
      const documents = trace.Segments.map((s) => JSON.parse(s.Document));
      const detail = el("pre", { id: "segment-detail", class: "logs" }, "Pick a bar to see its segment document.");
      state.textContent = `${documents.length} segments, ${formatValue((trace.Duration || 0) * 1000)} ms`;
      // The functions the trace went through, linked to their pages (this region's).
      const functions = [...new Set(documents.filter((d) => d.origin === "AWS::Lambda::Function").map((d) => d.name))];
      body.replaceChildren(
        functions.length ? el("p", { id: "trace-functions" }, "Functions: ",
          functions.flatMap((name, i) => [i ? ", " : "", link(`/lambda/${encodeURIComponent(name)}`, name)])) : null,
        waterfall(documents, detail), el("h3", {}, "Segment"), detail);
      return false;
    } catch (error) {
      body.replaceChildren(errorBox(error));
      return false;
    }
  }, TRACE_RETRY_MS);
}

function traceStart(summary) {
  if (summary.StartTime) return typeof summary.StartTime === "number" ? summary.StartTime * 1000 : Date.parse(summary.StartTime);
  return Number.parseInt(summary.Id.split("-")[1], 16) * 1000; // the trace id's epoch
}

function summaryStatus(s) {
  return s.HasFault ? "fault" : s.HasError ? "error" : s.HasThrottle ? "throttle" : "ok";
}

function nodeStatus(node) {
  return node.fault ? "fault" : node.error ? "error" : node.throttle ? "throttle" : "ok";
}

// -- waterfall -----------------------------------------------------------------------------
const LABEL_W = 300;
const BAR_W = 560;
const ROW_H = 22;

// Every segment and subsegment, in tree order: [{doc, depth}], children by start time.
function flatten(documents) {
  const nodes = [];
  const visit = (doc, parent) => {
    nodes.push({ doc, parent });
    for (const sub of doc.subsegments || []) visit(sub, doc.id);
  };
  for (const doc of documents) visit(doc, doc.parent_id);
  const ids = new Set(nodes.map((n) => n.doc.id));
  const children = new Map();
  for (const node of nodes) {
    const key = ids.has(node.parent) ? node.parent : "";
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(node);
  }
  const ordered = [];
  const walk = (key, depth) => {
    for (const node of (children.get(key) || []).sort((a, b) => a.doc.start_time - b.doc.start_time)) {
      if (ordered.length > 2000) return; // bounded, whatever the documents say
      ordered.push({ doc: node.doc, depth });
      if (node.doc.id !== key) walk(node.doc.id, depth + 1);
    }
  };
  walk("", 0);
  return ordered;
}

function waterfall(documents, detail) {
  const rows = flatten(documents);
  const start = Math.min(...rows.map((r) => r.doc.start_time));
  const end = Math.max(...rows.map((r) => r.doc.end_time ?? r.doc.start_time));
  const span = Math.max(end - start, 1e-6);
  const x = (t) => LABEL_W + ((t - start) / span) * BAR_W;
  const height = rows.length * ROW_H + 30;
  return svg("svg", { id: "waterfall", class: "waterfall", viewBox: `0 0 ${LABEL_W + BAR_W + 90} ${height}`, width: LABEL_W + BAR_W + 90, height },
    [0, 0.25, 0.5, 0.75, 1].map((f) => [
      svg("line", { class: "grid", x1: LABEL_W + f * BAR_W, y1: 0, x2: LABEL_W + f * BAR_W, y2: height - 16 }),
      svg("text", { class: "tick", x: LABEL_W + f * BAR_W, y: height - 4, "text-anchor": "middle" }, `${formatValue(f * span * 1000)} ms`),
    ]),
    rows.map(({ doc, depth }, i) => {
      const y = i * ROW_H;
      const ms = ((doc.end_time ?? doc.start_time) - doc.start_time) * 1000;
      const status = nodeStatus(doc);
      const bar = svg("g", { class: `bar bar-${status}`, "data-name": doc.name, "data-depth": depth, tabindex: 0,
        onclick: () => { detail.textContent = pretty(JSON.stringify({ ...doc, subsegments: undefined })); } },
        svg("title", {}, `${doc.name}: ${formatValue(ms)} ms${status === "ok" ? "" : ` (${status})`}`),
        svg("text", { class: "label", x: 4 + depth * 14, y: y + 15 }, doc.origin ? `${doc.name} (${doc.origin})` : doc.name),
        svg("rect", { x: x(doc.start_time), y: y + 4, width: Math.max(1, x(doc.end_time ?? doc.start_time) - x(doc.start_time)), height: ROW_H - 8 }),
        svg("text", { class: "duration", x: x(doc.end_time ?? doc.start_time) + 4, y: y + 15 }, `${formatValue(ms)} ms`));
      return bar;
    }));
}

// -- service map ---------------------------------------------------------------------------
const COLUMN_W = 220;
const ROW_GAP = 100;

function serviceMap(services) {
  const byRef = new Map(services.map((s) => [s.ReferenceId, s]));
  const incoming = new Map(services.map((s) => [s.ReferenceId, 0]));
  for (const s of services) for (const e of s.Edges || []) if (incoming.has(e.ReferenceId)) incoming.set(e.ReferenceId, incoming.get(e.ReferenceId) + 1);
  // Columns by distance from the callers (breadth first; a cycle keeps its first place).
  const depth = new Map();
  let frontier = services.filter((s) => incoming.get(s.ReferenceId) === 0).map((s) => s.ReferenceId);
  if (!frontier.length && services.length) frontier = [services[0].ReferenceId];
  for (let d = 0; frontier.length; d++) {
    const next = [];
    for (const ref of frontier) {
      if (depth.has(ref)) continue;
      depth.set(ref, d);
      for (const e of byRef.get(ref)?.Edges || []) if (!depth.has(e.ReferenceId)) next.push(e.ReferenceId);
    }
    frontier = next;
  }
  for (const s of services) if (!depth.has(s.ReferenceId)) depth.set(s.ReferenceId, 0);
  const place = new Map();
  const perColumn = new Map();
  for (const s of services) {
    const d = depth.get(s.ReferenceId);
    const row = perColumn.get(d) || 0;
    perColumn.set(d, row + 1);
    place.set(s.ReferenceId, { x: 90 + d * COLUMN_W, y: 60 + row * ROW_GAP });
  }
  const width = 180 + Math.max(...depth.values()) * COLUMN_W;
  const height = 40 + Math.max(...perColumn.values()) * ROW_GAP;
  const edges = services.flatMap((s) => (s.Edges || []).filter((e) => place.has(e.ReferenceId)).map((e) => {
    const a = place.get(s.ReferenceId);
    const b = place.get(e.ReferenceId);
    const len = Math.hypot(b.x - a.x, b.y - a.y) || 1;
    const [dx, dy] = [(b.x - a.x) / len, (b.y - a.y) / len];
    const stats = e.SummaryStatistics || {};
    return svg("g", { class: "edge", "data-from": s.Name, "data-to": byRef.get(e.ReferenceId).Name },
      svg("title", {}, `${s.Name} → ${byRef.get(e.ReferenceId).Name}: ${stats.TotalCount ?? 0} requests`),
      svg("line", { x1: a.x + dx * 30, y1: a.y + dy * 30, x2: b.x - dx * 34, y2: b.y - dy * 34, "marker-end": "url(#arrow)" }));
  }));
  const nodes = services.map((s) => {
    const { x, y } = place.get(s.ReferenceId);
    const stats = s.SummaryStatistics || {};
    const total = stats.TotalCount || 0;
    const faults = stats.FaultStatistics?.TotalCount || 0;
    const errors = stats.ErrorStatistics?.TotalCount || 0;
    const status = faults ? "fault" : errors ? "error" : "ok";
    const average = total ? (stats.TotalResponseTime / total) * 1000 : null;
    return svg("g", { class: `node node-${status}`, "data-name": s.Name, "data-type": s.Type || "" },
      svg("title", {}, `${s.Name} (${s.Type || "client"}): ${total} requests, ${errors} errors, ${faults} faults`),
      svg("circle", { cx: x, cy: y, r: 28 }),
      svg("text", { class: "inside", x, y: y + 4, "text-anchor": "middle" }, average === null ? "" : `${formatValue(average)} ms`),
      svg("text", { class: "name", x, y: y + 44, "text-anchor": "middle" }, s.Name),
      svg("text", { class: "type", x, y: y + 58, "text-anchor": "middle" }, s.Type || "client"));
  });
  return svg("svg", { id: "service-map", class: "service-map", viewBox: `0 0 ${width} ${height}`, width, height },
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
      svg("path", { d: "M0,0 L10,5 L0,10 z" }))),
    edges, nodes);
}
