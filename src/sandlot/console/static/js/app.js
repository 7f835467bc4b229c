// The console's routes, sign-in and header, and the views of Lambda, S3, SQS and
// DynamoDB; the other services' views are in views/. Every API answer is rendered as
// text (dom.js), never as HTML: names, payloads and log lines come from whoever wrote them.

import { Aws } from "./aws.js";
import { el, errorBox, link, main, show, table } from "./dom.js";
import { apisView, httpApiView, restApiView } from "./views/apigateway.js";
import { stacksView, stackView } from "./views/cloudformation.js";
import { busesView, busView } from "./views/events.js";
import { decisionsView, explainView } from "./views/iam.js";
import { topicsView, topicView } from "./views/sns.js";
import { executionView, machinesView, machineView } from "./views/states.js";

const REGIONS = [
  "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2",
  "eu-west-3", "eu-central-1", "eu-north-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1",
  "ap-southeast-2", "ap-south-1", "sa-east-1",
];
const SESSION_KEY = "sandlot.console.session"; // sessionStorage only: gone with the tab
const LOG_POLL_MS = 250; // a printed line shows within ~0.5 s (issue 18), at 4 cheap calls a second
const LOG_LOOKBACK_MS = 15 * 60 * 1000;

const header = document.getElementById("header");
let stopView = () => {}; // what the current view must stop (a poller) when left
let routed = 0; // which route() call is the current one

// The services in the header and on the home page: [route, nav label, home page label].
const SERVICES = [
  ["/lambda", "Lambda", "Lambda functions"], ["/s3", "S3", "S3 buckets"], ["/sqs", "SQS", "SQS queues"],
  ["/dynamodb", "DynamoDB", "DynamoDB tables"], ["/sns", "SNS", "SNS topics"],
  ["/events", "EventBridge", "EventBridge event buses and rules"],
  ["/states", "Step Functions", "Step Functions state machines and executions"],
  ["/cloudformation", "CloudFormation", "CloudFormation stacks"],
  ["/apigateway", "API Gateway", "API Gateway REST and HTTP APIs"],
  ["/iam", "IAM decisions", "IAM decision log, with explain for each denial"],
];

// -- session -------------------------------------------------------------------------------
function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY));
  } catch {
    return null;
  }
}

function saveSession(session) {
  if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(SESSION_KEY);
}

function client() {
  const session = loadSession();
  return session && new Aws(session.credentials, session.region);
}

