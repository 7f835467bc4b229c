"""The Extensions API's state machine, without HTTP."""

from __future__ import annotations

import json

from sandlot.execution.extensions_api import PREFIX, ExtensionsAPI


class Conn:
    def __init__(self) -> None:
        self.answers: list[tuple[int, dict, bytes]] = []
        self.closed = False

    def respond(self, status, body, headers=b"", content_type=b"application/json"):
        parsed = dict(
            line.split(": ", 1) for line in headers.decode().split("\r\n") if ": " in line
        )
        self.answers.append((status, parsed, body))


def _api(external=("probe",)):
    changes = []
    api = ExtensionsAPI(
        "fn", "$LATEST", "app.handler", "123456789012", external, lambda: changes.append(1)
    )
    return api, changes


def _register(api, name, events, **headers):
    conn = Conn()
    raw = {b"lambda-extension-name": name.encode()}
    raw.update({k.replace("_", "-").encode(): v.encode() for k, v in headers.items()})
    api.handle(conn, b"POST", PREFIX + b"register", json.dumps({"events": events}).encode(), raw)
    return conn.answers[0]


def _next(api, ident):
    conn = Conn()
    api.handle(
        conn, b"GET", PREFIX + b"event/next", None, {b"lambda-extension-identifier": ident.encode()}
    )
    return conn


def test_register_answers_identity_and_identifier():
    api, _ = _api()
    status, headers, body = _register(api, "probe", ["INVOKE", "SHUTDOWN"])
    assert status == 200 and headers["Lambda-Extension-Identifier"]
    assert json.loads(body) == {
        "functionName": "fn",
        "functionVersion": "$LATEST",
        "handler": "app.handler",
    }
    status, _, body = _register(
        api, "inner", ["INVOKE"], lambda_extension_accept_feature="accountId"
    )
    assert json.loads(body)["accountId"] == "123456789012"


def test_register_errors():
    api, _ = _api()
    status, _, body = _register(api, "inner", ["SHUTDOWN"])  # internal: not in /opt/extensions
    assert status == 403
    assert json.loads(body)["errorType"] == "ShutdownEventNotSupportedForInternalExtension"
    status, _, body = _register(api, "probe", ["BOGUS"])
    assert (status, json.loads(body)["errorType"]) == (403, "Extension.InvalidEventType")
    assert _register(api, "probe", ["INVOKE"])[0] == 200
    status, _, body = _register(api, "probe", ["INVOKE"])
    assert (status, json.loads(body)["errorType"]) == (403, "Extension.AlreadyRegistered")
    api.registration_open = False
    status, _, body = _register(api, "late", ["INVOKE"])
    assert (status, json.loads(body)["errorType"]) == (403, "Extension.InvalidStateTransition")


def test_next_requires_a_known_identifier():
    api, _ = _api()
    conn = Conn()
    api.handle(conn, b"GET", PREFIX + b"event/next", None, {})
    assert json.loads(conn.answers[0][2])["errorType"] == "Extension.MissingExtensionIdentifier"
    assert _next(api, "nope").answers[0][0] == 403
    conn = Conn()
    api.handle(conn, b"POST", PREFIX + b"event/next", None, {})
    assert conn.answers[0][0] == 405


def test_ready_when_every_expected_extension_waits_in_next():
    api, changes = _api(("a", "b"))
    ids = [_register(api, name, ["INVOKE"])[1]["Lambda-Extension-Identifier"] for name in "ab"]
    assert not api.all_ready() and api.missing() == ["a", "b"]
    held = _next(api, ids[0])
    assert held.answers == [] and not api.all_ready()
    _next(api, ids[1])
    assert api.all_ready() and len(changes) == 2
    # INVOKE goes to the held next at once; the extension is busy until its next next.
    api.invoke("req-1", 1000, "arn:aws:lambda:us-east-1:1:function:fn", "Root=1-a-b")
    status, headers, body = held.answers[0]
    assert status == 200 and headers["Lambda-Extension-Event-Identifier"]
    assert json.loads(body)["requestId"] == "req-1" and not api.all_ready()
    _next(api, ids[0])
    # The second extension's event was queued for its held next (delivered there).
    assert not api.all_ready()


def test_init_error_is_recorded_with_its_type():
    api, changes = _api()
    ident = _register(api, "probe", ["INVOKE"])[1]["Lambda-Extension-Identifier"]
    conn = Conn()
    headers = {
        b"lambda-extension-identifier": ident.encode(),
        b"lambda-extension-function-error-type": b"Extension.Broken",
    }
    api.handle(conn, b"POST", PREFIX + b"init/error", b"", headers)
    assert conn.answers[0][0] == 202 and changes
    document, error_type = api.init_error
    assert error_type == "Extension.Broken"
    assert json.loads(document)["errorType"] == "Extension.Broken"


def test_an_exited_external_extension_is_a_crash_and_no_longer_awaited():
    api, changes = _api(("probe",))
    ident = _register(api, "probe", ["INVOKE"])[1]["Lambda-Extension-Identifier"]
    assert not api.all_ready()
    conn = Conn()
    headers = {b"lambda-extension-name": b"probe", b"lambda-extension-exit-status": b"2"}
    api.handle(conn, b"POST", PREFIX + b"exited", b"", headers)
    assert conn.answers[0][0] == 202 and changes
    assert api.crash == "exit code 2" and api.all_ready()
    # A name that is not an external extension's is ignored.
    api2, _ = _api(("probe",))
    api2.handle(Conn(), b"POST", PREFIX + b"exited", b"", {b"lambda-extension-name": b"other"})
    assert api2.crash is None
    assert ident
