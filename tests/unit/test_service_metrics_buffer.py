"""sandlot.metrics: what services emit reaches CloudWatch grouped per series and second;
Lambda's invocations, counted on the invoke path, become the datapoints Lambda publishes."""

from types import SimpleNamespace

from sandlot.execution.api import InvokeRequest, InvokeResult
from sandlot.metrics import CAPACITY, Metrics

ARN = "arn:aws:lambda:us-east-1:111122223333:function:fn"


class FakeCloudWatch:
    def __init__(self):
        self.ingested = []
        self.flushes = 0

    def ingest(self, series):
        self.ingested.append(series)

    def flush(self):
        self.flushes += 1


def make_metrics(now=1_000.4):
    cloudwatch = FakeCloudWatch()
    platform = SimpleNamespace(
        settings=SimpleNamespace(service_metrics=True),
        has_provider=lambda name: True,
        provider=lambda name: cloudwatch,
    )
    metrics = Metrics(platform)
    metrics.clock = lambda: now
    return metrics, cloudwatch


def spec(version="$LATEST"):
    return SimpleNamespace(account_id="111122223333", region="us-east-1", function_name="fn",
                           version=version)  # fmt: skip


def result(duration_ms, error=None):
    return InvokeResult(payload=b"{}", function_error=error, duration_ms=duration_ms)


def test_emits_group_per_series_and_second():
    metrics, cloudwatch = make_metrics()
    dims = (("QueueName", "q"),)
    metrics.emit("1", "r", "AWS/SQS", "NumberOfMessagesSent", dims, 1, "Count", 5.2)
    metrics.emit("1", "r", "AWS/SQS", "NumberOfMessagesSent", dims, 2, "Count", 5.9)
    metrics.emit("1", "r", "AWS/SQS", "NumberOfMessagesSent", dims, 3, "Count", 6.0)
    assert metrics.flush() == 3
    assert cloudwatch.ingested == [{
        ("1", "r", "AWS/SQS", "NumberOfMessagesSent", dims, "Count", 5): [1.0, 2.0],
        ("1", "r", "AWS/SQS", "NumberOfMessagesSent", dims, "Count", 6): [3.0],
    }]  # fmt: skip
    assert cloudwatch.flushes == 1
    assert metrics.flush(persist=False) == 0 and cloudwatch.flushes == 1


def test_invocations_become_lambdas_datapoints_per_dimension_set():
    metrics, cloudwatch = make_metrics()
    alias = InvokeRequest("r1", b"{}", ARN + ":live")
    metrics.lambda_invoked(spec("3"), alias, result(12.5), 2, 5)
    metrics.lambda_invoked(spec("3"), alias, result(7.0, "Unhandled"), 1, 4)
    metrics.lambda_invoked(spec("3"), alias, None, 3, 6)  # throttled
    metrics.flush()
    (series,) = cloudwatch.ingested

    def values(name, dims, unit="Count"):
        return series.get(("111122223333", "us-east-1", "AWS/Lambda", name, dims, unit, 1000))

    function = (("FunctionName", "fn"),)
    resource = (("FunctionName", "fn"), ("Resource", "fn:live"))
    executed = (("ExecutedVersion", "3"), *resource)
    for dims in ((), function, resource, executed):
        assert values("Invocations", dims) == [1.0, 1.0]
        assert values("Errors", dims) == [1.0, 0.0]
        assert values("Duration", dims, "Milliseconds") == [12.5, 7.0]
        assert values("Throttles", dims) == [1.0]
    # The account-wide set counts the account's running invocations, the others the function's.
    assert values("ConcurrentExecutions", ()) == [5.0, 4.0]
    assert values("ConcurrentExecutions", function) == [2.0, 1.0]
    assert len(series) == 4 * 5


def test_unqualified_invocations_have_no_resource_and_throttles_alone_no_invocations():
    metrics, cloudwatch = make_metrics()
    metrics.lambda_invoked(spec(), InvokeRequest("r1", b"{}", ARN), None, 0, 0)
    metrics.flush()
    (series,) = cloudwatch.ingested
    assert sorted((key[3], key[4]) for key in series) == [
        ("Throttles", ()), ("Throttles", (("FunctionName", "fn"),)),
    ]  # fmt: skip


def test_a_buffer_past_capacity_is_dropped_and_counted():
    metrics, cloudwatch = make_metrics()
    for i in range(CAPACITY + 1):
        metrics.emit("1", "r", "N", "M", (), i)
    assert metrics.dropped == CAPACITY + 1
    metrics.emit("1", "r", "N", "M", (), 7)
    assert metrics.flush() == 1
    assert cloudwatch.ingested == [{("1", "r", "N", "M", (), "Count", 1000): [7.0]}]
