// CloudFormation stacks -> a stack's resources, outputs and events, polled every second
// while an operation is in progress (query protocol: XML answers).

import { text, xmlList, xmlObject } from "../aws.js";
import { el, errorBox, link, panel, poll, pretty, show, table, when } from "../dom.js";

const POLL_MS = 1000; // while an operation is in progress
const IDLE_POLL_MS = 5000; // otherwise: an update started elsewhere shows within 5 s

export async function stacksView(aws) {
  const stacks = (await aws.queryPages(aws.cloudformation, "DescribeStacks", {}, "Stacks")).map(xmlObject);
  show(panel(el("h2", {}, `CloudFormation stacks (${aws.region})`),
    stacks.length === 0 ? el("p", {}, "No stacks in this region.") :
      table(["Stack", "Status", "Created", "Updated"], stacks.map((s) => [
        link(`/cloudformation/${encodeURIComponent(s.StackName)}`, s.StackName, { class: "stack-link" }),
        el("span", { class: statusClass(s.StackStatus) }, s.StackStatus), when(s.CreationTime), when(s.LastUpdatedTime)]))));
}

export async function stackView(aws, name) {
  const summary = el("div", { id: "stack-summary" });
  const outputs = el("div", { id: "stack-outputs" });
  const resources = el("div", { id: "stack-resources" });
  const events = el("div", { id: "stack-events" });
  const state = el("p", { id: "stack-poll", class: "hint" });
  const template = el("pre", { id: "stack-template" }, "loading…");
  show(panel(el("h2", { id: "stack-name" }, name), summary),
    panel(el("h3", {}, "Outputs"), outputs),
    panel(el("h3", {}, "Resources"), resources),
    panel(el("h3", {}, "Events"), state, events),
    panel(el("h3", {}, "Template"), template));
  // The template as it was given (JSON indented, YAML as written); read once.
  aws.cloudformation("GetTemplate", { StackName: name })
    .then((doc) => { template.textContent = pretty(text(doc, "TemplateBody")); })
    .catch((error) => template.replaceWith(errorBox(error)));

  return poll(async () => {
    try {
      const [stackDoc, resourceList, eventList] = await Promise.all([
        aws.cloudformation("DescribeStacks", { StackName: name }),
        aws.queryPages(aws.cloudformation, "ListStackResources", { StackName: name }, "StackResourceSummaries"),
        aws.cloudformation("DescribeStackEvents", { StackName: name }), // the newest page (100)
      ]);
      const stackNode = xmlList(stackDoc, "Stacks")[0];
      const stack = xmlObject(stackNode);
      const inProgress = stack.StackStatus.endsWith("_IN_PROGRESS");
      summary.replaceChildren(table(["Setting", "Value"], [
        ["Status", el("span", { id: "stack-status", class: statusClass(stack.StackStatus) }, stack.StackStatus)],
        stack.StackStatusReason ? ["Reason", stack.StackStatusReason] : null,
        ["Stack ID", stack.StackId], ["Description", stack.Description || ""],
        ["Created", when(stack.CreationTime)], ["Updated", when(stack.LastUpdatedTime)],
      ].filter(Boolean)));
      const outs = xmlList(stackNode, "Outputs").map(xmlObject);
      outputs.replaceChildren(outs.length === 0 ? el("p", {}, "No outputs.") :
        table(["Key", "Value", "Description", "Export"], outs.map((o) => [o.OutputKey, o.OutputValue, o.Description || "", o.ExportName || ""]),
          { id: "outputs-table" }));
      resources.replaceChildren(resourceList.length === 0 ? el("p", {}, "No resources.") :
        table(["Logical ID", "Physical ID", "Type", "Status"], resourceList.map(xmlObject).map((r) => [
          r.LogicalResourceId, r.PhysicalResourceId || "", r.ResourceType,
          el("span", { class: statusClass(r.ResourceStatus) }, r.ResourceStatus + (r.ResourceStatusReason ? ` (${r.ResourceStatusReason})` : ""))]),
        { id: "resources-table" }));
      const eventRows = xmlList(eventList, "StackEvents").map(xmlObject);
      events.replaceChildren(table(["Time", "Logical ID", "Type", "Status", "Reason"], eventRows.map((e) => [
        when(e.Timestamp), e.LogicalResourceId, e.ResourceType,
        el("span", { class: statusClass(e.ResourceStatus) }, e.ResourceStatus), e.ResourceStatusReason || ""]),
      { id: "events-table" }));
      state.textContent = inProgress ? "in progress: refreshing every second" : `refreshing every 5 s, last read ${new Date().toISOString().slice(11, 19)}`;
      return inProgress ? POLL_MS : IDLE_POLL_MS;
    } catch (error) {
      summary.replaceChildren(errorBox(error));
      return IDLE_POLL_MS;
    }
  }, POLL_MS);
}

function statusClass(status = "") {
  if (status.includes("FAILED") || status.includes("ROLLBACK")) return "bad";
  if (status.endsWith("_COMPLETE")) return "good";
  return "";
}
