// The IAM decision log (the newest evaluated decisions about this account's requests)
// and `explain` for one request: the admin endpoints `sandlot iam` uses, which in secure
// mode answer only the account root.

import { el, link, panel, show, table, when } from "../dom.js";

const OUTCOMES = { ALLOW: "allowed", EXPLICIT_DENY: "denied explicitly", IMPLICIT_DENY: "denied implicitly" };

export async function decisionsView(aws, account, which) {
  const deniedOnly = which !== "all";
  const { decisions } = await aws.admin("iam/decisions", [["account", account], ["denied", String(deniedOnly)], ["limit", "200"]]);
  show(panel(el("h2", {}, `IAM decisions (account ${account})`),
    el("p", { class: "hint" },
      "Requests by IAM users, role sessions and services are evaluated and logged (an account root acting in " +
      "its own account is not). ", deniedOnly ? link("/iam/all", "Show allowed decisions too", { id: "show-all" }) :
        link("/iam", "Show denials only", { id: "show-denied" })),
    decisions.length === 0 ? el("p", {}, deniedOnly ? "No denials logged." : "No decisions logged.") :
      table(["Time", "Principal", "Action", "Resource", "Outcome", "Request"], decisions.map((d) => [
        when(d.time), d.principal_arn, d.action, d.resource,
        el("span", { class: d.outcome === "ALLOW" ? "good" : "bad" }, OUTCOMES[d.outcome] || d.outcome),
        link(`/iam/explain/${encodeURIComponent(d.request_id)}`, d.request_id, { class: "explain-link" })]),
      { id: "decisions-table" })));
}

export async function explainView(aws, requestId) {
  const { decisions } = await aws.admin(`iam/explain/${encodeURIComponent(requestId)}`);
  const first = decisions[0];
  show(panel(el("h2", { id: "explain-request" }, `Request ${requestId}`),
    table(["Setting", "Value"], [["Call", `${first.service} ${first.operation}`], ["Time", when(first.time)],
      ["Principal", first.principal_arn], first.role_arn ? ["Role", first.role_arn] : null].filter(Boolean))),
  ...decisions.map((d, i) => el("section", { class: "panel decision" }, el("h3", {}, `${d.action} on ${d.resource}`),
    el("p", {}, el("span", { class: d.outcome === "ALLOW" ? "good" : "bad", id: `outcome-${i}` }, OUTCOMES[d.outcome] || d.outcome),
      d.outcome !== "ALLOW" && !d.enforced ? " (not enforced: the server runs with --iam soft)" : ""),
    d.outcome !== "ALLOW" ? el("p", { class: "reason", id: `reason-${i}` }, d.reason) : null,
    el("h4", {}, "Policies evaluated"),
    Object.values(d.policies).flat().length === 0 ? el("p", {}, "none") :
      table(["Kind", "Policy"], Object.entries(d.policies).flatMap(([kind, ids]) => ids.map((id) => [kind, id]))),
    el("h4", {}, d.outcome === "ALLOW" ? "Decided by" : `Statements about ${d.action.split(":")[0]} actions`),
    d.statements.length === 0 ? el("p", {}, d.outcome === "ALLOW" ? "the account root's own authority" : "none") :
      table(d.outcome === "ALLOW" ? ["Statement"] : ["Statement", "Verdict"], d.statements.map((s) =>
        d.outcome === "ALLOW" ? [s.statement] : [s.statement, s.applied ? "applies" : `does not apply (${s.ruled_out_by})`]),
      { id: `statements-${i}` }))));
}
