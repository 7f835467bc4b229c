"""Web pages against dev mode, in a real browser (headless Chromium): a page of an
untrusted origin cannot act as the account root (form POSTs, no-preflight fetches,
<img> GETs, requests signed with an invented key), a page of an allowed origin works
with CORS, S3 CORS with presigned URLs of issued keys works, and a DNS name rebound to
127.0.0.1 is refused (gateway/origins.py).

Pages are served from a Python http.server on other loopback ports and report what they
saw back to it over HTTP; the test waits for that report, then checks with boto3.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client
from tests.e2e.functions import ROLE, create_function, wait_for_log_events, zip_of
from tests.e2e.server import SandlotServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (Debian package 'chromium')"
)
REBIND_HOST = "rebind.test"  # Chromium resolves it to 127.0.0.1 (--host-resolver-rules)


class PageServer:
    """An http.server on a loopback port: serves pages, collects the reports they POST."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.reports: dict[str, dict] = {}
        self._changed = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = outer.pages.get(self.path)
                body = (page or "not found").encode()
                self.send_response(200 if page else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                report = json.loads(self.rfile.read(length))
                with outer._changed:
                    outer.reports[self.path.removeprefix("/report/")] = report
                    outer._changed.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def wait_report(self, name: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        with self._changed:
            while name not in self.reports:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"page {name!r} reported nothing in {timeout} s")
                self._changed.wait(left)
            return self.reports[name]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture(scope="module")
def pages():
    attacker, console = PageServer(), PageServer()
    yield attacker, console
    attacker.close()
    console.close()


@pytest.fixture(scope="module")
def browser_server(tmp_path_factory, pages):
    """sandlot in dev mode; the console page server's origin is allowed."""
    _, console = pages
    allowed = f"http://localhost:1,{console.origin}"
    data = tmp_path_factory.mktemp("browser")
    with SandlotServer(data, "--cors-allowed-origins", allowed) as server:
        yield server


def run_page(url: str, server: PageServer, name: str, timeout: float = 60) -> dict:
    """Open ``url`` in a fresh headless Chromium; the report the page POSTs as ``name``."""
    with tempfile.TemporaryDirectory(prefix="sandlot-chromium-") as profile:
        browser = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--host-resolver-rules=MAP {REBIND_HOST} 127.0.0.1",
                f"--user-data-dir={profile}",
                url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helper processes share this process group
        )
        try:
            return server.wait_report(name, timeout)
        finally:
            _stop_group(browser)


