// Lambda functions -> a function's configuration, code, test invoke with saved events,
// its recent invocations (from its logs), its standard metrics, and its log events, live
// (FilterLogEvents polled every 250 ms: one feed for the invocations and the live log,
// and one more for the live log while it has a filter pattern).

import { el, errorBox, link, show, table } from "../dom.js";
import { followLogs } from "../logs.js";
import { invocationLines, Invocations, invocationsTable } from "./invocations.js";
import { showMetrics } from "./metrics.js";

const LOG_POLL_MS = 250; // a printed line shows within ~0.5 s (issue 18), at 4 cheap calls a second
const METRICS_POLL_MS = 10_000;
const METRICS_AFTER_INVOCATION_MS = 1500; // sandlot makes datapoints readable within a second

export async function functionsView(aws) {
  const functions = await aws.listFunctions();
  show(el("section", { class: "panel" }, el("h2", {}, `Lambda functions (${aws.region})`),
    functions.length === 0 ? el("p", {}, "No functions in this region.") :
      table(["Name", "Runtime", "Memory (MB)", "Last modified"], functions.map((f) => [
        link(`/lambda/${encodeURIComponent(f.FunctionName)}`, f.FunctionName, { class: "function-link" }),
        f.Runtime || f.PackageType, f.MemorySize, f.LastModified]))));
}

export async function functionView(aws, account, name) {
  const fn = await aws.getFunction(name);
  const config = fn.Configuration;
  const rows = [["ARN", config.FunctionArn], ["Runtime", config.Runtime || config.PackageType],
    ["Handler", config.Handler], ["Memory (MB)", config.MemorySize], ["Timeout (s)", config.Timeout],
    ["Role", config.Role], ["State", config.State], ["Code size (bytes)", config.CodeSize],
    ["Last modified", config.LastModified]];
  const env = Object.entries(config.Environment?.Variables || {});
  // Only a link to this origin (the presigned code URL): API data never picks a scheme.
  const code = fn.Code?.Location && new URL(fn.Code.Location, location.href);
  const codeLink = code && code.origin === location.origin
    ? el("p", {}, el("a", { id: "code-download", href: code.href, download: `${name}.zip` }, "Download the code (.zip)"))
    : null;
  const event = el("textarea", { id: "event", rows: 6, spellcheck: "false" }, "{}");
  const result = el("div", { id: "invoke-result" });
  const saved = savedEvents(account, aws.region, name, event);
  const invokeButton = el("button", { id: "invoke" }, "Invoke");
  invokeButton.addEventListener("click", async () => {
    invokeButton.disabled = true;
    try {
      JSON.parse(event.value); // refuse what is not JSON before sending it
      const answer = await aws.invoke(name, event.value);
      result.replaceChildren(
        el("p", {}, el("span", { id: "invoke-status", class: answer.functionError ? "bad" : "good" },
          answer.functionError ? `${answer.status}, function error: ${answer.functionError}` : `${answer.status} OK`),
        ` in ${answer.durationMs.toFixed(0)} ms, request ${answer.requestId || "?"}`),
        el("h4", {}, "Result"), el("pre", { id: "invoke-payload" }, answer.result),
        el("h4", {}, "Log tail"), el("pre", { id: "invoke-log-tail" }, answer.logTail));
    } catch (error) {
      result.replaceChildren(errorBox(error));
    } finally {
      invokeButton.disabled = false;
    }
  });
  const invocations = new Invocations();
  const invocationState = el("p", { id: "invocations-state", class: "hint" }, "loading…");
  const invocationRows = el("div", { id: "invocations-rows" });
  const invocationLogs = el("div");
  const metrics = el("div", { id: "metrics", class: "charts" }, el("p", { class: "hint" }, "loading…"));
  const logs = el("pre", { id: "log-events", class: "logs" });
  const logState = el("p", { id: "log-state", class: "hint" }, "loading…");
  const pattern = el("input", { id: "log-filter", placeholder: 'CloudWatch Logs filter pattern, e.g. ERROR or { $.level = "WARN" }' });
  const group = config.LoggingConfig?.LogGroup || `/aws/lambda/${name}`;
  // A new pattern starts the view over: the events that match it, then live.
  // Until then the live log shows the one unfiltered feed the invocations read too.
  let stopPane = null;
  pattern.addEventListener("change", () => {
    if (stopPane) stopPane();
    logs.replaceChildren();
    stopPane = pollLogs(aws, group, logs, logState, pattern.value.trim());
  });
  show(
    el("section", { class: "panel" }, el("h2", { id: "function-name" }, config.FunctionName),
      el("h3", {}, "Configuration"), table(["Setting", "Value"], rows), codeLink,
      env.length ? [el("h3", {}, "Environment"), table(["Variable", "Value"], env)] : null),
    el("section", { class: "panel" }, el("h3", {}, "Test invoke"),
      saved, el("label", {}, "Event (JSON)", event), invokeButton, result),
    el("section", { class: "panel" }, el("h3", {}, "Metrics (AWS/Lambda, last hour)"), metrics),
    el("section", { class: "panel", id: "invocations" }, el("h3", {}, "Recent invocations"),
      el("p", { class: "hint" }, `From the START and REPORT lines in ${group}; each links to its log lines and, when sampled, its trace.`),
      invocationState, invocationRows, invocationLogs),
    el("section", { class: "panel" }, el("h3", {}, `Recent log events (${group})`),
      el("label", {}, "Filter pattern", pattern), logState, logs));
  // An invocation's lines, and the live log filtered by its request id (the lines
  // that name it: START, END, REPORT, and what the runtime wrote with it).
  const showLines = (picked) => {
    const filter = el("button", { id: "filter-by-request", class: "secondary" }, "Filter the live log by this request id");
    filter.addEventListener("click", () => {
      pattern.value = `"${picked.requestId}"`;
      pattern.dispatchEvent(new Event("change"));
      pattern.scrollIntoView();
    });
    invocationLogs.replaceChildren(invocationLines(picked), filter);
  };
  let stopped = false;
  let metricsTimer = null;
  let metricsBusy = false;
  let metricsAgain = false;
  // One GetMetricData at a time: a refresh asked for meanwhile runs once it is done.
  const refreshMetrics = async () => {
    if (metricsBusy) { metricsAgain = true; return; }
    metricsBusy = true;
    clearTimeout(metricsTimer);
    do {
      metricsAgain = false;
      await showMetrics(aws, config.FunctionName, metrics);
    } while (metricsAgain && !stopped);
    metricsBusy = false;
    if (!stopped) metricsTimer = setTimeout(refreshMetrics, METRICS_POLL_MS);
  };
  refreshMetrics();
  const stopFeed = followLogs(aws, group, "", {
    everyMs: LOG_POLL_MS,
    onState: (text) => {
      invocationState.textContent = text;
      if (!stopPane) logState.textContent = text;
    },
    onEvents: (events) => {
      if (!stopPane) appendLines(logs, events);
      if (!invocations.add(events)) return;
      invocationRows.replaceChildren(invocationsTable(invocations, showLines));
      clearTimeout(metricsTimer);
      metricsTimer = setTimeout(refreshMetrics, METRICS_AFTER_INVOCATION_MS);
    },
  });
  return () => {
    stopped = true;
    clearTimeout(metricsTimer);
    stopFeed();
    if (stopPane) stopPane();
  };
}