function signInView(message) {
  header.replaceChildren(el("h1", {}, "sandlot console"));
  const form = el("form", { id: "sign-in", class: "panel" },
    el("h2", {}, "Sign in"),
    el("p", { class: "hint" },
      "With an access key: in dev mode any key id works (a 12-digit key id names the account); " +
      "in secure mode, the root's key or an IAM user's. Every action is an API call, signed in " +
      "this page and evaluated by IAM. The key is kept in this tab's session storage only."),
    el("label", {}, "Access key ID", el("input", { name: "accessKeyId", id: "access-key-id", required: true, autocomplete: "username" })),
    el("label", {}, "Secret access key", el("input", { name: "secretAccessKey", id: "secret-access-key", type: "password", required: true, autocomplete: "current-password" })),
    el("label", {}, "Session token (optional)", el("input", { name: "sessionToken", id: "session-token" })),
    el("label", {}, "Region", regionSelect("us-east-1", "region")),
    message ? errorBox(message) : null,
    el("button", { type: "submit", id: "sign-in-button" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const credentials = { accessKeyId: data.get("accessKeyId").trim(), secretAccessKey: data.get("secretAccessKey") };
    if (data.get("sessionToken")) credentials.sessionToken = data.get("sessionToken").trim();
    const aws = new Aws(credentials, data.get("region"));
    try {
      const identity = await aws.callerIdentity(); // proves the key before keeping it
      saveSession({ credentials, region: data.get("region"), identity });
      route();
    } catch (error) {
      signInView(error);
    }
  });
  show(form);
}

function regionSelect(current, id) {
  return el("select", { name: "region", id },
    REGIONS.map((r) => el("option", { value: r, selected: r === current }, r)));
}

function headerView(session) {
  const select = regionSelect(session.region, "region-picker");
  select.addEventListener("change", () => {
    saveSession({ ...session, region: select.value });
    route();
  });
  header.replaceChildren(
    el("h1", {}, link("/", "sandlot console")),
    el("nav", {}, SERVICES.map(([path, label]) => link(path, label))),
    el("span", { class: "identity", id: "identity", title: session.identity.arn }, `account ${session.identity.account}`),
    select,
    el("button", { id: "sign-out", onclick: () => { saveSession(null); location.hash = "#/"; route(); } }, "Sign out"));
}

// -- views ---------------------------------------------------------------------------------
function homeView() {
  show(el("section", { class: "panel" }, el("h2", {}, "Services"),
    el("ul", {}, SERVICES.map(([path, , label]) => el("li", {}, link(path, label))))));
}

async function functionsView(aws) {
  const functions = await aws.listFunctions();
  show(el("section", { class: "panel" }, el("h2", {}, `Lambda functions (${aws.region})`),
    functions.length === 0 ? el("p", {}, "No functions in this region.") :
      table(["Name", "Runtime", "Memory (MB)", "Last modified"], functions.map((f) => [
        link(`/lambda/${encodeURIComponent(f.FunctionName)}`, f.FunctionName, { class: "function-link" }),
        f.Runtime || f.PackageType, f.MemorySize, f.LastModified]))));
}

async function functionView(aws, name) {
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
  const saved = savedEvents(aws, name, event);
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
  const logs = el("pre", { id: "log-events", class: "logs" });
  const logState = el("p", { id: "log-state", class: "hint" }, "loading…");
  const pattern = el("input", { id: "log-filter", placeholder: 'CloudWatch Logs filter pattern, e.g. ERROR or { $.level = "WARN" }' });
  const group = `/aws/lambda/${name}`;
  // A new pattern starts the view over: the events that match it, then live.
  pattern.addEventListener("change", () => {
    stopView();
    logs.replaceChildren();
    stopView = pollLogs(aws, group, logs, logState, pattern.value.trim());
  });
  show(
    el("section", { class: "panel" }, el("h2", { id: "function-name" }, config.FunctionName),
      el("h3", {}, "Configuration"), table(["Setting", "Value"], rows), codeLink,
      env.length ? [el("h3", {}, "Environment"), table(["Variable", "Value"], env)] : null),
    el("section", { class: "panel" }, el("h3", {}, "Test invoke"),
      saved, el("label", {}, "Event (JSON)", event), invokeButton, result),
    el("section", { class: "panel" }, el("h3", {}, `Recent log events (${group})`),
      el("label", {}, "Filter pattern", pattern), logState, logs));
  stopView = pollLogs(aws, group, logs, logState, "");
}

// Saved test events of a function, kept in this browser's localStorage (events are not
// secrets; the key never goes there) per account, region and function.
function savedEvents(aws, name, event) {
  const storageKey = `sandlot.console.events.${loadSession().identity.account}.${aws.region}.${name}`;
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

// Appends new events of ``group`` to ``target`` every second; returns the stopper.
function pollLogs(aws, group, target, state, filterPattern) {
  const seen = new Set();
  let since = Date.now() - LOG_LOOKBACK_MS;
  let stopped = false;
  let timer = null;
  async function poll() {
    try {
      let token;
      do {
        const page = await aws.filterLogEvents(group, since, token, filterPattern);
        for (const event of page.events || []) {
          if (seen.has(event.eventId)) continue;
          seen.add(event.eventId);
          since = Math.max(since, event.timestamp);
          const time = new Date(event.timestamp).toISOString().slice(11, 23);
          target.append(el("span", { class: "log-line" }, `${time} ${event.logStreamName.slice(-8)} ${event.message.replace(/\n$/, "")}\n`));
        }
        token = page.nextToken;
      } while (token && !stopped);
      state.textContent = `${seen.size} events, live`;
    } catch (error) {
      state.textContent = error.code === "ResourceNotFoundException" ? "no log group yet (the function has not run)" : error.message;
    }
    if (!stopped) timer = setTimeout(poll, LOG_POLL_MS);
  }
  poll();
  return () => { stopped = true; clearTimeout(timer); };
}

async function bucketsView(aws) {
  const buckets = await aws.listBuckets();
  show(el("section", { class: "panel" }, el("h2", {}, "S3 buckets"),
    buckets.length === 0 ? el("p", {}, "No buckets.") :
      table(["Name", "Created"], buckets.map((b) => [link(`/s3/${encodeURIComponent(b.name)}`, b.name, { class: "bucket-link" }), b.created]))));
}

async function objectsView(aws, bucket) {
  const objects = await aws.listObjects(bucket);
  const file = el("input", { type: "file", id: "upload-file" });
  const prefix = el("input", { id: "upload-prefix", placeholder: "key prefix, e.g. dir/" });
  const uploaded = el("p", { id: "upload-result" });
  const upload = el("button", { id: "upload" }, "Upload");
  upload.addEventListener("click", async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    try {
      const key = prefix.value + chosen.name;
      await aws.putObject(bucket, key, new Uint8Array(await chosen.arrayBuffer()), chosen.type);
      uploaded.replaceChildren(`Uploaded ${key}`);
      route();
    } catch (error) {
      uploaded.replaceChildren(errorBox(error));
    }
  });
  show(el("section", { class: "panel" }, el("h3", {}, "Upload"),
    el("label", {}, "Key prefix", prefix), el("label", {}, "File", file), upload, uploaded),
  el("section", { class: "panel" }, el("h2", {}, `s3://${bucket}`),
    objects.length === 0 ? el("p", {}, "No objects.") :
      table(["Key", "Size (bytes)", "Last modified", ""], objects.map((o) => [o.key, o.size, o.modified,
        el("button", { class: "download", onclick: () => download(aws, bucket, o.key) }, "Download")]))));
}

async function download(aws, bucket, key) {
  try {
    const blob = await aws.getObject(bucket, key);
    const url = URL.createObjectURL(blob);
    const anchor = el("a", { href: url, download: key.split("/").pop() || "object" });
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (error) {
    main.prepend(errorBox(error));
  }
}

async function tablesView(aws) {
  const names = [];
  let start;
  do {
    const page = await aws.dynamodb("ListTables", start ? { ExclusiveStartTableName: start } : {});
    names.push(...page.TableNames);
    start = page.LastEvaluatedTableName;
  } while (start);
  show(el("section", { class: "panel" }, el("h2", {}, `DynamoDB tables (${aws.region})`),
    names.length === 0 ? el("p", {}, "No tables in this region.") :
      table(["Table"], names.map((n) => [link(`/dynamodb/${encodeURIComponent(n)}`, n, { class: "table-link" })]))));
}

// An attribute value as plain text: strings and numbers as they are, the rest as JSON.
function attributeText(value) {
  if ("S" in value) return value.S;
  if ("N" in value) return value.N;
  if ("BOOL" in value) return String(value.BOOL);
  if ("NULL" in value) return "null";
  return JSON.stringify(value);
}

async function itemsView(aws, name) {
  const { Table } = await aws.dynamodb("DescribeTable", { TableName: name });
  const keys = Table.KeySchema.map((k) => k.AttributeName);
  const pages = [undefined]; // the ExclusiveStartKey of each page seen
  const holder = el("div", { id: "items" });
  async function load(index) {
    const payload = { TableName: name, Limit: 50 };
    if (pages[index]) payload.ExclusiveStartKey = pages[index];
    const page = await aws.dynamodb("Scan", payload);
    if (page.LastEvaluatedKey) pages[index + 1] = page.LastEvaluatedKey;
    const names = [...keys];
    for (const item of page.Items) for (const attr of Object.keys(item)) if (!names.includes(attr)) names.push(attr);
    const more = page.LastEvaluatedKey
      ? el("button", { id: "next-page", onclick: () => load(index + 1).catch((e) => holder.replaceChildren(errorBox(e))) }, "Next page")
      : null;
    holder.replaceChildren(
      page.Items.length === 0 ? el("p", {}, "No items.") :
        table(names, page.Items.map((item) => names.map((n) => (n in item ? attributeText(item[n]) : "")))),
      more);
  }
  show(el("section", { class: "panel" }, el("h2", {}, name),
    table(["Setting", "Value"], [["Key", keys.join(", ")], ["Status", Table.TableStatus],
      ["Item count (approximate)", Table.ItemCount], ["ARN", Table.TableArn]]),
    el("h3", {}, "Items"), holder));
  await load(0);
}

async function queuesView(aws) {
  const { QueueUrls = [] } = await aws.sqs("ListQueues", {});
  show(el("section", { class: "panel" }, el("h2", {}, "SQS queues"),
    QueueUrls.length === 0 ? el("p", {}, "No queues in this region.") :
      table(["Queue", "URL"], QueueUrls.map((url) => [
        link(`/sqs/${encodeURIComponent(url)}`, url.split("/").pop(), { class: "queue-link" }), url]))));
}

async function queueView(aws, url) {
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

// -- routing -------------------------------------------------------------------------------
async function route() {
  stopView();
  stopView = () => {};
  const current = ++routed;
  const session = loadSession();
  if (!session) return signInView();
  headerView(session);
  const aws = client();
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  show(el("p", { class: "hint" }, "loading…"));
  try {
    if (parts[0] === "lambda" && parts[1]) await functionView(aws, parts[1]);
    else if (parts[0] === "lambda") await functionsView(aws);
    else if (parts[0] === "s3" && parts[1]) await objectsView(aws, parts[1]);
    else if (parts[0] === "s3") await bucketsView(aws);
    else if (parts[0] === "dynamodb" && parts[1]) await itemsView(aws, parts[1]);
    else if (parts[0] === "dynamodb") await tablesView(aws);
    else if (parts[0] === "sqs" && parts[1]) await queueView(aws, parts.slice(1).join("/"));
    else if (parts[0] === "sqs") await queuesView(aws);
    else if (parts[0] === "sns" && parts[1]) await topicView(aws, parts[1]);
    else if (parts[0] === "sns") await topicsView(aws);
    else if (parts[0] === "events" && parts[1]) await busView(aws, parts[1]);
    else if (parts[0] === "events") await busesView(aws);
    else if (parts[0] === "states" && parts[1] === "execution") keep(current, await executionView(aws, parts[2]));
    else if (parts[0] === "states" && parts[1]) await machineView(aws, parts[1]);
    else if (parts[0] === "states") await machinesView(aws);
    else if (parts[0] === "cloudformation" && parts[1]) keep(current, await stackView(aws, parts[1]));
    else if (parts[0] === "cloudformation") await stacksView(aws);
    else if (parts[0] === "apigateway" && parts[1] === "rest") await restApiView(aws, parts[2]);
    else if (parts[0] === "apigateway" && parts[1] === "http") await httpApiView(aws, parts[2]);
    else if (parts[0] === "apigateway") await apisView(aws);
    else if (parts[0] === "iam" && parts[1] === "explain") await explainView(aws, parts[2]);
    else if (parts[0] === "iam") await decisionsView(aws, session.identity.account, parts[1]);
    else homeView();
  } catch (error) {
    show(errorBox(error));
  }
}

// A polling view's stopper becomes the one to call when the view is left, unless the
// user already went elsewhere while it loaded.
function keep(current, stop) {
  if (current === routed) stopView = stop;
  else stop();
}

window.addEventListener("hashchange", route);
route();
