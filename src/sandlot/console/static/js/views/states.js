// Step Functions state machines -> a machine's definition and executions; an
// execution's graph: the definition's states as an SVG diagram (built with DOM calls),
// each coloured by its status in GetExecutionHistory, with its input and output,
// polled while the execution runs.

import { el, errorBox, link, panel, poll, pretty, show, svg, table, when } from "../dom.js";

const POLL_MS = 500;
const NODE_W = 190;
const NODE_H = 46;
const GAP_X = 36;
const GAP_Y = 44;

export async function machinesView(aws) {
  const machines = await aws.jsonPages(aws.states, "ListStateMachines", {}, "stateMachines");
  show(panel(el("h2", {}, `Step Functions state machines (${aws.region})`),
    machines.length === 0 ? el("p", {}, "No state machines in this region.") :
      table(["Name", "Type", "Created"], machines.map((m) => [
        link(`/states/${encodeURIComponent(m.stateMachineArn)}`, m.name, { class: "machine-link" }),
        m.type, when(m.creationDate)]))));
}

export async function machineView(aws, arn) {
  const [machine, executions] = await Promise.all([
    aws.states("DescribeStateMachine", { stateMachineArn: arn }),
    aws.states("ListExecutions", { stateMachineArn: arn, maxResults: 100 }),
  ]);
  const input = el("textarea", { id: "execution-input", rows: 4, spellcheck: "false" }, "{}");
  const started = el("div", { id: "start-result" });
  const start = el("button", { id: "start-execution" }, "Start execution");
  start.addEventListener("click", async () => {
    try {
      JSON.parse(input.value);
      const answer = await aws.states("StartExecution", { stateMachineArn: arn, input: input.value });
      location.hash = `#/states/execution/${encodeURIComponent(answer.executionArn)}`;
    } catch (error) {
      started.replaceChildren(errorBox(error));
    }
  });
  show(panel(el("h2", { id: "machine-name" }, machine.name),
    table(["Setting", "Value"], [["ARN", machine.stateMachineArn], ["Type", machine.type],
      ["Status", machine.status], ["Role", machine.roleArn], ["Created", when(machine.creationDate)]])),
  panel(el("h3", {}, "Executions"),
    (executions.executions || []).length === 0 ? el("p", {}, "No executions.") :
      table(["Execution", "Status", "Started", "Stopped"], executions.executions.map((x) => [
        link(`/states/execution/${encodeURIComponent(x.executionArn)}`, x.name, { class: "execution-link" }),
        x.status, when(x.startDate), when(x.stopDate)]), { id: "executions" }),
    el("h4", {}, "Start an execution"), el("label", {}, "Input (JSON)", input), start, started),
  panel(el("h3", {}, "Definition"), graphOf(JSON.parse(machine.definition), new Map(), () => {}),
    el("pre", { id: "definition" }, pretty(machine.definition))));
}

export async function executionView(aws, arn) {
  const { definition } = await aws.states("DescribeStateMachineForExecution", { executionArn: arn });
  const parsed = JSON.parse(definition);
  const summary = el("div", { id: "execution-summary" });
  const graph = el("div", { id: "execution-graph-holder" });
  const states = el("div", { id: "execution-states" });
  const details = el("div", { id: "state-details" }, el("p", { class: "hint" }, "Pick a state in the graph."));
  let selected = null;
  let latest = new Map();
  const select = (name) => {
    selected = name;
    details.replaceChildren(stateDetails(name, parsed.States[name], latest.get(name)));
  };
  const history = el("div", { id: "execution-history" });
  show(panel(el("h2", { id: "execution-name" }, arn.split(":").pop()), summary),
    panel(el("h3", {}, "Graph"), graph, details),
    panel(el("h3", {}, "States"), states),
    panel(el("h3", {}, "Event history"), history));

  // Re-read the execution and its whole history, redraw; again while it runs.
  return poll(async () => {
    try {
      const [execution, events] = await Promise.all([
        aws.states("DescribeExecution", { executionArn: arn }),
        aws.jsonPages(aws.states, "GetExecutionHistory", { executionArn: arn, maxResults: 1000 }, "events"),
      ]);
      latest = statesOf(parsed, events, execution.status);
      summary.replaceChildren(table(["Setting", "Value"], [
        ["Status", el("span", { id: "execution-status", class: statusClass(execution.status) }, execution.status)],
        ["Machine", link(`/states/${encodeURIComponent(execution.stateMachineArn)}`, execution.stateMachineArn)],
        ["Started", when(execution.startDate)], ["Stopped", when(execution.stopDate)],
        ["Input", el("pre", {}, pretty(execution.input))],
        ["Output", el("pre", { id: "execution-output" }, pretty(execution.output))],
        execution.error ? ["Error", `${execution.error}: ${execution.cause || ""}`] : null,
      ].filter(Boolean)));
      graph.replaceChildren(graphOf(parsed, latest, select));
      states.replaceChildren(table(["State", "Type", "Status", "Entered"],
        Object.entries(parsed.States).map(([name, state]) => [name, state.Type,
          latest.get(name)?.status || "not run", latest.get(name)?.entered || 0]), { id: "states-table" }));
      history.replaceChildren(table(["ID", "Time", "Type", "State", "Details"], events.map((e) => {
        const details = Object.entries(e).find(([key]) => key.endsWith("EventDetails"))?.[1] || {};
        return [e.id, when(e.timestamp), e.type, details.name || "",
          details.error ? `${details.error}: ${details.cause || ""}` : details.resource || ""];
      }), { id: "history-table" }));
      if (selected) select(selected);
      return execution.status === "RUNNING";
    } catch (error) {
      summary.replaceChildren(errorBox(error));
      return true;
    }
  }, POLL_MS);
}

