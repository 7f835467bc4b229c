// The AWS API calls the console makes: each one signed (sigv4.js) and sent to this
// same origin, the endpoint sandlot serves every service on.

import { sign, uriEncode } from "./sigv4.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(`${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

export class Aws {
  constructor(credentials, region) {
    this.credentials = credentials;
    this.region = region;
  }

  async request(service, method, path, { query = [], headers = {}, body = "" } = {}) {
    const signed = await sign({ credentials: this.credentials, region: this.region, service, method, path, query, headers, body });
    const search = query.map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join("&");
    const response = await fetch(path + (search ? "?" + search : ""), {
      method, headers: signed, body: method === "GET" || method === "HEAD" ? undefined : body,
      credentials: "omit", cache: "no-store",
    });
    if (!response.ok) throw await apiError(response);
    return response;
  }

  async json(service, target, version, payload) {
    const response = await this.request(service, "POST", "/", {
      headers: { "content-type": `application/x-amz-json-${version}`, "x-amz-target": target },
      body: JSON.stringify(payload),
    });
    return response.json();
  }

  async query(service, action, version, params = {}) {
    const body = [["Action", action], ["Version", version], ...Object.entries(params)]
      .map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join("&");
    const response = await this.request(service, "POST", "/", {
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" }, body,
    });
    return new DOMParser().parseFromString(await response.text(), "application/xml");
  }

  // -- STS ---------------------------------------------------------------------------
  async callerIdentity() {
    const doc = await this.query("sts", "GetCallerIdentity", "2011-06-15");
    return { account: text(doc, "Account"), arn: text(doc, "Arn") };
  }

  // -- Lambda ------------------------------------------------------------------------
  async listFunctions() {
    const functions = [];
    let marker = "";
    do {
      const query = marker ? [["Marker", marker]] : [];
      const page = await (await this.request("lambda", "GET", "/2015-03-31/functions/", { query })).json();
      functions.push(...page.Functions);
      marker = page.NextMarker || "";
    } while (marker);
    return functions;
  }

  async getFunction(name) {
    return (await this.request("lambda", "GET", `/2015-03-31/functions/${uriEncode(name)}`)).json();
  }

  // The function's answer, with what the response headers say about it.
  async invoke(name, payload) {
    const started = performance.now();
    const response = await this.request("lambda", "POST", `/2015-03-31/functions/${uriEncode(name)}/invocations`, {
      headers: { "x-amz-log-type": "Tail", "content-type": "application/json" }, body: payload,
    });
    const result = await response.text();
    const tail = response.headers.get("x-amz-log-result");
    return {
      status: response.status,
      functionError: response.headers.get("x-amz-function-error"),
      requestId: response.headers.get("x-amzn-requestid"),
      durationMs: performance.now() - started,
      result,
      logTail: tail ? new TextDecoder().decode(Uint8Array.from(atob(tail), (c) => c.charCodeAt(0))) : "",
    };
  }

  // -- CloudWatch Logs ---------------------------------------------------------------
  async filterLogEvents(group, startTime, nextToken, filterPattern) {
    const payload = { logGroupName: group, startTime, interleaved: true };
    if (nextToken) payload.nextToken = nextToken;
    if (filterPattern) payload.filterPattern = filterPattern;
    return this.json("logs", "Logs_20140328.FilterLogEvents", "1.1", payload);
  }

  // -- CloudWatch (its JSON protocol) and X-Ray (REST-JSON) ---------------------------
  cloudwatch(operation, payload) {
    return this.json("monitoring", `GraniteServiceVersion20100801.${operation}`, "1.0", payload);
  }

  async xray(path, payload) {
    const response = await this.request("xray", "POST", path, {
      headers: { "content-type": "application/json" }, body: JSON.stringify(payload),
    });
    return response.json();
  }

  // Every item of a paged X-Ray answer (``key`` names it in each page).
  async xrayPages(path, payload, key) {
    const items = [];
    let token;
    do {
      const page = await this.xray(path, token ? { ...payload, NextToken: token } : payload);
      items.push(...(page[key] || []));
      token = page.NextToken;
    } while (token);
    return items;
  }

  // -- S3 ----------------------------------------------------------------------------
  async listBuckets() {
    const doc = await this.xml("s3", "GET", "/");
    return Array.from(doc.getElementsByTagName("Bucket"), (b) => ({
      name: text(b, "Name"), created: text(b, "CreationDate"),
    }));
  }

  async listObjects(bucket, prefix = "") {
    const objects = [];
    let token = "";
    do {
      const query = [["list-type", "2"], ["prefix", prefix]];
      if (token) query.push(["continuation-token", token]);
      const doc = await this.xml("s3", "GET", `/${uriEncode(bucket)}`, { query });
      for (const item of doc.getElementsByTagName("Contents")) {
        objects.push({ key: text(item, "Key"), size: Number(text(item, "Size")), modified: text(item, "LastModified") });
      }
      token = text(doc, "NextContinuationToken");
    } while (token);
    return objects;
  }

