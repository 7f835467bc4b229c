// A function's recent invocations, read from its CloudWatch Logs the way Lambda writes
// them: START opens an invocation in a log stream (one environment runs one invocation
// at a time), the lines that follow in that stream are its lines, REPORT closes it with
// its numbers (text: tab-separated fields and, when traced, the XRAY line; JSON: the
// platform.start and platform.report records). Nothing is shown that the logs do not say.

import { el, link, table } from "../dom.js";

const MAX_ROWS = 20;
const MAX_KEPT = 200; // invocations (and their lines) kept while the page stays open

// Invocations by request id, in the order they started, built from log events.
export class Invocations {
  constructor() {
    this.byId = new Map();
    this.open = new Map(); // log stream -> the invocation running in it
  }

  // Returns whether anything changed.
  add(events) {
    let changed = false;
    for (const event of events) changed = this.#add(event) || changed;
    return changed;
  }

  recent() {
    return [...this.byId.values()].reverse().slice(0, MAX_ROWS);
  }

  #add(event) {
    const stream = event.logStreamName;
    const message = event.message.replace(/\n$/, "");
    const record = jsonRecord(message);
    let match;
    if (record?.type === "platform.start" || (match = /^START RequestId: (\S+)/.exec(message))) {
      const requestId = record ? record.record?.requestId : match[1];
      if (!requestId) return false;
      const invocation = { requestId, stream, started: event.timestamp, status: "running", lines: [] };
      this.byId.delete(requestId); // a retried id moves to the top
      this.byId.set(requestId, invocation);
      this.open.set(stream, invocation);
      if (this.byId.size > MAX_KEPT) { // the oldest goes, with its lines
        const [oldest] = this.byId.values();
        this.byId.delete(oldest.requestId);
        if (this.open.get(oldest.stream) === oldest) this.open.delete(oldest.stream);
      }
      invocation.lines.push(event);
      return true;
    }
    const invocation = this.open.get(stream);
    if (record?.type === "platform.report" || (match = /^REPORT RequestId: (\S+)/.exec(message))) {
      const requestId = record ? record.record?.requestId : match[1];
      const target = invocation?.requestId === requestId ? invocation : this.byId.get(requestId);
      if (!target) return false;
      target.lines.push(event);
      Object.assign(target, record ? fromRecord(record.record) : fromLine(message, target.sawError));
      this.open.delete(stream);
      return true;
    }
    if (!invocation) return false;
    invocation.lines.push(event);
    // Text logs say a handled function error only in the runtime's own error line.
    if (!record && (/^\[ERROR\]/.test(message) || /\tERROR\tInvoke Error/.test(message))) invocation.sawError = true;
    return false;
  }
}

function jsonRecord(message) {
  if (!message.startsWith("{")) return null;
  try {
    const parsed = JSON.parse(message);
    return parsed && typeof parsed === "object" && typeof parsed.type === "string" ? parsed : null;
  } catch {
    return null;
  }
}

const JSON_STATUS = { success: "ok", error: "error", failure: "error", timeout: "timeout" };

function fromRecord(record) {
  const metrics = record.metrics || {};
  const root = /(?:^|;)Root=([^;]+)/.exec(record.tracing?.value || "");
  return {
    status: JSON_STATUS[record.status] || record.status || "ok",
    errorType: record.errorType,
    duration: metrics.durationMs, billed: metrics.billedDurationMs, init: metrics.initDurationMs,
    memorySize: metrics.memorySizeMB, memoryUsed: metrics.maxMemoryUsedMB,
    traceId: root ? root[1] : undefined,
  };
}

function fromLine(line, sawError) {
  const field = (name) => {
    const found = new RegExp(`(?:^|\\t)${name}: ([^\\t\\n]+)`).exec(line);
    return found ? found[1] : undefined;
  };
  const number = (name) => {
    const value = field(name);
    return value === undefined ? undefined : Number.parseFloat(value);
  };
  const status = field("Status");
  const trace = /\nXRAY TraceId: (\S+)\t.*Sampled: true/.exec(line);
  return {
    status: status === "timeout" ? "timeout" : status === "error" || sawError ? "error" : "ok",
    errorType: field("Error Type"),
    duration: number("Duration"), billed: number("Billed Duration"), init: number("Init Duration"),
    memorySize: number("Memory Size"), memoryUsed: number("Max Memory Used"),
    traceId: trace ? trace[1] : undefined,
  };
}

const ms = (value) => (value === undefined ? "" : String(value));

// The invocations table; a request id is a button that shows its log lines
// (``onLogs(invocation)``).
export function invocationsTable(invocations, onLogs) {
  const rows = invocations.recent();
  if (!rows.length) return el("p", { class: "hint" }, "No invocations in the last 15 minutes of this log group.");
  const body = rows.map((invocation) => {
    const started = new Date(invocation.started).toISOString();
    const button = el("button", { class: "invocation-logs link", title: "show its log lines" }, invocation.requestId);
    button.addEventListener("click", () => onLogs(invocation));
    return [
      el("span", { title: started }, started.slice(11, 23)),
      el("span", { class: `status status-${invocation.status}` },
        invocation.errorType ? `${invocation.status} (${invocation.errorType})` : invocation.status),
      ms(invocation.duration), ms(invocation.billed), ms(invocation.init),
      invocation.memoryUsed === undefined ? "" : `${invocation.memoryUsed} / ${invocation.memorySize}`,
      button,
      invocation.traceId ? link(`/xray/trace/${encodeURIComponent(invocation.traceId)}`, invocation.traceId, { class: "trace-link" }) : "",
    ];
  });
  const result = table(["Started (UTC)", "Status", "Duration (ms)", "Billed (ms)", "Init (ms)", "Memory (MB)",
    "Request ID (its log lines)", "Trace"], body, { id: "invocations-table" });
  result.querySelectorAll("tbody tr").forEach((tr, i) => tr.setAttribute("data-request-id", rows[i].requestId));
  result.querySelector("thead th:nth-child(6)").setAttribute("title", "max used / memory size");
  return result;
}

// One invocation's log lines, as they are in its stream.
export function invocationLines(invocation) {
  return el("div", { id: "invocation-logs", "data-request-id": invocation.requestId },
    el("h4", {}, `Log lines of ${invocation.requestId} (${invocation.stream})`),
    el("pre", { class: "logs" }, invocation.lines.map((event) =>
      `${new Date(event.timestamp).toISOString().slice(11, 23)} ${event.message.replace(/\n$/, "")}\n`)));
}
