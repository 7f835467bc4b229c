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
const PAD = 16; // inside a Parallel's or Map's box
const HEADER_H = 48; // the box's name and type, above its workflows
const MARGIN = 20;
const LOOP_ROOM = 60; // right of the states, for the edges that loop back

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
  const every = allStates(parsed); // nested states too
  const summary = el("div", { id: "execution-summary" });
  const graph = el("div", { id: "execution-graph-holder" });
  const states = el("div", { id: "execution-states" });
  const details = el("div", { id: "state-details" }, el("p", { class: "hint" }, "Pick a state in the graph."));
  let selected = null;
  let latest = new Map();
  const select = (name) => {
    selected = name;
    details.replaceChildren(stateDetails(name, every.get(name), latest.get(name)));
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
        [...every].map(([name, state]) => [name, state.Type,
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

// What the history says of each state (nested ones too: state names are unique in a
// machine): status, visits, latest input and output, the error that failed it.
function statesOf(definition, events, executionStatus) {
  const names = allStates(definition);
  const info = new Map();
  const open = []; // states entered and not yet exited, the newest last
  for (const event of events) {
    const entered = event.stateEnteredEventDetails;
    const exited = event.stateExitedEventDetails;
    if (entered && names.has(entered.name)) {
      const state = info.get(entered.name) || { entered: 0 };
      Object.assign(state, { status: "running", input: entered.input, entered: state.entered + 1, error: null, output: undefined });
      info.set(entered.name, state);
      open.push(entered.name);
    } else if (exited && info.has(exited.name)) {
      Object.assign(info.get(exited.name), { status: "succeeded", output: exited.output });
      const at = open.lastIndexOf(exited.name);
      if (at >= 0) open.splice(at, 1);
    } else if (/(Failed|TimedOut)$/.test(event.type) && !event.type.startsWith("Execution") && open.length) {
      // A failure names no state: it is the newest one still open (a branch's state
      // first, then its Parallel's own ...StateFailed).
      const failure = Object.entries(event).find(([key]) => key.endsWith("EventDetails"))?.[1] || {};
      Object.assign(info.get(open.pop()), { status: "failed", error: `${failure.error || event.type}: ${failure.cause || ""}` });
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

// The workflows a state runs inside itself: a Parallel's branches, a Map's processor.
function workflowsIn(state) {
  if (state.Type === "Parallel") return state.Branches || [];
  const processor = state.Type === "Map" && (state.ItemProcessor || state.Iterator);
  return processor ? [processor] : [];
}

function allStates(definition, into = new Map()) {
  for (const [name, state] of Object.entries(definition.States || {})) {
    into.set(name, state);
    for (const workflow of workflowsIn(state)) allStates(workflow, into);
  }
  return into;
}

// A workflow's states in rows by their distance from StartAt (breadth first),
// unreachable ones last, each row centred; a Parallel or Map is a box holding its
// workflows side by side. Positions are relative to the workflow's top left.
function layout(definition) {
  const states = definition.States || {};
  const rows = [];
  const queue = [[definition.StartAt, 0]];
  const seen = new Set([definition.StartAt]);
  while (queue.length) {
    const [name, depth] = queue.shift();
    if (!(name in states)) continue;
    (rows[depth] ||= []).push(name);
    for (const next of transitions(states[name])) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push([next, depth + 1]);
      }
    }
  }
  for (const name of Object.keys(states)) if (!seen.has(name)) (rows[rows.length] ||= []).push(name);
  const size = new Map();
  for (const name of Object.keys(states)) {
    const inner = workflowsIn(states[name]).map(layout);
    if (inner.length === 0) {
      size.set(name, { w: NODE_W, h: NODE_H, inner });
    } else {
      const w = inner.reduce((sum, l) => sum + l.width, 0) + GAP_X * (inner.length - 1) + 2 * PAD;
      size.set(name, { w: Math.max(w, NODE_W), h: HEADER_H + Math.max(...inner.map((l) => l.height)) + PAD, inner });
    }
  }
  const rowWidth = (row) => row.reduce((sum, n) => sum + size.get(n).w, 0) + GAP_X * (row.length - 1);
  const width = Math.max(NODE_W, ...rows.map(rowWidth));
  const place = new Map();
  let y = 0;
  rows.forEach((row, depth) => {
    let x = (width - rowWidth(row)) / 2;
    for (const name of row) {
      const { w, h, inner } = size.get(name);
      place.set(name, { x, y, w, h, depth, inner });
      x += w + GAP_X;
    }
    y += Math.max(...row.map((n) => size.get(n).h)) + GAP_Y;
  });
  return { place, width, height: Math.max(0, y - GAP_Y) };
}

function graphOf(definition, info, onPick) {
  const shape = layout(definition);
  const width = shape.width + 2 * MARGIN + LOOP_ROOM;
  const height = shape.height + 2 * MARGIN;
  const root = svg("svg", { id: "execution-graph", class: "graph", width, height, viewBox: `0 0 ${width} ${height}`, role: "img" },
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
      svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head" }))));
  drawWorkflow(root, definition, shape, MARGIN, MARGIN, info, onPick);
  return root;
}

function drawWorkflow(parent, definition, shape, ox, oy, info, onPick) {
  for (const [name, state] of Object.entries(definition.States || {})) {
    const from = shape.place.get(name);
    for (const next of transitions(state)) {
      const to = shape.place.get(next);
      if (!to) continue;
      const [fx, fy, tx, ty] = [ox + from.x, oy + from.y, ox + to.x, oy + to.y];
      const d = to.depth > from.depth
        ? `M${fx + from.w / 2},${fy + from.h} L${tx + to.w / 2},${ty}`
        // A loop back (or a step sideways) goes round the right-hand side.
        : `M${fx + from.w},${fy + from.h / 2} C${fx + from.w + 50},${fy + from.h / 2} ` +
          `${tx + to.w + 50},${ty + to.h / 2} ${tx + to.w},${ty + to.h / 2}`;
      parent.append(svg("path", { d, class: "edge", "marker-end": "url(#arrow)" }));
    }
  }
  for (const [name, state] of Object.entries(definition.States || {})) {
    const { x, y, w, h, inner } = shape.place.get(name);
    const status = info.get(name)?.status || "not-run";
    const label = name.length > 26 ? name.slice(0, 25) + "…" : name;
    const pick = (event) => {
      event.stopPropagation(); // a nested state's pick is not its container's
      onPick(name);
    };
    const node = svg("g", { class: `state state-${status}${inner.length ? " container" : ""}`, "data-name": name,
      "data-status": status, tabindex: 0, transform: `translate(${ox + x},${oy + y})`,
      onclick: pick, onkeydown: (e) => e.key === "Enter" && pick(e) },
    svg("title", {}, `${name} (${state.Type}): ${status}`),
    svg("rect", { width: w, height: h, rx: 6 }),
    svg("text", { x: w / 2, y: 19, class: "state-name" }, label),
    svg("text", { x: w / 2, y: 36, class: "state-type" }, `${state.Type} · ${status.replace("-", " ")}`));
    parent.append(node);
    // The nested workflows, side by side under the header, drawn in the page's
    // coordinates (after the box, so they sit on top of it).
    let dx = ox + x + (w - (inner.reduce((sum, l) => sum + l.width, 0) + GAP_X * (inner.length - 1))) / 2;
    workflowsIn(state).forEach((workflow, i) => {
      drawWorkflow(node, workflow, inner[i], dx - (ox + x), HEADER_H, info, onPick);
      dx += inner[i].width + GAP_X;
    });
  }
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
