"""SNS deliveries are durable: a notification an HTTP endpoint could not take yet is
retried after sandlot is killed (-9) and restarted, by the endpoint's delivery policy."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import make_client
from tests.e2e.recorders import HttpRecorder
from tests.e2e.server import SandlotServer


def test_http_delivery_survives_kill_9(tmp_path):
    endpoint = HttpRecorder(path="/sns")
    port = endpoint.server.server_address[1]
    server = SandlotServer(tmp_path, lambda_role=False).start()
    try:
        sns = make_client(server.endpoint, "sns")
        topic = sns.create_topic(Name="durable")["TopicArn"]
        # Retries 10 s apart (1000 s in AWS's timing, scaled by retry_timing=fast).
        retry = {"numRetries": 5, "minDelayTarget": 1000, "maxDelayTarget": 1000}
        sns.subscribe(
            TopicArn=topic,
            Protocol="http",
            Endpoint=endpoint.url,
            Attributes={"DeliveryPolicy": json.dumps({"healthyRetryPolicy": retry})},
        )
        token = json.loads(endpoint.wait(1)[0].body)["Token"]
        sns.confirm_subscription(TopicArn=topic, Token=token)
        endpoint.close()  # the endpoint is down: the first attempt fails
        message_id = sns.publish(TopicArn=topic, Message="survives")["MessageId"]
        time.sleep(0.5)
    finally:
        server.kill()
    endpoint = HttpRecorder(port=port, path="/sns")  # back up, on the same address
    try:
        with SandlotServer(tmp_path, lambda_role=False):
            _, _, headers, body = endpoint.wait(1, timeout=30)[0]
            assert headers["x-amz-sns-message-type"] == "Notification"
            assert json.loads(body)["MessageId"] == message_id
    finally:
        endpoint.close()
