// The console's sign-in, header and routes; each service's views are in views/. Every
// API answer is rendered as text (dom.js), never as HTML: names, payloads and log lines
// come from whoever wrote them.

import { Aws } from "./aws.js";
import { el, errorBox, link, show } from "./dom.js";
import { apisView, httpApiView, restApiView } from "./views/apigateway.js";
import { stacksView, stackView } from "./views/cloudformation.js";
import { alarmsView, alarmView } from "./views/cloudwatch.js";
import { itemsView, tablesView } from "./views/dynamodb.js";
import { busesView, busView } from "./views/events.js";
import { decisionsView, explainView } from "./views/iam.js";
import { functionsView, functionView } from "./views/lambda.js";
import { bucketsView, objectsView } from "./views/s3.js";
import { topicsView, topicView } from "./views/sns.js";
import { queuesView, queueView } from "./views/sqs.js";
import { executionView, machinesView, machineView } from "./views/states.js";
import { traceView, tracesView } from "./views/xray.js";

const REGIONS = [
  "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2",
  "eu-west-3", "eu-central-1", "eu-north-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1",
  "ap-southeast-2", "ap-south-1", "sa-east-1",
];
const SESSION_KEY = "sandlot.console.session"; // sessionStorage only: gone with the tab

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
  ["/xray", "X-Ray", "X-Ray traces, their waterfalls and the service map"],
  ["/cloudwatch", "CloudWatch alarms", "CloudWatch alarms: their state, history and actions"],
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
    if (parts[0] === "lambda" && parts[1]) keep(current, await functionView(aws, session.identity.account, parts[1]));
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
    else if (parts[0] === "xray" && parts[1] === "trace" && parts[2]) keep(current, traceView(aws, parts[2]));
    else if (parts[0] === "xray") await tracesView(aws);
    else if (parts[0] === "cloudwatch" && parts[1]) keep(current, alarmView(aws, parts.slice(1).join("/")));
    else if (parts[0] === "cloudwatch") keep(current, alarmsView(aws));
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
