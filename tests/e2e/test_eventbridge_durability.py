"""An acknowledged PutEvents is not lost: the event's delivery to an API destination
whose endpoint is down is retried, and after sandlot is killed (-9) and restarted it
reaches the endpoint once it is back."""

from __future__ import annotations

import json

from tests.e2e.conftest import make_client
from tests.e2e.recorders import HttpRecorder
from tests.e2e.server import SandlotServer


def test_a_pending_event_delivery_survives_kill_9(tmp_path):
    receiver = HttpRecorder()
    url = receiver.url
    port = receiver.port
    receiver.close()  # the endpoint is down: attempts fail and are retried
    server = SandlotServer(tmp_path, lambda_role=False).start()
    try:
        events = make_client(server.endpoint, "events")
        connection = events.create_connection(
            Name="c", AuthorizationType="API_KEY",
            AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}},
        )["ConnectionArn"]  # fmt: skip
        destination = events.create_api_destination(
            Name="d", ConnectionArn=connection, InvocationEndpoint=url + "/in", HttpMethod="POST"
        )["ApiDestinationArn"]
        events.put_rule(Name="r", EventPattern='{"source": ["durable"]}')
        events.put_targets(Rule="r", Targets=[{"Id": "api", "Arn": destination}])
        event_id = events.put_events(
            Entries=[{"Source": "durable", "DetailType": "t", "Detail": "{}"}]
        )["Entries"][0]["EventId"]
    finally:
        server.kill()
    back = HttpRecorder(port=port)  # up again, on the same address
    try:
        with SandlotServer(tmp_path, lambda_role=False):
            received = back.wait(1, timeout=30)
            assert received and json.loads(received[0][3])["id"] == event_id
    finally:
        back.close()
