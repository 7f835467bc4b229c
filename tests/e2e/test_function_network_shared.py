"""The shared-network fallback (SANDLOT_FUNCTION_NETWORK=shared, or no pasta): functions
keep the host's network, so they can reach sandlot's main endpoint; their own endpoint
(AWS_ENDPOINT_URL) still refuses every key sandlot did not issue."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.network_probes import INVENTED, PROBES
from tests.e2e.server import SandlotServer


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    data = tmp_path_factory.mktemp("sandlot-shared")
    with SandlotServer(data, env={"SANDLOT_FUNCTION_NETWORK": "shared"}) as running:
        yield running


def test_shared_network_still_refuses_invented_keys_on_the_functions_endpoint(shared):
    with urllib.request.urlopen(shared.endpoint + "/_sandlot/health", timeout=10) as response:
        health = json.loads(response.read())
    assert health["function_network"] == "shared"
    lam = make_client(shared.endpoint, "lambda")
    name = unique("shared")
    create_function(lam, name, {"app.py": PROBES}, Timeout=30)
    main = urllib.parse.urlsplit(shared.endpoint)
    event = {"calls": INVENTED, "connect": {"main": [main.hostname, main.port]}}
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    seen = json.loads(response["Payload"].read())
    assert seen["endpoint"] == health["function_endpoint"] != shared.endpoint
    assert seen["sts_test"] == {"error": "InvalidClientTokenId", "status": 403}
    assert seen["sts_unsigned"] == {"error": "MissingAuthenticationToken", "status": 403}
    # What the shared network allows (documented): the main endpoint is reachable.
    assert seen["main"] == "connected"
