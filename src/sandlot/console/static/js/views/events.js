// EventBridge buses -> a bus's rules (pattern or schedule, targets) and a PutEvents box.

import { el, errorBox, link, panel, pretty, show, table } from "../dom.js";

export async function busesView(aws) {
  const buses = await aws.jsonPages(aws.events, "ListEventBuses", {}, "EventBuses");
  show(panel(el("h2", {}, `EventBridge event buses (${aws.region})`),
    table(["Bus", "ARN"], buses.map((b) => [
      link(`/events/${encodeURIComponent(b.Name)}`, b.Name, { class: "bus-link" }), b.Arn]))));
}

export async function busView(aws, bus) {
  const rules = await aws.jsonPages(aws.events, "ListRules", { EventBusName: bus }, "Rules");
  const targets = await Promise.all(rules.map((rule) =>
    aws.jsonPages(aws.events, "ListTargetsByRule", { Rule: rule.Name, EventBusName: bus }, "Targets")));

  const source = el("input", { id: "event-source", value: "console.test" });
  const detailType = el("input", { id: "event-detail-type", value: "Console test" });
  const detail = el("textarea", { id: "event-detail", rows: 5, spellcheck: "false" }, "{}");
  const sent = el("div", { id: "put-events-result" });
  const send = el("button", { id: "put-events" }, "Send event");
  send.addEventListener("click", async () => {
    send.disabled = true;
    try {
      JSON.parse(detail.value); // refuse what is not JSON before sending it
      const answer = await aws.events("PutEvents", { Entries: [{
        EventBusName: bus, Source: source.value, DetailType: detailType.value, Detail: detail.value }] });
      const entry = answer.Entries[0] || {};
      sent.replaceChildren(entry.EventId
        ? el("p", { class: "good" }, `Sent event ${entry.EventId}`)
        : el("p", { class: "error" }, `${entry.ErrorCode}: ${entry.ErrorMessage}`));
    } catch (error) {
      sent.replaceChildren(errorBox(error));
    } finally {
      send.disabled = false;
    }
  });

  show(panel(el("h2", { id: "bus-name" }, bus), el("h3", {}, `Rules (${rules.length})`),
    rules.length === 0 ? el("p", {}, "No rules on this bus.") :
      rules.map((rule, i) => el("div", { class: "rule", "data-rule": rule.Name },
        el("h4", {}, `${rule.Name} (${rule.State})`),
        rule.Description ? el("p", { class: "hint" }, rule.Description) : null,
        rule.ScheduleExpression ? el("p", {}, `Schedule: ${rule.ScheduleExpression}`) : null,
        rule.EventPattern ? el("pre", { class: "pattern" }, pretty(rule.EventPattern)) : null,
        targets[i].length === 0 ? el("p", { class: "hint" }, "No targets.") :
          table(["Target", "ARN", "Input"], targets[i].map((t) => [t.Id, t.Arn,
            t.Input ?? t.InputPath ?? (t.InputTransformer ? pretty(JSON.stringify(t.InputTransformer)) : "matched event")]))))),
  panel(el("h3", {}, "Send a test event (PutEvents)"),
    el("label", {}, "Source", source), el("label", {}, "Detail type", detailType),
    el("label", {}, "Detail (JSON)", detail), send, sent));
}