def _stop_group(browser: subprocess.Popen) -> None:
    """Stop the browser and its helper processes (the group it leads), and wait until
    they are gone, so its profile directory can be removed."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(browser.pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            browser.poll()
            try:
                os.killpg(browser.pid, 0)
            except ProcessLookupError:
                return  # no process of the group is left
            time.sleep(0.05)


# -- the attack page ------------------------------------------------------------------------

_SCRIPT = """
const results = {};
const wait = (ms, value) => new Promise(done => setTimeout(() => done(value), ms));
const loaded = frame => new Promise(done => { frame.onload = () => done("loaded"); });
const image = url => new Promise(done => {
  const img = new Image();
  img.onload = () => done("load");
  img.onerror = () => done("error");
  img.src = url;
});
const read = response => response.text().then(text => response.status + " " + text);
async function attempt(name, promise) {
  try { results[name] = await Promise.race([promise, wait(10000, "timeout")]); }
  catch (error) { results[name] = "threw " + error; }
}
async function main() {
  const [frame1, frame2] = document.querySelectorAll("iframe");
  const form1 = loaded(frame1), form2 = loaded(frame2);
  document.getElementById("lambda").submit();
  document.getElementById("iam").submit();
  await attempt("form_lambda", form1);
  await attempt("form_iam", form2);
  await attempt("nocors_fetch", fetch(C.sandlot + "/", {
    method: "POST", mode: "no-cors",
    headers: {"Content-Type": "application/x-www-form-urlencoded"},
    body: "Action=CreateUser&Version=2010-05-08&UserName=" + C.prefix + "-fetch",
  }).then(response => response.type));
  await attempt("nocors_lambda", fetch(C.sandlot + "/2015-03-31/functions", {
    method: "POST", mode: "no-cors", body: C.lambdaBody,
  }).then(response => response.type));
  await attempt("invoke", fetch(C.sandlot + "/2015-03-31/functions/" + C.target + "/invocations", {
    method: "POST", mode: "no-cors", body: JSON.stringify({from: C.prefix}),
  }).then(response => response.type));
  await attempt("img", image(
    C.sandlot + "/?Action=CreateUser&Version=2010-05-08&UserName=" + C.prefix + "-img"));
  await attempt("forged_presigned", image(C.forgedPresigned));
  await attempt("signed_fetch", fetch(C.sandlot + "/", {
    method: "POST", headers: C.signedHeaders, body: C.signedBody,
  }).then(read));
  for (const [name, url] of Object.entries(C.reads)) {
    await attempt(name, fetch(url).then(read));
  }
  await fetch("/report/" + C.report, {method: "POST", body: JSON.stringify(results)});
}
main();
"""


def attack_page(endpoint: str, prefix: str, report: str, reads: dict[str, str]) -> str:
    """A page that tries to act on sandlot in every way a page can without a key."""
    function = {
        "FunctionName": f"{prefix}-fn",
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {
            "ZipFile": base64.b64encode(zip_of({"app.py": "def handler(e, c): pass"})).decode()
        },
    }
    # enctype=text/plain sends "name=value": the name carries the JSON up to a last
    # member whose value swallows the "=".
    form_name = json.dumps({**function, "pad": ""})[:-2]
    other = {**function, "FunctionName": f"{prefix}-fn2"}
    # A request signed with the dev-mode key everyone knows; its Authorization header
    # makes the fetch a CORS request with a preflight.
    body = f"Action=CreateUser&Version=2010-05-08&UserName={prefix}-signed"
    signed = AWSRequest(
        method="POST",
        url=endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    SigV4Auth(Credentials("test", "test"), "iam", "us-east-1").add_auth(signed)
    signed_headers = {k: v for k, v in signed.headers.items() if k.lower() != "host"}
    iam = make_client(endpoint, "iam")
    forged = iam.generate_presigned_url("create_user", Params={"UserName": f"{prefix}-presigned"})
    config = {
        "sandlot": endpoint,
        "prefix": prefix,
        "report": report,
        "target": TARGET,
        "lambdaBody": json.dumps(other),
        "signedHeaders": signed_headers,
        "signedBody": body,
        "forgedPresigned": forged,
        "reads": reads,
    }
    return f"""<!doctype html>
<html><body>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe>
<form id="lambda" method="POST" enctype="text/plain" target="sink1"
      action="{html.escape(endpoint)}/2015-03-31/functions">
  <input name="{html.escape(form_name)}" value='"}}'>
</form>
<form id="iam" method="POST" target="sink2" action="{html.escape(endpoint)}/">
  <input name="Action" value="CreateUser"><input name="Version" value="2010-05-08">
  <input name="UserName" value="{prefix}-form">
