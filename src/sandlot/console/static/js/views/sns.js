// SNS topics -> a topic's attributes, subscriptions, and a Publish box with message
// attributes (query protocol: the answers are XML, read with xmlList/xmlObject).

import { text, xmlList, xmlObject } from "../aws.js";
import { el, errorBox, link, panel, pretty, show, table } from "../dom.js";

const DATA_TYPES = ["String", "Number", "String.Array", "Binary"];

export async function topicsView(aws) {
  const topics = (await aws.queryPages(aws.sns, "ListTopics", {}, "Topics")).map((m) => text(m, "TopicArn"));
  show(panel(el("h2", {}, `SNS topics (${aws.region})`),
    topics.length === 0 ? el("p", {}, "No topics in this region.") :
      table(["Topic", "ARN"], topics.map((arn) => [
        link(`/sns/${encodeURIComponent(arn)}`, arn.split(":").pop(), { class: "topic-link" }), arn]))));
}

export async function topicView(aws, arn) {
  const [attributesDoc, subscriptions] = await Promise.all([
    aws.sns("GetTopicAttributes", { TopicArn: arn }),
    aws.queryPages(aws.sns, "ListSubscriptionsByTopic", { TopicArn: arn }, "Subscriptions"),
  ]);
  // Policies are JSON documents: shown indented.
  const attributes = xmlList(attributesDoc, "Attributes").map((e) => [text(e, "key"), text(e, "value")]).sort()
    .map(([key, value]) => [key, value.startsWith("{") ? el("pre", {}, pretty(value)) : value]);
  const fifo = arn.endsWith(".fifo");

  const subject = el("input", { id: "publish-subject", placeholder: "optional" });
  const message = el("textarea", { id: "publish-message", rows: 4, spellcheck: "false" }, "");
  const groupId = fifo ? el("input", { id: "publish-group-id", value: "console" }) : null;
  const rows = el("div", { id: "publish-attributes" });
  const addRow = () => rows.append(el("div", { class: "attribute-row" },
    el("input", { class: "attribute-name", placeholder: "name" }),
    el("select", { class: "attribute-type" }, DATA_TYPES.map((t) => el("option", { value: t }, t))),
    el("input", { class: "attribute-value", placeholder: "value" })));
  addRow();
  const published = el("p", { id: "publish-result" });
  const publish = el("button", { id: "publish" }, "Publish message");
  publish.addEventListener("click", async () => {
    const params = { TopicArn: arn, Message: message.value };
    if (subject.value) params.Subject = subject.value;
    if (groupId) {
      params.MessageGroupId = groupId.value;
      params.MessageDeduplicationId = crypto.randomUUID();
    }
    let n = 0;
    for (const row of rows.children) {
      const name = row.querySelector(".attribute-name").value.trim();
      if (!name) continue;
      n += 1;
      const type = row.querySelector(".attribute-type").value;
      const value = row.querySelector(".attribute-value").value;
      params[`MessageAttributes.entry.${n}.Name`] = name;
      params[`MessageAttributes.entry.${n}.Value.DataType`] = type;
      params[`MessageAttributes.entry.${n}.Value.${type === "Binary" ? "BinaryValue" : "StringValue"}`] = value;
    }
    publish.disabled = true;
    try {
      const doc = await aws.sns("Publish", params);
      published.replaceChildren(`Published message ${text(doc, "MessageId")}`);
    } catch (error) {
      published.replaceChildren(errorBox(error));
    } finally {
      publish.disabled = false;
    }
  });

  show(panel(el("h2", { id: "topic-name" }, arn.split(":").pop()),
    el("h3", {}, "Attributes"), table(["Attribute", "Value"], attributes)),
  panel(el("h3", {}, "Subscriptions"),
    subscriptions.length === 0 ? el("p", {}, "No subscriptions.") :
      table(["Protocol", "Endpoint", "Subscription ARN"], subscriptions.map((m) => {
        const s = xmlObject(m);
        return [s.Protocol, s.Endpoint, s.SubscriptionArn];
      }), { id: "subscriptions" })),
  panel(el("h3", {}, "Publish a message"),
    el("label", {}, "Subject", subject), el("label", {}, "Message", message),
    groupId ? el("label", {}, "Message group ID", groupId) : null,
    el("h4", {}, "Message attributes"), rows,
    el("button", { id: "add-attribute", class: "secondary", onclick: addRow }, "Add attribute"),
    el("div", {}, publish), published));
}