// Saved test events of a function, kept in this browser's localStorage (events are not
// secrets; the key never goes there) per account, region and function.
function savedEvents(account, region, name, event) {
  const storageKey = `sandlot.console.events.${account}.${region}.${name}`;
  const stored = () => JSON.parse(localStorage.getItem(storageKey) || "{}");
  const picker = el("select", { id: "saved-events" });
  const label = el("input", { id: "event-name", placeholder: "name of the event to save" });
  const fill = () => picker.replaceChildren(el("option", { value: "" }, "saved events…"),
    ...Object.keys(stored()).sort().map((n) => el("option", { value: n }, n)));
  fill();
  picker.addEventListener("change", () => {
    if (picker.value) event.value = stored()[picker.value];
  });
  const save = el("button", { id: "save-event" }, "Save event");
  save.addEventListener("click", () => {
    const title = label.value.trim();
    if (!title) return;
    localStorage.setItem(storageKey, JSON.stringify({ ...stored(), [title]: event.value }));
    fill();
    picker.value = title;
  });
  return el("div", { class: "saved-events" }, el("label", {}, "Saved events", picker),
    el("label", {}, "Save the event below as", label), save);
}

// Appends new events of ``group`` (those matching ``filterPattern``) to ``target`` as
// they come; returns the stopper.
function pollLogs(aws, group, target, state, filterPattern) {
  return followLogs(aws, group, filterPattern, {
    everyMs: LOG_POLL_MS,
    onState: (text) => { state.textContent = text; },
    onEvents: (events) => appendLines(target, events),
  });
}

function appendLines(target, events) {
  for (const event of events) {
    const time = new Date(event.timestamp).toISOString().slice(11, 23);
    target.append(el("span", { class: "log-line" }, `${time} ${event.logStreamName.slice(-8)} ${event.message.replace(/\n$/, "")}\n`));
  }
}
