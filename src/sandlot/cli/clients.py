"""How sandlot's commands reach a running sandlot: botocore clients over the AWS APIs,
and signed GETs of sandlot's own admin endpoints (gateway/admin.py)."""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from urllib.parse import urlencode

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config

DEFAULT_ENDPOINT = "http://localhost:4566"
DEFAULT_REGION = "us-east-1"


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """``--endpoint`` and ``--region``, shared by the commands that call the API."""
    parser.add_argument(
        "--endpoint",
        help=f"sandlot's URL (default: $AWS_ENDPOINT_URL, else {DEFAULT_ENDPOINT})",
    )
    parser.add_argument("--region", help="region (default: $AWS_REGION, else us-east-1)")


def endpoint(args: argparse.Namespace) -> str:
    return args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT


def region(args: argparse.Namespace, preferred: str | None = None) -> str:
    """``--region``, else ``preferred`` (e.g. an ARN's), else the environment's."""
    return (
        args.region
        or preferred
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION
    )


def _session() -> botocore.session.Session:
    """botocore's session with the configured credentials; without any, dev mode's
    any-key-goes (the default account)."""
    session = botocore.session.get_session()
    if session.get_credentials() is None:
        session.set_credentials("test", "test")
    return session


def api_client(service: str, endpoint_url: str, region_name: str, read_timeout: int = 30):
    """A botocore client for sandlot."""
    return _session().create_client(
        service,
        endpoint_url=endpoint_url,
        region_name=region_name,
        config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=read_timeout),
    )


class Unreachable(Exception):
    """No sandlot answered at the endpoint."""


class AdminError(Exception):
    """An admin endpoint could not answer; ``main`` prints it and exits with
    ``exit_code`` (1 when the thing asked for does not exist, else 2)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def admin_fetch(args: argparse.Namespace, path: str, query: dict[str, str] | None = None) -> dict:
    """The JSON body of a successful ``GET path`` on the admin endpoints of the server
    ``args`` point at; ``AdminError`` when there is no server or it refuses."""
    try:
        status, body = admin_get(endpoint(args), path, region(args), query)
    except Unreachable as exc:
        raise AdminError(str(exc), 2) from None
    if status != 200:
        raise AdminError(body.get("message", f"HTTP {status}"), 1 if status == 404 else 2)
    return body


def admin_get(
    endpoint_url: str, path: str, region_name: str, query: dict[str, str] | None = None
) -> tuple[int, dict]:
    """(status, JSON body) of ``GET path`` on sandlot's admin endpoints, SigV4-signed
    with the configured credentials (secure mode admits only the account root's)."""
    url = endpoint_url.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")
    credentials = _session().get_credentials().get_frozen_credentials()
    signed = AWSRequest("GET", url)
    SigV4Auth(credentials, "sandlot", region_name).add_auth(signed)
    request = urllib.request.Request(url, headers=dict(signed.headers.items()))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            try:
                return response.status, json.load(response)
            except ValueError:
                raise Unreachable(f"{endpoint_url} did not answer as sandlot does") from None
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.load(error)
        except ValueError:
            return error.code, {"message": f"HTTP {error.code} {error.reason}"}
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise Unreachable(
            f"no sandlot server at {endpoint_url} ({reason}); start one with sandlot up, or "
            "point --endpoint (or AWS_ENDPOINT_URL) at it"
        ) from None
