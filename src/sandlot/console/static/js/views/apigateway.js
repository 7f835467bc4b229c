// API Gateway: REST APIs (resources and methods) and HTTP/WebSocket APIs (routes), with
// their stages and invoke URLs.

import { uriEncode } from "../sigv4.js";
import { el, link, panel, show, table, when } from "../dom.js";

export async function apisView(aws) {
  const [rest, http] = await Promise.all([aws.apigatewayPages("/restapis"), aws.apigatewayPages("/v2/apis")]);
  show(panel(el("h2", {}, `API Gateway APIs (${aws.region})`),
    rest.length + http.length === 0 ? el("p", {}, "No APIs in this region.") :
      table(["API", "ID", "Protocol", "Created"], [
        ...rest.map((a) => [link(`/apigateway/rest/${encodeURIComponent(a.id)}`, a.name, { class: "api-link" }), a.id, "REST", when(a.createdDate)]),
        ...http.map((a) => [link(`/apigateway/http/${encodeURIComponent(a.apiId)}`, a.name, { class: "api-link" }), a.apiId, a.protocolType, when(a.createdDate)]),
      ])));
}

// The URL this sandlot serves the stage at, on this origin (the API's own host name,
// <id>.execute-api.localhost…, needs a resolver that knows it).
// A WebSocket API's stage is a ws:// (wss://) URL, the handshake path, with no slash after.
function invokeUrl(apiId, stage, websocket) {
  const base = `/_aws/execute-api/${uriEncode(apiId)}/${stage === "$default" ? "" : uriEncode(stage)}`;
  if (websocket) return location.origin.replace(/^http/, "ws") + base;
  return location.origin + base + (stage === "$default" ? "" : "/");
}

function stagesTable(apiId, stages, hostUrl, websocket = false) {
  return stages.length === 0 ? el("p", {}, "No stages (deploy the API to call it).") :
    table(["Stage", "Deployment", "Invoke URL", "API host URL", "Updated"], stages.map((s) => {
      const url = invokeUrl(apiId, s.stageName, websocket);
      return [s.stageName, [s.deploymentId, s.autoDeploy ? "(auto-deploy)" : ""].filter(Boolean).join(" "),
        websocket ? el("code", { class: "invoke-url" }, url) : el("a", { class: "invoke-url", href: url, target: "_blank", rel: "noopener" }, url),
        hostUrl(s.stageName), when(s.lastUpdatedDate || s.createdDate)];
    }), { id: "stages-table" });
}

export async function restApiView(aws, id) {
  const base = `/restapis/${uriEncode(id)}`;
  const [api, resources, stages] = await Promise.all([
    aws.apigateway(base),
    aws.apigatewayPages(`${base}/resources`, [["embed", "methods"]]),
    aws.apigateway(`${base}/stages`),
  ]);
  const rows = [];
  for (const resource of resources.sort((a, b) => a.path.localeCompare(b.path))) {
    const methods = Object.values(resource.resourceMethods || {});
    if (methods.length === 0) rows.push([resource.path, "", "", ""]);
    for (const m of methods) {
      const integration = m.methodIntegration || {};
      rows.push([resource.path, m.httpMethod, m.authorizationType || "NONE",
        [integration.type, integration.uri].filter(Boolean).join(" ")]);
    }
  }
  const host = (stage) => `http://${id}.execute-api.localhost:${location.port || 80}/${stage}/`;
  show(panel(el("h2", { id: "api-name" }, api.name),
    table(["Setting", "Value"], [["ID", api.id], ["Protocol", "REST"], ["Description", api.description || ""],
      ["Endpoint type", (api.endpointConfiguration?.types || []).join(", ")], ["Created", when(api.createdDate)]])),
  panel(el("h3", {}, "Resources and methods"), table(["Path", "Method", "Authorization", "Integration"], rows, { id: "routes-table" })),
  panel(el("h3", {}, "Stages"), stagesTable(id, stages.item || [], host)));
}

export async function httpApiView(aws, id) {
  const base = `/v2/apis/${uriEncode(id)}`;
  const [api, routes, integrations, stages] = await Promise.all([
    aws.apigateway(base),
    aws.apigatewayPages(`${base}/routes`),
    aws.apigatewayPages(`${base}/integrations`),
    aws.apigatewayPages(`${base}/stages`),
  ]);
  const byId = new Map(integrations.map((i) => [`integrations/${i.integrationId}`, i]));
  const host = (stage) => `${api.apiEndpoint}/${stage === "$default" ? "" : stage}`;
  show(panel(el("h2", { id: "api-name" }, api.name),
    table(["Setting", "Value"], [["ID", api.apiId], ["Protocol", api.protocolType], ["Endpoint", api.apiEndpoint],
      ["Description", api.description || ""], ["Created", when(api.createdDate)]])),
  panel(el("h3", {}, "Routes"), routes.length === 0 ? el("p", {}, "No routes.") :
    table(["Route", "Authorization", "Integration"], routes.sort((a, b) => a.routeKey.localeCompare(b.routeKey)).map((r) => {
      const integration = byId.get(r.target);
      return [r.routeKey, r.authorizationType || "NONE",
        integration ? [integration.integrationType, integration.integrationUri].filter(Boolean).join(" ") : r.target || ""];
    }), { id: "routes-table" })),
  panel(el("h3", {}, "Stages"), stagesTable(id, stages, host, api.protocolType === "WEBSOCKET")));
}