</form>
<script>const C = {json.dumps(config)};{_SCRIPT}</script>
</body></html>"""


def _users(iam, prefix: str) -> set[str]:
    names = {u["UserName"] for u in iam.list_users()["Users"]}
    return {name for name in names if name.startswith(f"{prefix}-")}


def _functions(lam, prefix: str) -> set[str]:
    names = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    return {name for name in names if name.startswith(f"{prefix}-")}


KINDS = ("form", "fetch", "img", "presigned", "signed")
TARGET = "browser-target"  # a function both pages try to invoke


@pytest.fixture(scope="module")
def target_function(browser_server):
    lam = make_client(browser_server.endpoint, "lambda")
    code = {"app.py": "def handler(event, context):\n    print('invoked by', event)\n"}
    create_function(lam, TARGET, code)
    return TARGET


@pytest.fixture(scope="module")
def shared_object(browser_server, pages):
    """A bucket whose CORS configuration allows the attacker page's origin, an object in
    it, and GET URLs for it presigned by an issued key and by the dev-mode key."""
    attacker, _ = pages
    iam = make_client(browser_server.endpoint, "iam")
    iam.create_user(UserName="browser-reader")
    iam.attach_user_policy(
        UserName="browser-reader", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    key = iam.create_access_key(UserName="browser-reader")["AccessKey"]
    s3 = make_client(browser_server.endpoint, "s3")
    s3.create_bucket(Bucket="shared")
    s3.put_object(Bucket="shared", Key="hello.txt", Body=b"hello from a bucket")
    rules = [{"AllowedOrigins": [attacker.origin], "AllowedMethods": ["GET"]}]
    s3.put_bucket_cors(Bucket="shared", CORSConfiguration={"CORSRules": rules})
    issued = make_client(
        browser_server.endpoint,
        "s3",
        key=key["AccessKeyId"],
        secret=key["SecretAccessKey"],
    )
    params = {"Bucket": "shared", "Key": "hello.txt"}
    return {
        "s3_issued": issued.generate_presigned_url("get_object", Params=params),
        "s3_devkey": s3.generate_presigned_url("get_object", Params=params),
    }


@needs_chromium
def test_an_untrusted_page_cannot_act_as_root(
    browser_server, pages, shared_object, target_function
):
    attacker, _ = pages
    endpoint = browser_server.endpoint
    attacker.pages["/attack.html"] = attack_page(endpoint, "evil", "attack", shared_object)
    report = run_page(attacker.origin + "/attack.html", attacker, "attack")
    # Every attempt reached its end (no "timeout"): the browser did send them.
    assert "timeout" not in report.values(), report
    iam, lam = make_client(endpoint, "iam"), make_client(endpoint, "lambda")
    assert _users(iam, "evil") == set()
    assert _functions(lam, "evil") == set()
    # The signed request needs a preflight, which an untrusted origin does not pass.
    assert report["signed_fetch"].startswith("threw TypeError"), report
    # The bucket's CORS rules serve its page a presigned URL of an issued key ...
    assert report["s3_issued"] == "200 hello from a bucket", report
    # ... and not one made with the dev-mode key (readable: the bucket allows the origin).
    status, _, text = report["s3_devkey"].partition(" ")
    assert status == "403" and "SANDLOT_CORS_ALLOWED_ORIGINS" in text, report


@needs_chromium
def test_a_page_of_an_allowed_origin_works(browser_server, pages, shared_object, target_function):
    # The same page served from an origin in SANDLOT_CORS_ALLOWED_ORIGINS: everything it
    # tries works, which also shows the untrusted page's attempts did reach sandlot.
    _, console = pages
    endpoint = browser_server.endpoint
    console.pages["/console.html"] = attack_page(endpoint, "ctl", "console", {})
    report = run_page(console.origin + "/console.html", console, "console")
    assert "timeout" not in report.values(), report
    iam, lam = make_client(endpoint, "iam"), make_client(endpoint, "lambda")
    expected = {f"ctl-{kind}" for kind in KINDS}
    assert _users(iam, "ctl") == expected, report
    assert _functions(lam, "ctl") == {"ctl-fn", "ctl-fn2"}
    # The preflight passed and the answer is readable.
    assert report["signed_fetch"].startswith("200 "), report
    assert "<CreateUserResponse" in report["signed_fetch"]
    # It invoked the function; the untrusted page's earlier attempt left no trace.
    logs = make_client(endpoint, "logs")
    assert wait_for_log_events(logs, target_function, '"invoked by"')
    lines = [e["message"] for e in wait_for_log_events(logs, target_function, '"invoked by"')]
    assert len(lines) == 1 and "ctl" in lines[0], lines


@needs_chromium
def test_a_dns_name_rebound_to_loopback_is_refused(browser_server, pages):
    attacker, _ = pages
    port = browser_server.endpoint.rsplit(":", 1)[1]
    target = f"http://{REBIND_HOST}:{port}/?Action=CreateUser&Version=2010-05-08&UserName="
    # After rebinding, the attacker's page talks to sandlot under the attacker's name.
    # Over plain http to a non-local name Chromium sends no Sec-Fetch-* headers, and a
    # no-cors GET carries no Origin: only the Host says where the request came from.
    attacker.pages["/rebind.html"] = f"""<!doctype html><html><body><script>
