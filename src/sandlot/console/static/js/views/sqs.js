// SQS queues (JSON protocol) -> attributes, SendMessage, and a peek that leaves the
// messages to consumers.

import { el, errorBox, link, show, table } from "../dom.js";

export async function queuesView(aws) {
  const { QueueUrls = [] } = await aws.sqs("ListQueues", {});
  show(el("section", { class: "panel" }, el("h2", {}, "SQS queues"),
    QueueUrls.length === 0 ? el("p", {}, "No queues in this region.") :
      table(["Queue", "URL"], QueueUrls.map((url) => [
        link(`/sqs/${encodeURIComponent(url)}`, url.split("/").pop(), { class: "queue-link" }), url]))));
}

export async function queueView(aws, url) {
  const { Attributes = {} } = await aws.sqs("GetQueueAttributes", { QueueUrl: url, AttributeNames: ["All"] });
  const body = el("textarea", { id: "message-body", rows: 4 }, "");
  const sent = el("p", { id: "send-result" });
  const button = el("button", { id: "send-message" }, "Send message");
  button.addEventListener("click", async () => {
    try {
      const payload = { QueueUrl: url, MessageBody: body.value };
      if (url.endsWith(".fifo")) payload.MessageGroupId = "console";
      const answer = await aws.sqs("SendMessage", payload);
      sent.replaceChildren(`Sent message ${answer.MessageId}`);
    } catch (error) {
      sent.replaceChildren(errorBox(error));
    }
  });
  const peeked = el("div", { id: "peeked" });
  const peek = el("button", { id: "peek" }, "Peek at messages");
  // ReceiveMessage with a zero visibility timeout: the messages stay available to
  // consumers (their receive count goes up, as with the AWS console's poll).
  peek.addEventListener("click", async () => {
    try {
      const { Messages = [] } = await aws.sqs("ReceiveMessage", {
        QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ["All"], MessageAttributeNames: ["All"],
      });
      peeked.replaceChildren(Messages.length === 0 ? el("p", {}, "No messages available.") :
        table(["Message ID", "Body", "Receive count", "Sent"], Messages.map((m) => [m.MessageId, m.Body,
          m.Attributes?.ApproximateReceiveCount,
          new Date(Number(m.Attributes?.SentTimestamp)).toISOString()])));
    } catch (error) {
      peeked.replaceChildren(errorBox(error));
    }
  });
  show(el("section", { class: "panel" }, el("h2", {}, url.split("/").pop()),
    el("h3", {}, "Attributes"), table(["Attribute", "Value"], Object.entries(Attributes).sort())),
  el("section", { class: "panel" }, el("h3", {}, "Send a message"), body, button, sent),
  el("section", { class: "panel" }, el("h3", {}, "Messages"), peek, peeked));
}
