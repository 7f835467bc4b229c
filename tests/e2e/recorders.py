"""Local HTTP endpoints that record what sandlot sends them (SNS HTTP subscriptions,
EventBridge API destinations, ...), for the tests to wait on and inspect."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple


class Recorded(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


class HttpRecorder:
    """A threaded HTTP server on 127.0.0.1 recording every POST and PUT, answering
    ``status`` with the body ``answer`` makes of the request (JSON), if given; ``url`` is
    its base URL plus ``path``."""

    def __init__(
        self,
        status: int = 200,
        port: int = 0,
        path: str = "",
        answer: Callable[[Recorded], Any] | None = None,
    ) -> None:
        received: list[Recorded] = []
        self.received, self.status = received, status
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Recorded(self.command, self.path, headers, body)
                received.append(request)
                self.send_response(recorder.status)
                if answer is not None:
                    document = json.dumps(answer(request)).encode()
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(document)))
                    self.end_headers()
                    self.wfile.write(document)
                else:
                    self.end_headers()

            do_PUT = do_POST  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 10) -> list[Recorded]:
        """The requests so far, once there are ``count`` of them (else AssertionError)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, self.received
        return self.received

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