const results = {{}};
const image = url => new Promise(done => {{
  const img = new Image();
  img.onload = () => done("load");
  img.onerror = () => done("error");
  img.src = url;
}});
async function main() {{
  results.img = await image({json.dumps(target + "rebind-img")});
  try {{
    const response = await fetch({json.dumps(target + "rebind-fetch")}, {{mode: "no-cors"}});
    results.fetch = response.type;
  }} catch (error) {{ results.fetch = "threw " + error; }}
  await fetch("/report/rebind", {{method: "POST", body: JSON.stringify(results)}});
}}
main();
</script></body></html>"""
    report = run_page(f"http://{REBIND_HOST}:{attacker.port}/rebind.html", attacker, "rebind")
    assert report == {"img": "error", "fetch": "opaque"}, report
    assert _users(make_client(browser_server.endpoint, "iam"), "rebind") == set()


# -- without a browser: the same rules on the raw wire --------------------------------------


def _raw(endpoint: str, path: str, headers: dict, body: bytes | None = None):
    request = urllib.request.Request(endpoint + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_rebound_host_is_refused_and_loopback_names_are_not(browser_server):
    endpoint = browser_server.endpoint
    port = endpoint.rsplit(":", 1)[1]
    path = "/?Action=CreateUser&Version=2010-05-08&UserName="
    status, _, body = _raw(endpoint, path + "host-a", {"Host": f"{REBIND_HOST}:{port}"})
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    assert b"rebind.test" in body
    for host in (f"localhost:{port}", f"sts.localhost:{port}", f"[::1]:{port}"):
        status, _, body = _raw(
            endpoint, "/?Action=GetCallerIdentity&Version=2011-06-15", {"Host": host}
        )
        assert status == 200, (host, body)
    iam = make_client(endpoint, "iam")
    assert _users(iam, "host") == set()


def test_json_protocol_needs_its_content_type(browser_server):
    # A browser can send a JSON body only as text/plain (or a form) without a preflight.
    endpoint = browser_server.endpoint
    target = {"X-Amz-Target": "Logs_20140328.CreateLogGroup"}
    body = json.dumps({"logGroupName": "/from/a/page"}).encode()
    status, headers, page = _raw(endpoint, "/", {**target, "Content-Type": "text/plain"}, body)
    assert status == 404 and b"Page Not Found" in page
    assert headers["Content-Type"] == "text/html"
    logs = make_client(endpoint, "logs")
    assert logs.describe_log_groups(logGroupNamePrefix="/from/")["logGroups"] == []
    for content_type in ("application/x-amz-json-1.1", "application/json"):
        status, _, _ = _raw(endpoint, "/", {**target, "Content-Type": content_type}, body)
        assert status == 200, content_type
        logs.delete_log_group(logGroupName="/from/a/page")


def test_preflight_from_an_untrusted_origin_is_refused(browser_server, pages):
    _, console = pages
    request = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    # "/" is S3's service root for an unsigned OPTIONS: S3 answers it (405), no CORS.
    status, headers, body = _raw_options(browser_server.endpoint, request)
    assert status == 405 and "Access-Control-Allow-Origin" not in headers
    status, headers, body = _raw_options(browser_server.endpoint, request, "/2015-03-31/functions")
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    assert b"AccessDeniedException" in body and b"http://evil.example" in body
    request = {
        "Origin": console.origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,x-amz-date,content-type",
    }
    status, headers, _ = _raw_options(browser_server.endpoint, request)
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == console.origin
    assert headers["Access-Control-Allow-Headers"] == "authorization,x-amz-date,content-type"


def _raw_options(endpoint: str, headers: dict, path: str = "/"):
    request = urllib.request.Request(endpoint + path, headers=headers, method="OPTIONS")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_untrusted_origin_with_an_unknown_key_gets_access_denied(browser_server):
    sts = make_client(browser_server.endpoint, "sts")
    sts.meta.events.register(
        "before-sign.sts.*",
        lambda request, **_: request.headers.__setitem__("Origin", "http://evil.example"),
    )
    with pytest.raises(ClientError) as excinfo:
        sts.get_caller_identity()
    error = excinfo.value.response["Error"]
    assert (error["Code"], excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "AccessDenied",
        403,
    )
    assert "http://evil.example" in error["Message"]
