"""CloudWatch metrics end to end with boto3 and the AWS CLI: PutMetricData's forms
(value, statistic set, values and counts, high resolution), GetMetricStatistics,
GetMetricData with metric math and SEARCH, ListMetrics paging, AWS's errors."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.e2e.conftest import aws, error_of
from tests.e2e.functions import unique


def minute_ago(minutes: float = 0) -> dt.datetime:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    return now - dt.timedelta(minutes=minutes)


def window(cw):
    base = minute_ago()
    return dict(StartTime=base - dt.timedelta(minutes=10), EndTime=base + dt.timedelta(minutes=2))


def test_put_and_get_statistics_all_forms(client):
    cw = client("cloudwatch")
    ns = unique("App")
    stamp = minute_ago(2)
    dims = [{"Name": "Service", "Value": "orders"}, {"Name": "Env", "Value": "dev"}]
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {"MetricName": "Latency", "Dimensions": dims, "Timestamp": stamp, "Value": 10.0,
             "Unit": "Milliseconds"},
            {"MetricName": "Latency", "Dimensions": dims[::-1], "Timestamp": stamp,
             "StatisticValues": {"SampleCount": 3, "Sum": 60, "Minimum": 5, "Maximum": 40},
             "Unit": "Milliseconds"},
            {"MetricName": "Latency", "Dimensions": dims, "Timestamp": stamp,
             "Values": [1.0, 100.0], "Counts": [2, 1], "Unit": "Milliseconds"},
        ],
    )  # fmt: skip
    answer = cw.get_metric_statistics(
        Namespace=ns,
        MetricName="Latency",
        Dimensions=dims,
        Period=60,
        Statistics=["SampleCount", "Sum", "Minimum", "Maximum", "Average"],
        **window(cw),
    )
    assert answer["Label"] == "Latency"
    [point] = answer["Datapoints"]
    assert point["Timestamp"] == stamp
    assert point["SampleCount"] == 7 and point["Sum"] == 10 + 60 + 2 + 100
    assert point["Minimum"] == 1 and point["Maximum"] == 100
    assert point["Average"] == pytest.approx(172 / 7)
    assert point["Unit"] == "Milliseconds"
    # A unit filter that matches nothing, and dimensions that were never published.
    none = cw.get_metric_statistics(
        Namespace=ns, MetricName="Latency", Dimensions=dims, Period=60, Statistics=["Sum"],
        Unit="Seconds", **window(cw),
    )  # fmt: skip
    assert none["Datapoints"] == []
    partial = cw.get_metric_statistics(
        Namespace=ns, MetricName="Latency", Dimensions=dims[:1], Period=60, Statistics=["Sum"],
        **window(cw),
    )  # fmt: skip
    assert partial["Datapoints"] == []


def test_percentiles_and_high_resolution(client):
    cw = client("cloudwatch")
    ns = unique("Hi")
    base = minute_ago(1)
    data = [
        {"MetricName": "Lat", "Timestamp": base + dt.timedelta(seconds=s), "Value": float(s + 1),
         "StorageResolution": 1}
        for s in range(0, 20)
    ]  # fmt: skip
    cw.put_metric_data(Namespace=ns, MetricData=data)
    per_10s = cw.get_metric_statistics(
        Namespace=ns, MetricName="Lat", Period=10, Statistics=["Sum"],
        StartTime=base, EndTime=base + dt.timedelta(seconds=20),
    )  # fmt: skip
    sums = sorted((p["Timestamp"], p["Sum"]) for p in per_10s["Datapoints"])
    assert [s for _, s in sums] == [sum(range(1, 11)), sum(range(11, 21))]
    pct = cw.get_metric_statistics(
        Namespace=ns, MetricName="Lat", Period=60, ExtendedStatistics=["p50", "p90"],
        StartTime=base, EndTime=base + dt.timedelta(minutes=1),
    )  # fmt: skip
    [point] = pct["Datapoints"]
    assert point["ExtendedStatistics"] == {"p50": 10.0, "p90": 18.0}


def test_put_metric_data_errors(client):
    cw = client("cloudwatch")
    ns = unique("Bad")
    err = error_of(
        cw.put_metric_data,
        Namespace=ns,
        MetricData=[{"MetricName": "m", "Value": 1.0, "StatisticValues": {
            "SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}],
    )  # fmt: skip
    assert err["Code"] == "InvalidParameterCombination" and err["HTTPStatusCode"] == 400
    err = error_of(cw.put_metric_data, Namespace=ns, MetricData=[{"MetricName": "m"}])
    assert err["Code"] == "MissingParameter"
    dims = [{"Name": f"d{i}", "Value": "v"} for i in range(31)]
    err = error_of(
        cw.put_metric_data, Namespace=ns, MetricData=[{"MetricName": "m", "Value": 1.0,
                                                         "Dimensions": dims}]
    )  # fmt: skip
    assert err["Code"] == "InvalidParameterValue" and "Dimensions" in err["Message"]
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=15)
    err = error_of(
        cw.put_metric_data, Namespace=ns, MetricData=[{"MetricName": "m", "Value": 1.0,
                                                         "Timestamp": old}]
    )  # fmt: skip
    assert err["Code"] == "InvalidParameterValue" and "Timestamp" in err["Message"]
    err = error_of(
        cw.put_metric_data, Namespace="AWS/Lambda", MetricData=[{"MetricName": "m", "Value": 1.0}]
    )
    assert err["Code"] == "InvalidParameterValue"
    err = error_of(
        cw.put_metric_data, Namespace="x" * 256, MetricData=[{"MetricName": "m", "Value": 1.0}]
    )
    assert err["Code"] == "ValidationError" and "255" in err["Message"], err
    too_many = [{"MetricName": "m", "Value": 1.0}] * 1001
    err = error_of(cw.put_metric_data, Namespace=ns, MetricData=too_many)
    assert err["Code"] == "InvalidParameterValue" and "1000" in err["Message"]
    err = error_of(
        cw.get_metric_statistics, Namespace=ns, MetricName="m", Period=60, Statistics=["Sum"],
        StartTime=minute_ago(3000), EndTime=minute_ago(),
    )  # fmt: skip
    assert err["Code"] == "InvalidParameterCombination" and "1440" in err["Message"]
    err = error_of(
        cw.get_metric_statistics, Namespace=ns, MetricName="m", Period=61, Statistics=["Sum"],
        StartTime=minute_ago(5), EndTime=minute_ago(),
    )  # fmt: skip
    assert err["Code"] == "InvalidParameterValue"


def test_get_metric_data_math_and_search(client):
    cw = client("cloudwatch")
    ns = unique("Math")
    t0 = minute_ago(5)
    data = []
    for i in range(3):
        stamp = t0 + dt.timedelta(minutes=i)
        data.append(
            {
                "MetricName": "Errors",
                "Dimensions": [{"Name": "Fn", "Value": "a"}],
                "Timestamp": stamp,
                "Value": float(i),
            }
        )
        data.append(
            {
                "MetricName": "Errors",
                "Dimensions": [{"Name": "Fn", "Value": "b"}],
                "Timestamp": stamp,
                "Value": 10.0,
            }
        )
        data.append(
            {
                "MetricName": "Calls",
                "Dimensions": [{"Name": "Fn", "Value": "a"}],
                "Timestamp": stamp,
                "Value": 4.0,
            }
        )
    cw.put_metric_data(Namespace=ns, MetricData=data)

    def stat(name, fn, qid, ret=False):
        return {"Id": qid, "ReturnData": ret, "MetricStat": {"Period": 60, "Stat": "Sum",
                "Metric": {"Namespace": ns, "MetricName": name,
                           "Dimensions": [{"Name": "Fn", "Value": fn}]}}}  # fmt: skip

    answer = cw.get_metric_data(
        MetricDataQueries=[
            stat("Errors", "a", "ea", True),
            stat("Calls", "a", "ca"),
            stat("Errors", "b", "eb"),
            {"Id": "rate", "Expression": "100 * ea / ca", "Label": "error rate"},
            {"Id": "total", "Expression": "SUM(METRICS())"},
            {"Id": "big", "Expression": "IF(ea > 0, ea, -1)"},
            {"Id": "avg", "Expression": "AVG(eb)"},
            {
                "Id": "found",
                "Expression": f"SEARCH('{{{ns},Fn}} MetricName=\"Errors\"', 'Sum', 60)",
            },
        ],
        StartTime=t0,
        EndTime=t0 + dt.timedelta(minutes=3),
        ScanBy="TimestampAscending",
    )
    results = {}
    for r in answer["MetricDataResults"]:
        results.setdefault(r["Id"], []).append(r)
    assert results["ea"][0]["Values"] == [0.0, 1.0, 2.0]
    assert results["ea"][0]["Timestamps"] == [t0 + dt.timedelta(minutes=i) for i in range(3)]
    assert results["rate"][0]["Values"] == [0.0, 25.0, 50.0]
    assert results["rate"][0]["Label"] == "error rate"
    assert results["total"][0]["Values"] == [14.0, 15.0, 16.0]  # ea + ca + eb
    assert results["big"][0]["Values"] == [-1.0, 1.0, 2.0]
    assert results["avg"][0]["Values"] == [10.0, 10.0, 10.0]
    assert sorted(r["Label"] for r in results["found"]) == ["a Errors", "b Errors"]
    assert "ca" not in results  # ReturnData false

    for expression, fragment in (("ea +", "end"), ("nope * 2", "nope"), ("BOGUS(ea)", "BOGUS")):
        err = error_of(
            cw.get_metric_data,
            MetricDataQueries=[stat("Errors", "a", "ea"), {"Id": "x", "Expression": expression}],
            StartTime=t0,
            EndTime=t0 + dt.timedelta(minutes=3),
        )
        assert err["Code"] == "ValidationError" and fragment in err["Message"], err
    err = error_of(
        cw.get_metric_data,
        MetricDataQueries=[{"Id": "x", "Expression": "y"}, {"Id": "y", "Expression": "x"}],
        StartTime=t0,
        EndTime=t0 + dt.timedelta(minutes=3),
    )
    assert err["Code"] == "ValidationError" and "Circular" in err["Message"]


def test_list_metrics_paging_and_recently_active(client):
    cw = client("cloudwatch")
    ns = unique("List")
    data = [{"MetricName": f"m{i:03d}", "Dimensions": [{"Name": "K", "Value": str(i % 2)}],
             "Value": 1.0} for i in range(520)]  # fmt: skip
    for chunk in range(0, 520, 500):
        cw.put_metric_data(Namespace=ns, MetricData=data[chunk : chunk + 500])
    first = cw.list_metrics(Namespace=ns)
    assert len(first["Metrics"]) == 500 and "NextToken" in first
    second = cw.list_metrics(Namespace=ns, NextToken=first["NextToken"])
    assert len(second["Metrics"]) == 20 and "NextToken" not in second
    names = {m["MetricName"] for m in first["Metrics"] + second["Metrics"]}
    assert len(names) == 520
    odd = cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "K", "Value": "1"}])
    assert len(odd["Metrics"]) == 260
    recent = cw.list_metrics(Namespace=ns, MetricName="m007", RecentlyActive="PT3H")
    assert recent["Metrics"] == [
        {"Namespace": ns, "MetricName": "m007", "Dimensions": [{"Name": "K", "Value": "1"}]}
    ]
    err = error_of(cw.list_metrics, NextToken="!!garbage")
    assert err["Code"] == "InvalidNextToken"


def test_aws_cli_put_and_get(server):
    ns = unique("Cli")
    stamp = minute_ago(1).isoformat().replace("+00:00", "Z")
    aws(server.endpoint, "cloudwatch", "put-metric-data", "--namespace", ns,
        "--metric-name", "Jobs", "--value", "3", "--unit", "Count", "--timestamp", stamp,
        "--dimensions", "Queue=main")  # fmt: skip
    aws(server.endpoint, "cloudwatch", "put-metric-data", "--namespace", ns,
        "--metric-data", json.dumps([{"MetricName": "Jobs", "Value": 4, "Unit": "Count",
                                      "Timestamp": stamp,
                                      "Dimensions": [{"Name": "Queue", "Value": "main"}]}]))  # fmt: skip
    start = (minute_ago(5)).isoformat().replace("+00:00", "Z")
    end = (minute_ago(-1)).isoformat().replace("+00:00", "Z")
    out = aws(server.endpoint, "cloudwatch", "get-metric-statistics", "--namespace", ns,
              "--metric-name", "Jobs", "--dimensions", "Name=Queue,Value=main",
              "--statistics", "Sum", "Maximum", "--period", "60",
              "--start-time", start, "--end-time", end)  # fmt: skip
    [point] = out["Datapoints"]
    assert point["Sum"] == 7.0 and point["Maximum"] == 4.0 and point["Unit"] == "Count"


def test_metrics_survive_a_restart(tmp_path):
    from tests.e2e.conftest import make_client
    from tests.e2e.server import SandlotServer

    stamp = minute_ago(1)
    with SandlotServer(tmp_path) as server:
        cw = make_client(server.endpoint, "cloudwatch")
        cw.put_metric_data(Namespace="Keep", MetricData=[{"MetricName": "m", "Value": 5.0,
                                                           "Timestamp": stamp}])  # fmt: skip
    with SandlotServer(tmp_path) as server:
        cw = make_client(server.endpoint, "cloudwatch")
        answer = cw.get_metric_statistics(
            Namespace="Keep", MetricName="m", Period=60, Statistics=["Sum"],
            StartTime=stamp, EndTime=stamp + dt.timedelta(minutes=1),
        )  # fmt: skip
        assert [p["Sum"] for p in answer["Datapoints"]] == [5.0]


def test_get_metric_data_pages(client):
    cw = client("cloudwatch")
    ns = unique("Pages")
    t0 = minute_ago(10)
    data = [
        {"MetricName": m, "Timestamp": t0 + dt.timedelta(minutes=i), "Value": float(i)}
        for m in ("a", "b")
        for i in range(6)
    ]
    cw.put_metric_data(Namespace=ns, MetricData=data)
    queries = [
        {"Id": m, "MetricStat": {"Period": 60, "Stat": "Sum",
                                 "Metric": {"Namespace": ns, "MetricName": m}}}
        for m in ("a", "b")
    ]  # fmt: skip
    seen: dict[str, list] = {"a": [], "b": []}
    token, pages = None, 0
    while True:
        extra = {"NextToken": token} if token else {}
        page = cw.get_metric_data(
            MetricDataQueries=queries, StartTime=t0, EndTime=minute_ago(), MaxDatapoints=4,
            ScanBy="TimestampAscending", **extra,
        )  # fmt: skip
        pages += 1
        for result in page["MetricDataResults"]:
            seen[result["Id"]] += result["Values"]
            assert result["StatusCode"] in ("Complete", "PartialData")
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3
    assert seen == {"a": [0.0, 1, 2, 3, 4, 5], "b": [0.0, 1, 2, 3, 4, 5]}
