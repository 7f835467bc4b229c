// AWS Signature Version 4 in the browser, with WebCrypto (HMAC-SHA256, SHA-256).
// The console signs every API call itself, so sandlot authenticates and authorizes it
// as any SDK's call: the page has no authority of its own.

const encoder = new TextEncoder();

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(data) {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

async function hmac(key, message) {
  const raw = typeof key === "string" ? encoder.encode(key) : key;
  const imported = await crypto.subtle.importKey(
    "raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", imported, encoder.encode(message)));
}

// RFC 3986 unreserved characters stay, everything else is %XX (encodeURIComponent
// leaves !'()* alone, which SigV4 encodes).
export function uriEncode(text) {
  return encodeURIComponent(text).replace(
    /[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

function canonicalQuery(params) {
  return params
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

// The headers (lower-case names) to send with a request of ``method`` to ``path``
// (already URI-encoded, segment by segment) with ``query`` ([name, value] pairs).
// S3 signs the path as sent; every other service signs it encoded once more.
export async function sign({ credentials, region, service, method, path, query = [], headers = {}, body = "" }) {
  if (!globalThis.crypto || !crypto.subtle) {
    throw new Error("this page is not a secure context (WebCrypto is unavailable): open the console at http://127.0.0.1 or http://localhost, or over HTTPS");
  }
  const now = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const day = now.slice(0, 8);
  const payloadHash = await sha256(body);
  const all = { ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)])) };
  all["x-amz-date"] = now;
  if (credentials.sessionToken) all["x-amz-security-token"] = credentials.sessionToken;
  if (service === "s3") all["x-amz-content-sha256"] = payloadHash;
  const signed = { ...all, host: location.host };
  const names = Object.keys(signed).sort();
  const canonicalHeaders = names.map((n) => `${n}:${signed[n].trim().replace(/\s+/g, " ")}\n`).join("");
  const signedHeaders = names.join(";");
  const canonicalPath = service === "s3" ? path : path.split("/").map(uriEncode).join("/");
  const canonical = [method, canonicalPath, canonicalQuery(query), canonicalHeaders, signedHeaders, payloadHash].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", now, scope, await sha256(canonical)].join("\n");
  let key = await hmac("AWS4" + credentials.secretAccessKey, day);
  for (const part of [region, service, "aws4_request"]) key = await hmac(key, part);
  const signature = hex(await hmac(key, toSign));
  all.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return all;
}