// What the history says of each top-level state: status, visits, latest input and
// output, the error that failed it.
function statesOf(definition, events, executionStatus) {
  const info = new Map();
  let current = null; // the top-level state being run
  for (const event of events) {
    const entered = event.stateEnteredEventDetails;
    const exited = event.stateExitedEventDetails;
    if (entered && entered.name in definition.States) {
      const state = info.get(entered.name) || { entered: 0 };
      Object.assign(state, { status: "running", input: entered.input, entered: state.entered + 1, error: null, output: undefined });
      info.set(entered.name, state);
      current = entered.name;
    } else if (exited && exited.name in definition.States && info.has(exited.name)) {
      Object.assign(info.get(exited.name), { status: "succeeded", output: exited.output });
      if (current === exited.name) current = null;
    } else if (/(Failed|TimedOut)$/.test(event.type) && !event.type.startsWith("Execution") && current) {
      const failure = Object.entries(event).find(([key]) => key.endsWith("EventDetails"))?.[1] || {};
      Object.assign(info.get(current), { status: "failed", error: `${failure.error || event.type}: ${failure.cause || ""}` });
    }
  }
  // A state left running when the execution ended did not finish.
  if (executionStatus !== "RUNNING") {
    const ended = executionStatus === "ABORTED" ? "aborted" : "failed";
    for (const state of info.values()) if (state.status === "running") state.status = ended;
  }
  return info;
}

function transitions(state) {
  const next = [];
  if (state.Next) next.push(state.Next);
  if (state.Default) next.push(state.Default);
  for (const choice of state.Choices || []) if (choice.Next) next.push(choice.Next);
  for (const catcher of state.Catch || []) if (catcher.Next) next.push(catcher.Next);
  return [...new Set(next)];
}

// States in rows by their distance from StartAt (breadth first); unreachable ones last.
function layout(definition) {
  const rows = [];
  const place = new Map();
  const queue = [[definition.StartAt, 0]];
  const seen = new Set([definition.StartAt]);
  while (queue.length) {
    const [name, depth] = queue.shift();
    if (!(name in definition.States)) continue;
    (rows[depth] ||= []).push(name);
    for (const next of transitions(definition.States[name])) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push([next, depth + 1]);
      }
    }
  }
  for (const name of Object.keys(definition.States)) if (!seen.has(name)) (rows[rows.length] ||= []).push(name);
  const columns = Math.max(1, ...rows.map((r) => r.length));
  const width = columns * (NODE_W + GAP_X) + GAP_X + 60;
  rows.forEach((row, depth) => row.forEach((name, i) => {
    const offset = (width - 60 - row.length * (NODE_W + GAP_X) + GAP_X) / 2; // centred
    place.set(name, { x: offset + i * (NODE_W + GAP_X), y: GAP_Y / 2 + depth * (NODE_H + GAP_Y), depth });
  }));
  return { place, width, height: rows.length * (NODE_H + GAP_Y) + GAP_Y / 2 };
}

function graphOf(definition, info, onPick) {
  const { place, width, height } = layout(definition);
  const root = svg("svg", { id: "execution-graph", class: "graph", width, height, viewBox: `0 0 ${width} ${height}`, role: "img" },
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
      svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head" }))));
  for (const [name, state] of Object.entries(definition.States)) {
    const from = place.get(name);
    for (const next of transitions(state)) {
      const to = place.get(next);
      if (!to) continue;
      const d = to.depth > from.depth
        ? `M${from.x + NODE_W / 2},${from.y + NODE_H} L${to.x + NODE_W / 2},${to.y}`
        // A loop back (or a step sideways) goes round the right-hand side.
        : `M${from.x + NODE_W},${from.y + NODE_H / 2} C${from.x + NODE_W + 50},${from.y + NODE_H / 2} ` +
          `${to.x + NODE_W + 50},${to.y + NODE_H / 2} ${to.x + NODE_W},${to.y + NODE_H / 2}`;
      root.append(svg("path", { d, class: "edge", "marker-end": "url(#arrow)" }));
    }
  }
  for (const [name, state] of Object.entries(definition.States)) {
    const { x, y } = place.get(name);
    const status = info.get(name)?.status || "not-run";
    const label = name.length > 26 ? name.slice(0, 25) + "…" : name;
    root.append(svg("g", { class: `state state-${status}`, "data-name": name, "data-status": status, tabindex: 0,
      transform: `translate(${x},${y})`, onclick: () => onPick(name), onkeydown: (e) => e.key === "Enter" && onPick(name) },
    svg("title", {}, `${name} (${state.Type}): ${status}`),
    svg("rect", { width: NODE_W, height: NODE_H, rx: 6 }),
    svg("text", { x: NODE_W / 2, y: 19, class: "state-name" }, label),
    svg("text", { x: NODE_W / 2, y: 36, class: "state-type" }, `${state.Type} · ${status.replace("-", " ")}`)));
  }
  return root;
}

function stateDetails(name, state, info) {
  return el("div", { class: "state-details" },
    el("h4", { id: "state-name" }, `${name} (${state.Type})`),
    el("p", {}, el("span", { id: "state-status", class: statusClass(info?.status) }, info?.status || "not run"),
      info ? ` · entered ${info.entered} time${info.entered === 1 ? "" : "s"}` : ""),
    info?.error ? el("p", { class: "error", id: "state-error" }, info.error) : null,
    el("h4", {}, "Input"), el("pre", { id: "state-input" }, pretty(info?.input)),
    el("h4", {}, "Output"), el("pre", { id: "state-output" }, pretty(info?.output)));
}

function statusClass(status) {
  return { SUCCEEDED: "good", succeeded: "good", FAILED: "bad", failed: "bad", TIMED_OUT: "bad", ABORTED: "bad", aborted: "bad" }[status] || "";
}
