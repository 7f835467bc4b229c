"""Log lines: Lambda's platform lines, the stream, delivery to the sink off the invoke path."""

from __future__ import annotations

import asyncio
import re

from sandlot.execution.api import LogEvent, LogStream
from sandlot.execution.logs import (
    MAX_BATCH_EVENTS,
    LogPolicy,
    LogShipper,
    report_line,
    report_record,
)

from .helpers import ACCOUNT, REGION, harness, wait_until

PRINTER = {
    "app.py": """
        print("cold init")

        def handler(event, context):
            print("in handler")
            return "ok"
    """
}


async def test_invocation_lines_and_stream(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(PRINTER, name="logged", version="3", memory=192)
        first = await h.invoke(spec)
        second = await h.invoke(spec)
        assert await wait_until(lambda: sum(m.startswith("REPORT") for m in h.messages()) == 2)
        streams = {(a, r, g, s) for a, r, g, s, _ in h.logs}
        assert len(streams) == 1
        account, region, group, stream = streams.pop()
        assert (account, region, group) == (ACCOUNT, REGION, "/aws/lambda/logged")
        assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[3\]" + first.environment_id, stream)

        messages = h.messages()
        request_id = messages[1].split()[2]
        assert messages[0] == "cold init\n"
        assert messages[1] == f"START RequestId: {request_id} Version: 3\n"
        assert messages[2] == "in handler\n"
        assert messages[3] == f"END RequestId: {request_id}\n"
        assert re.fullmatch(
            rf"REPORT RequestId: {request_id}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
            r"Memory Size: 192 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t\n",
            messages[4],
        )
        assert "Init Duration" not in messages[8]  # warm
        timestamps = [event.timestamp_ms for *_, event in h.logs]
        assert timestamps == sorted(timestamps)

        # LogType=Tail: this invocation's lines, the REPORT last.
        assert first.log_tail.decode() == "".join(messages[:5])
        assert second.log_tail.decode() == "".join(messages[5:10])


async def test_tail_is_the_last_4_kb(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(
            {
                "app.py": """
                    def handler(event, context):
                        for i in range(2000):
                            print(f"line {i:05d}")
                        print("x" * 300_000)  # one event is at most 256 KB
                """
            }
        )
        result = await h.invoke(spec)
        assert len(result.log_tail) == 4096
        assert result.log_tail.decode().endswith("\t\n")
        assert await wait_until(lambda: any(m.startswith("REPORT") for m in h.messages()))
        messages = h.messages()
        assert sum(m.startswith("line ") for m in messages) == 2000
        long_parts = [m for m in messages if m.startswith("xxx")]
        assert sum(len(m) - 1 for m in long_parts) == 300_000
        assert max(len(m.encode()) for m in long_parts) <= 256 * 1024


def test_report_line_format():
    assert report_line("r-1", 12.3456, 128, 40, None) == (
        "REPORT RequestId: r-1\tDuration: 12.35 ms\tBilled Duration: 13 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 40 MB\t"
    )
    assert report_line("r-2", 0.2, 256, 50, 101.234, "Status: timeout").endswith(
        "Billed Duration: 1 ms\tMemory Size: 256 MB\tMax Memory Used: 50 MB\t"
        "Init Duration: 101.23 ms\tStatus: timeout\t"
    )


async def test_shipper_batches_and_survives_a_failing_sink():
    calls: list[tuple[str, int]] = []

    async def sink(stream, events):
        calls.append((stream.log_stream, len(events)))
        if stream.log_stream == "bad":
            raise RuntimeError("sink down")

    shipper = LogShipper(sink, interval=0.01)
    shipper.start()
    for i in range(MAX_BATCH_EVENTS + 5):
        shipper.emit(_stream("good"), LogEvent(i, "m\n"))
    shipper.emit(_stream("bad"), LogEvent(0, "m\n"))
    await asyncio.sleep(0.1)
    assert sorted(calls) == [("bad", 1), ("good", 5), ("good", MAX_BATCH_EVENTS)]
    shipper.emit(_stream("good"), LogEvent(1, "late\n"))
    await shipper.close()
    assert calls[-1] == ("good", 1)


def _stream(name: str) -> LogStream:
    return LogStream("a", "r", "g", name, "fn", "arn:aws:iam::000000000000:role/r")


def test_log_policy_filters_json_records_by_level():
    warn = LogPolicy("JSON", "WARN", "INFO")
    assert warn.keeps_application('{"level": "ERROR", "message": "x"}')
    assert warn.keeps_application('{"level": "warning", "message": "x"}')  # Python's name
    assert warn.keeps_application('{"log_level": "ERROR", "errorType": "E"}')  # error record
    assert not warn.keeps_application('{"level": "INFO", "message": "x"}')
    assert not warn.keeps_application("plain text")  # no level: INFO, as Lambda assigns
    assert not warn.keeps_application('{"level": "LOUD"}')  # unknown: INFO
    assert LogPolicy("JSON", "TRACE", None).keeps_application('{"level": "TRACE"}')
    assert LogPolicy("Text", None, None).keeps_application("anything")
    assert warn.keeps_platform("platform.start") and warn.keeps_platform("platform.report")
    assert not warn.keeps_platform("platform.runtimeDone")  # DEBUG
    quiet = LogPolicy("JSON", None, "WARN")
    assert not quiet.keeps_platform("platform.report")
    assert LogPolicy("JSON", None, "DEBUG").keeps_platform("platform.runtimeDone")


def test_a_sampled_active_trace_is_named_in_the_report():
    header = "Root=1-5e34a614-10bd8a2b0c7e3e2f7d0bc8a1;Parent=07f5aa2d1f6f8512;Sampled=1"
    assert report_line("r-3", 2.5, 128, 56, None, trace_header=header).endswith(
        "Max Memory Used: 56 MB\t\n"
        "XRAY TraceId: 1-5e34a614-10bd8a2b0c7e3e2f7d0bc8a1\tSegmentId: 07f5aa2d1f6f8512\t"
        "Sampled: true\t"
    )
    record = report_record("r-3", 2.5, 128, 56, None, "success", None, trace_header=header)
    assert record["tracing"] == {
        "spanId": "07f5aa2d1f6f8512", "type": "X-Amzn-Trace-Id", "value": header,
    }  # fmt: skip
    # Not sampled, or no header: the REPORT as without tracing.
    unsampled = "Root=1-5e34a614-10bd8a2b0c7e3e2f7d0bc8a1;Sampled=0"
    assert report_line("r-4", 2.5, 128, 56, None, trace_header=unsampled) == report_line(
        "r-4", 2.5, 128, 56, None
    )
    assert "tracing" not in report_record("r-4", 2.5, 128, 56, None, "success", None, None)