  async getObject(bucket, key) {
    const path = `/${uriEncode(bucket)}/${key.split("/").map(uriEncode).join("/")}`;
    return (await this.request("s3", "GET", path)).blob();
  }

  async putObject(bucket, key, bytes, contentType) {
    const path = `/${uriEncode(bucket)}/${key.split("/").map(uriEncode).join("/")}`;
    const headers = contentType ? { "content-type": contentType } : {};
    await this.request("s3", "PUT", path, { headers, body: bytes });
  }

  async xml(service, method, path, options) {
    const response = await this.request(service, method, path, options);
    return new DOMParser().parseFromString(await response.text(), "application/xml");
  }

  // -- DynamoDB ----------------------------------------------------------------------
  dynamodb(operation, payload) {
    return this.json("dynamodb", `DynamoDB_20120810.${operation}`, "1.0", payload);
  }

  // -- SQS (its JSON protocol) -------------------------------------------------------
  sqs(operation, payload) {
    return this.json("sqs", `AmazonSQS.${operation}`, "1.0", payload);
  }

  // -- SNS and CloudFormation (query protocol: XML answers) ---------------------------
  sns(action, params = {}) {
    return this.query("sns", action, "2010-03-31", params);
  }

  cloudformation(action, params = {}) {
    return this.query("cloudformation", action, "2010-05-15", params);
  }

  // Every member of a paged query-protocol list (``container`` holds the members).
  async queryPages(call, action, params, container) {
    const members = [];
    let token = "";
    do {
      const doc = await call.call(this, action, token ? { ...params, NextToken: token } : params);
      members.push(...xmlList(doc, container));
      token = text(doc, "NextToken");
    } while (token);
    return members;
  }

  // -- Step Functions and EventBridge (JSON protocols) --------------------------------
  states(operation, payload = {}) {
    return this.json("states", `AWSStepFunctions.${operation}`, "1.0", payload);
  }

  events(operation, payload = {}) {
    return this.json("events", `AWSEvents.${operation}`, "1.1", payload);
  }

  // Every item of a paged JSON-protocol list (``key`` names it in each page).
  async jsonPages(call, operation, payload, key) {
    const items = [];
    let token;
    do {
      const page = await call.call(this, operation, token ? { ...payload, NextToken: token } : payload);
      items.push(...(page[key] || []));
      token = page.NextToken;
    } while (token);
    return items;
  }

  // -- sandlot's own admin endpoints (gateway/admin.py): signed like the CLI's, so in
  // secure mode only the account root's key is answered --------------------------------
  async admin(path, query = []) {
    return (await this.request("sandlot", "GET", `/_sandlot/${path}`, { query })).json();
  }

  // -- API Gateway (REST APIs and, under /v2, HTTP APIs: REST-JSON) -------------------
  async apigateway(path, query = []) {
    return (await this.request("apigateway", "GET", path, { query })).json();
  }

  // Every item of a paged API Gateway list: ``item``s with ``position`` (REST APIs),
  // ``items`` with ``nextToken`` (HTTP APIs).
  async apigatewayPages(path, query = []) {
    const items = [];
    let token = "";
    const v2 = path.startsWith("/v2/");
    do {
      const paged = token ? [...query, [v2 ? "nextToken" : "position", token]] : query;
      const page = await this.apigateway(path, paged);
      items.push(...(page.item || page.items || []));
      token = page.position || page.nextToken || "";
    } while (token);
    return items;
  }
}

// The ``member`` children of the first ``container`` element under ``node``.
export function xmlList(node, container) {
  const found = node.getElementsByTagName(container)[0];
  return found ? Array.from(found.children).filter((c) => c.localName === "member" || c.localName === "entry") : [];
}

// An element's leaf children as an object of their texts.
export function xmlObject(node) {
  const object = {};
  for (const child of node.children) if (child.children.length === 0) object[child.localName] = child.textContent;
  return object;
}

export function text(node, tag) {
  const found = node.getElementsByTagName(tag)[0];
  return found ? found.textContent : "";
}

// The AWS error in a failed response, whichever protocol shaped it.
async function apiError(response) {
  const body = await response.text();
  let code = response.headers.get("x-amzn-errortype")?.split(":")[0] || "";
  let message = "";
  try {
    const parsed = JSON.parse(body);
    code = code || (parsed.__type || parsed.code || "").split("#").pop();
    message = parsed.message || parsed.Message || "";
  } catch {
    const doc = new DOMParser().parseFromString(body, "application/xml");
    code = code || text(doc, "Code");
    message = text(doc, "Message");
  }
  return new ApiError(response.status, code || `HTTP ${response.status}`, message || body.slice(0, 300));
}
