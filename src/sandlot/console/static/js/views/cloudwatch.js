// CloudWatch alarms (JSON protocol) -> the region's metric and composite alarms with
// their state, re-read every 2 s while shown (sandlot evaluates alarms every 10 s) -> an
// alarm's configuration, actions and history (DescribeAlarmHistory, newest first).

import { el, errorBox, link, panel, poll, pretty, show, table, when } from "../dom.js";

const POLL_MS = 2000;
const TYPES = ["MetricAlarm", "CompositeAlarm"];
const COMPARISONS = {
  GreaterThanThreshold: ">", GreaterThanOrEqualToThreshold: ">=",
  LessThanThreshold: "<", LessThanOrEqualToThreshold: "<=",
};

// Every alarm of the region, metric and composite, following NextToken; sorted by name.
async function describeAlarms(aws, payload = {}) {
  const alarms = [];
  let token;
  do {
    const page = await aws.cloudwatch("DescribeAlarms", { ...payload, AlarmTypes: TYPES, ...(token ? { NextToken: token } : {}) });
    alarms.push(...(page.MetricAlarms || []), ...(page.CompositeAlarms || []).map((a) => ({ ...a, composite: true })));
    token = page.NextToken;
  } while (token);
  return alarms.sort((a, b) => (a.AlarmName < b.AlarmName ? -1 : a.AlarmName > b.AlarmName ? 1 : 0));
}

export function alarmsView(aws) {
  const state = el("p", { id: "alarms-poll", class: "hint" }, "loading…");
  const body = el("div", { id: "alarms" });
  show(panel(el("h2", {}, `CloudWatch alarms (${aws.region})`), state, body));
  return poll(async () => {
    try {
      const alarms = await describeAlarms(aws);
      const counts = Object.fromEntries(["ALARM", "INSUFFICIENT_DATA", "OK"].map((s) => [s, alarms.filter((a) => a.StateValue === s).length]));
      body.replaceChildren(alarms.length === 0 ? el("p", {}, "No alarms in this region.") :
        el("table", { id: "alarms-table" },
          el("thead", {}, el("tr", {}, ["Alarm", "State", "Metric", "Condition", "State changed (UTC)", "Reason"].map((c) => el("th", {}, c)))),
          el("tbody", {}, alarms.map((a) => el("tr", { "data-alarm": a.AlarmName, "data-state": a.StateValue },
            el("td", {}, link(`/cloudwatch/${encodeURIComponent(a.AlarmName)}`, a.AlarmName, { class: "alarm-link" })),
            el("td", {}, stateBadge(a.StateValue)),
            el("td", {}, metricOf(a)), el("td", {}, conditionOf(a)),
            el("td", { class: "nowrap" }, when(a.StateUpdatedTimestamp)), el("td", { class: "alarm-reason" }, a.StateReason || ""))))));
      state.textContent = `${counts.ALARM} in alarm, ${counts.INSUFFICIENT_DATA} with insufficient data, ${counts.OK} OK; ` +
        `refreshing every ${POLL_MS / 1000} s, last read ${new Date().toISOString().slice(11, 19)}`;
    } catch (error) {
      body.replaceChildren(errorBox(error));
    }
    return POLL_MS;
  }, POLL_MS);
}

export function alarmView(aws, name) {
  const summary = el("div", { id: "alarm-summary" });
  const actions = el("div", { id: "alarm-actions" });
  const history = el("div", { id: "alarm-history" });
  const state = el("p", { id: "alarm-poll", class: "hint" });
  show(panel(el("p", {}, link("/cloudwatch", "← all alarms")), el("h2", { id: "alarm-name" }, name), state, summary),
    panel(el("h3", {}, "Actions"), actions),
    panel(el("h3", {}, "History (newest first)"), history));
  return poll(async () => {
    try {
      const [[alarm], answer] = await Promise.all([
        describeAlarms(aws, { AlarmNames: [name] }),
        aws.cloudwatch("DescribeAlarmHistory", { AlarmName: name, ScanBy: "TimestampDescending", MaxRecords: 100 }),
      ]);
      if (!alarm) {
        summary.replaceChildren(errorBox(`No alarm named ${name} in ${aws.region}.`));
        return POLL_MS;
      }
      summary.replaceChildren(table(["Setting", "Value"], configurationOf(alarm), { id: "alarm-config" }));
      actions.replaceChildren(table(["When", "Actions"], [
        ["ALARM", alarm.AlarmActions], ["OK", alarm.OKActions], ["INSUFFICIENT_DATA", alarm.InsufficientDataActions],
      ].map(([on, arns]) => [on, arnList(arns)]), { id: "actions-table" }),
      el("p", { class: "hint" }, alarm.ActionsEnabled ? "Actions are enabled." : "Actions are disabled: state changes notify no one."));
      const items = answer.AlarmHistoryItems || [];
      history.replaceChildren(items.length === 0 ? el("p", {}, "No history yet.") :
        el("table", { id: "history-table" },
          el("thead", {}, el("tr", {}, ["Time (UTC)", "Type", "Summary"].map((c) => el("th", {}, c)))),
          el("tbody", {}, items.map((h) => el("tr", { class: "history-item", "data-type": h.HistoryItemType, "data-new-state": newState(h) },
            el("td", { class: "nowrap" }, when(h.Timestamp)), el("td", {}, h.HistoryItemType),
            el("td", {}, h.HistorySummary, h.HistoryData ? el("details", {}, el("summary", {}, "data"), el("pre", {}, pretty(h.HistoryData))) : null))))));
      state.textContent = `refreshing every ${POLL_MS / 1000} s, last read ${new Date().toISOString().slice(11, 19)}`;
    } catch (error) {
      summary.replaceChildren(errorBox(error));
    }
    return POLL_MS;
  }, POLL_MS);
}

