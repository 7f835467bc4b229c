"""A function cannot become the account root (issue 10, item 12).

Functions reach sandlot at an endpoint of their own (AWS_ENDPOINT_URL), where only keys
sandlot issued are accepted, as AWS accepts only its own: the role's credentials work,
invented keys get AWS's unknown-key error of each protocol family, unsigned requests
are refused. With a network namespace per environment (pasta, where installed: the
server's /_sandlot/health says ``"function_network": "isolated"``), a function reaches
nothing else of the host's loopback, sandlot's main endpoint included; outbound
connections go out as from the host. The shared-network fallback is
test_function_network_shared.py.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.network_probes import INVENTED, PROBES


@pytest.fixture(scope="module")
def health(server):
    with urllib.request.urlopen(server.endpoint + "/_sandlot/health", timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def probe(server):
    lam = make_client(server.endpoint, "lambda")
    name = unique("netprobe")
    create_function(lam, name, {"app.py": PROBES}, Timeout=30)

    def invoke(event: dict) -> dict:
        response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, payload
        return payload

    invoke.name = name
    return invoke


def test_invented_keys_and_unsigned_requests_are_refused_inside_a_function(probe, health):
    seen = probe({"calls": INVENTED})
    assert seen.pop("endpoint") == health["function_endpoint"]
    seen.pop("runtime_api")
    # AWS's answers to a key it did not issue, per protocol family, and to no signature.
    assert seen == {
        "sts_test": {"error": "InvalidClientTokenId", "status": 403},
        "sts_account": {"error": "InvalidClientTokenId", "status": 403},
        "s3_test": {"error": "InvalidAccessKeyId", "status": 403},
        "lambda_test": {"error": "UnrecognizedClientException", "status": 403},
        "sts_unsigned": {"error": "MissingAuthenticationToken", "status": 403},
    }


def test_the_function_role_credentials_work(probe):
    seen = probe({"calls": {"me": ["sts", "get_caller_identity", None, False]}})
    assert seen["me"]["ok"]["Arn"] == (
        f"arn:aws:sts::000000000000:assumed-role/lambda-role/{probe.name}"
    )


def test_the_functions_endpoint_refuses_invented_keys_from_anywhere(server, health):
    """However the connection is made (here from the host itself), not only through a
    function's network."""
    fn_sts = make_client(health["function_endpoint"], "sts")
    with pytest.raises(ClientError) as caught:
        fn_sts.get_caller_identity()
    assert caught.value.response["Error"] == {
        "Type": "Sender",
        "Code": "InvalidClientTokenId",
        "Message": "The security token included in the request is invalid.",
    }
    fn_s3 = make_client(health["function_endpoint"], "s3", key="AKIAINVENTEDKEY00000")
    with pytest.raises(ClientError) as caught:
        fn_s3.list_buckets()
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"], error["AWSAccessKeyId"]) == (
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
        "AKIAINVENTEDKEY00000",
    )
    # The main endpoint keeps dev mode: the same invented key is the account root there.
    main = make_client(server.endpoint, "sts").get_caller_identity()
    assert main["Arn"] == "arn:aws:iam::000000000000:root"


@pytest.fixture(scope="module")
def isolated(health):
    if health["function_network"] != "isolated":
        pytest.skip("no network namespace per environment here (pasta missing): shared network")


def test_a_function_cannot_reach_the_main_endpoint_or_other_loopback_services(
    server, probe, isolated
):
    main = urllib.parse.urlsplit(server.endpoint)
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen()
    try:
        seen = probe({"connect": {
            "main": [main.hostname, main.port],
            "main_localhost": ["localhost", main.port],
            "other": ["127.0.0.1", other.getsockname()[1]],
        }})  # fmt: skip
    finally:
        other.close()
    assert (seen["main"], seen["main_localhost"], seen["other"]) == (
        "ConnectionRefusedError",
        "ConnectionRefusedError",
        "ConnectionRefusedError",
    )
    assert seen["runtime_api"] == "127.0.0.1:9001"  # AWS's address, inside its namespace


def _host_reaches(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=5):
            return True
    except OSError:
        return False


def test_a_function_has_outbound_access(probe, isolated):
    """As a Lambda function outside a VPC: DNS and TCP to the internet (here the
    package index CI installs from; skipped where the host itself has no way out)."""
    if not _host_reaches("pypi.org", 443):
        pytest.skip("this host cannot reach pypi.org:443")
    seen = probe({"connect": {"pypi": ["pypi.org", 443]}})
    assert seen["pypi"] == "connected"


def _all_descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _inotify_fds(pid: int) -> int:
    fds = f"/proc/{pid}/fd"
    return sum(os.readlink(f"{fds}/{fd}") == "anon_inode:inotify" for fd in os.listdir(fds))


def test_a_sandbox_network_holds_no_inotify_instance(server, probe, isolated):
    """A user has 128 inotify instances by default, shared with their editor and
    `sam sync --watch`: pasta's own watch for its namespace's end would take one per
    environment (it dies with the sandbox instead)."""
    probe({"calls": {}})  # an environment, with its network, is up
    pastas = [pid for pid in _all_descendants(server.process.pid) if _comm(pid).startswith("pas")]
    assert pastas, "no pasta process among the server's descendants"
    held = {pid: _inotify_fds(pid) for pid in pastas}
    assert not any(held.values()), held
