"""The event-stream encoder against botocore's own decoder (which checks both CRCs)."""

from __future__ import annotations

import json

from botocore.eventstream import EventStreamBuffer

from sandlot.protocol.eventstream import (
    decode_messages,
    encode_message,
    event_message,
    exception_message,
)


def test_botocore_decodes_events_and_exceptions():
    data = event_message("SubscribeToShardEvent", b'{"Records": []}')
    data += exception_message("ResourceNotFoundException", b'{"message": "gone"}')
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    event, error = list(buffer)
    assert event.headers == {
        ":event-type": "SubscribeToShardEvent",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(event.payload) == {"Records": []}
    assert error.headers[":message-type"] == "exception"
    assert error.headers[":exception-type"] == "ResourceNotFoundException"


def test_split_across_chunks_and_empty_payload():
    data = encode_message({":message-type": "event", ":event-type": "initial-response"}, b"")
    data += event_message("E", b"x" * 70000)
    buffer = EventStreamBuffer()
    messages = []
    for i in range(0, len(data), 4096):  # as the network delivers it
        buffer.add_data(data[i : i + 4096])
        messages += list(buffer)
    assert [m.headers[":event-type"] for m in messages] == ["initial-response", "E"]
    assert messages[0].payload == b"" and len(messages[1].payload) == 70000
    assert [h[":event-type"] for h, _ in decode_messages(data)] == ["initial-response", "E"]
