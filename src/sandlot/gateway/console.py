"""The web console's files, served at ``/_sandlot/console/``.

The console is static: plain ES modules, CSS and one HTML page shipped in the package
(``sandlot/console/static``), nothing fetched from elsewhere. The page signs AWS API
calls itself (SigV4 in the browser) against this same origin, so every action it takes
is an ordinary API call, authenticated and evaluated by IAM as any client's. Serving
the files needs no authority: they hold no data.

The pages are untrusted content for other origins, so every answer forbids framing
and inline script, and the page renders API data as text only.
"""

from __future__ import annotations

from importlib.resources import files

from sandlot.protocol import HttpResponse

PREFIX = "/_sandlot/console"

_STATIC = files("sandlot.console") / "static"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Only this origin's scripts, styles and API; no inline script, no framing, no forms
# posting elsewhere. blob: images are the object URLs of S3 downloads.
_SECURITY = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def answer(method: str, path: str) -> HttpResponse:
    """The response to a request for ``path`` (under ``PREFIX``)."""
    if method not in ("GET", "HEAD"):
        return _text(405, f"{method} is not allowed on {path}", {"Allow": "GET, HEAD"})
    if path == PREFIX:
        return HttpResponse(302, {"Location": PREFIX + "/", **_SECURITY})
    name = path[len(PREFIX) + 1 :] or "index.html"
    parts = name.split("/")
    kind = _TYPES.get("." + name.rpartition(".")[2])
    # Names are looked up part by part inside the package: no "..", no hidden files.
    if kind is None or any(not part or part.startswith(".") for part in parts):
        return _text(404, f"no console file {path}")
    resource = _STATIC.joinpath(*parts)
    if not resource.is_file():
        return _text(404, f"no console file {path}")
    return HttpResponse(200, {"Content-Type": kind, **_SECURITY}, resource.read_bytes())


def _text(status: int, message: str, extra: dict[str, str] | None = None) -> HttpResponse:
    headers = {"Content-Type": "text/plain; charset=utf-8", **_SECURITY, **(extra or {})}
    return HttpResponse(status, headers, message.encode())