function stateBadge(value) {
  return el("span", { class: `alarm-state alarm-${value}` }, value);
}

function metricOf(alarm) {
  if (alarm.composite) return el("span", {}, "composite: ", el("code", {}, alarm.AlarmRule));
  if (alarm.Metrics) return `metric math (${alarm.Metrics.map((m) => m.Id).join(", ")})`;
  const dimensions = (alarm.Dimensions || []).map((d) => `${d.Name}=${d.Value}`).join(", ");
  return `${alarm.Namespace} ${alarm.MetricName}${dimensions ? ` {${dimensions}}` : ""}`;
}

function conditionOf(alarm) {
  if (alarm.composite) return "the rule is true";
  const stat = alarm.Statistic || alarm.ExtendedStatistic || "";
  const op = COMPARISONS[alarm.ComparisonOperator] || alarm.ComparisonOperator;
  const period = alarm.Period ? ` per ${alarm.Period} s` : "";
  const points = alarm.DatapointsToAlarm || alarm.EvaluationPeriods;
  return `${stat}${period} ${op} ${alarm.Threshold ?? alarm.ThresholdMetricId ?? ""}, ${points} of ${alarm.EvaluationPeriods} periods`.trim();
}

function configurationOf(alarm) {
  const rows = [
    ["State", stateBadge(alarm.StateValue)], ["Reason", alarm.StateReason || ""],
    ["State changed", when(alarm.StateUpdatedTimestamp)],
    ["ARN", alarm.AlarmArn], ["Description", alarm.AlarmDescription || ""],
    ["Type", alarm.composite ? "composite alarm" : "metric alarm"],
  ];
  if (alarm.composite) rows.push(["Rule", el("code", {}, alarm.AlarmRule)]);
  else {
    rows.push(["Metric", metricOf(alarm)], ["Condition", conditionOf(alarm)],
      ["Comparison", alarm.ComparisonOperator], ["Threshold", String(alarm.Threshold ?? "")],
      ["Missing data", alarm.TreatMissingData || "missing"]);
    if (alarm.Metrics) rows.push(["Queries", el("pre", {}, JSON.stringify(alarm.Metrics, null, 2))]);
    if (alarm.Unit) rows.push(["Unit", alarm.Unit]);
  }
  rows.push(["Configuration updated", when(alarm.AlarmConfigurationUpdatedTimestamp)]);
  if (alarm.StateReasonData) rows.push(["Reason data", el("details", {}, el("summary", {}, "datapoints evaluated"), el("pre", {}, pretty(alarm.StateReasonData)))]);
  return rows;
}

// ARNs, an SNS topic's linked to its page.
function arnList(arns = []) {
  if (arns.length === 0) return el("span", { class: "hint" }, "none");
  return el("div", {}, arns.map((arn) => el("div", {},
    arn.startsWith("arn:aws:sns:") ? link(`/sns/${encodeURIComponent(arn)}`, arn, { class: "action-link" }) : arn)));
}

// The state a StateUpdate history item moved to, "" for other items.
function newState(item) {
  if (item.HistoryItemType !== "StateUpdate" || !item.HistoryData) return "";
  try {
    return JSON.parse(item.HistoryData).newState?.stateValue || "";
  } catch {
    return "";
  }
}
