"""The web console's observability views in headless Chromium: a function's recent
invocations (read from its CloudWatch Logs' START/REPORT lines, text and JSON formats,
its LoggingConfig.LogGroup respected) linked to their log lines and traces, its AWS/Lambda
metrics charts (GetMetricData), a trace's waterfall (BatchGetTraces) and the service map
(GetServiceGraph), and CloudWatch alarms (an alarm on a failing function's Errors going
to ALARM while its list is shown, then its history); in dev mode and signed in as an IAM
user in secure mode."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.console_browser import needs_chromium, sign_in, start_chromium, text_of, wait_until
from tests.e2e.functions import create_function, unique
from tests.e2e.roles import ensure_role
from tests.e2e.server import SandlotServer

pytestmark = needs_chromium

HANDLER = """
import time

def handler(event, context):
    print("obs-line", event.get("marker"), flush=True)
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError("failed on purpose")
    return {"ok": event.get("marker")}
"""
MANAGED = (
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
)


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium()
    yield driver
    driver.quit()


def table_row(browser, table: str, attribute: str, value: str) -> dict:
    """The row of table ``table`` whose data ``attribute`` is ``value``, as
    {column: text}; {} while it is not shown."""
    script = """
        const [table, attribute, value] = arguments;
        const row = [...document.querySelectorAll(`#${table} tr[data-${attribute}]`)]
            .find(r => r.getAttribute(`data-${attribute}`) === value);
        if (!row) return {};
        const heads = [...document.querySelectorAll(`#${table} th`)].map(h => h.innerText);
        const out = {};
        [...row.children].forEach((td, i) => { out[heads[i]] = td.innerText; });
        return out;
    """
    return browser.execute_script(script, table, attribute, value)


def row_of(browser, request_id: str) -> dict:
    """The invocation row of ``request_id`` as {column: text}, {} while it is not shown."""
    return table_row(browser, "invocations-table", "request-id", request_id)


def invoke_from_the_test_box(browser, payload: dict) -> str:
    """Invoke with the function page's test box; the request id it answered."""
    from selenium.webdriver.common.by import By

    event = browser.find_element(By.ID, "event")
    event.clear()
    event.send_keys(json.dumps(payload))
    before = text_of(browser, "#invoke-result")
    browser.find_element(By.ID, "invoke").click()
    answered = wait_until(
        lambda: (now := text_of(browser, "#invoke-result")) != before and "request " in now and now,
        what="the invoke result",
    )
    return re.search(r"request (\S+)", answered).group(1)


def open_function(browser, endpoint: str, name: str) -> None:
    browser.get(f"{endpoint}/_sandlot/console/#/lambda/{name}")
    wait_until(lambda: text_of(browser, "#function-name") == name, what="the function page")


def check_invocation_trace_and_map(browser, endpoint: str, name: str) -> None:
    """Invoke from the test box; the row, its log lines, its metrics, its trace's
    waterfall and the service map all appear (the page is never reloaded)."""
    from selenium.webdriver.common.by import By

    open_function(browser, endpoint, name)
    browser.execute_script("window.sameDocument = true")  # gone if the page reloads
    request_id = invoke_from_the_test_box(browser, {"marker": "from-the-box"})
    row = wait_until(
        lambda: (r := row_of(browser, request_id)) and r["Status"] != "running" and r,
        what="the invocation row",
    )
    assert row["Status"] == "ok" and row["Request ID (its log lines)"] == request_id
    assert float(row["Duration (ms)"]) > 0 and int(row["Billed (ms)"]) >= 1
    assert float(row["Init (ms)"]) > 0  # the first invocation is a cold start
    used, size = row["Memory (MB)"].split(" / ")
    assert int(size) == 128 and int(used) > 0
    trace_id = row["Trace"]
    assert re.fullmatch(r"1-[0-9a-f]{8}-[0-9a-f]{24}", trace_id), row

    selector = f'#invocations-table tr[data-request-id="{request_id}"] button.invocation-logs'
    browser.find_element(By.CSS_SELECTOR, selector).click()
    lines = wait_until(lambda: text_of(browser, "#invocation-logs"), what="the log lines")
    assert f"START RequestId: {request_id}" in lines and "obs-line from-the-box" in lines
    assert f"XRAY TraceId: {trace_id}" in lines
    # The live log filtered by the request id: only the lines that name it.
    browser.find_element(By.ID, "filter-by-request").click()
    wait_until(lambda: "obs-line" not in text_of(browser, "#log-events"), what="the filter")
    filtered = wait_until(lambda: text_of(browser, "#log-events"), what="the filtered lines")
    assert f"REPORT RequestId: {request_id}" in filtered
    assert browser.find_element(By.ID, "log-filter").get_attribute("value") == f'"{request_id}"'

    # The metrics charts: the invocation is a datapoint of Invocations and Duration.
    points = "return document.querySelectorAll(`#metrics figure[data-metric='${arguments[0]}'] circle.point`).length"
    wait_until(
        lambda: browser.execute_script(points, "Invocations"), what="a datapoint", timeout=30
    )
    assert browser.execute_script(points, "Duration") >= 1
    assert browser.execute_script(points, "Errors") >= 0
    assert browser.execute_script("return window.sameDocument") is True

    # The trace link opens its waterfall: Lambda's segments and their subsegments.
    browser.find_element(
        By.CSS_SELECTOR, selector.replace("button.invocation-logs", "a.trace-link")
    ).click()
    bars = "return [...document.querySelectorAll('#waterfall .bar')].map(b => b.dataset.name)"
    names = wait_until(
        lambda: (found := browser.execute_script(bars)) and "Invocation" in found and found,
        what="the waterfall",
    )
    assert names.count(name) == 2 and "Initialization" in names  # AWS::Lambda, ::Function
    assert text_of(browser, "#trace-id") == trace_id
    browser.execute_script(
        "document.querySelector('#waterfall .bar').dispatchEvent(new Event('click'))"
    )
    assert json.loads(text_of(browser, "#segment-detail"))["trace_id"] == trace_id
    assert text_of(browser, "#trace-functions") == f"Functions: {name}"

    # The service map and the trace list.
    browser.find_element(By.LINK_TEXT, "X-Ray").click()
    node = f"#service-map .node[data-name='{name}']"
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, node), what="the service map")
    types = browser.execute_script(
        f'return [...document.querySelectorAll("{node}")].map(n => n.dataset.type)'
    )
    assert set(types) == {"AWS::Lambda", "AWS::Lambda::Function"}
    assert browser.find_elements(By.CSS_SELECTOR, "#service-map .edge")
    assert browser.find_elements(By.LINK_TEXT, trace_id)
    browser.find_element(By.ID, "refresh-traces").click()  # asks again, same answer
    wait_until(lambda: browser.find_elements(By.LINK_TEXT, trace_id), what="the refreshed list")
    assert browser.execute_script("return window.sameDocument") is True


def test_invocations_logs_metrics_trace_and_service_map(server, browser):
    lam = make_client(server.endpoint, "lambda")
    role = ensure_role(make_client(server.endpoint, "iam"), "console-traced", managed=MANAGED)
    name = unique("obs-fn")
    create_function(lam, name, {"app.py": HANDLER}, role=role, TracingConfig={"Mode": "Active"},
                    Timeout=1)  # fmt: skip
    sign_in(browser, server.endpoint)
    check_invocation_trace_and_map(browser, server.endpoint, name)

    # An invocation the page did not make, that fails: its row says error.
    failed = lam.invoke(FunctionName=name, Payload=json.dumps({"fail": True, "marker": "x"}))
    request_id = failed["ResponseMetadata"]["RequestId"]
    open_function(browser, server.endpoint, name)
    row = wait_until(
        lambda: (r := row_of(browser, request_id)) and r["Status"] != "running" and r,
        what="the failed invocation's row",
    )
    assert row["Status"] == "error" and row["Init (ms)"] == ""  # a warm one

    # One that runs past its timeout: its REPORT says Status: timeout.
    timed_out = lam.invoke(FunctionName=name, Payload=json.dumps({"sleep": 3, "marker": "slow"}))
    request_id = timed_out["ResponseMetadata"]["RequestId"]
    row = wait_until(
        lambda: (r := row_of(browser, request_id)) and r["Status"] != "running" and r,
        what="the timed-out invocation's row",
    )
    assert row["Status"] == "timeout" and float(row["Duration (ms)"]) >= 1000


def test_json_logs_in_a_custom_log_group(server, browser):
    lam = make_client(server.endpoint, "lambda")
    name = unique("obs-json")
    group = f"/custom/{name}"
    create_function(lam, name, {"app.py": HANDLER},
                    LoggingConfig={"LogFormat": "JSON", "LogGroup": group})  # fmt: skip
    ok = lam.invoke(FunctionName=name, Payload=json.dumps({"marker": "json-ok"}))
    bad = lam.invoke(FunctionName=name, Payload=json.dumps({"fail": True, "marker": "json-bad"}))
    sign_in(browser, server.endpoint)
    open_function(browser, server.endpoint, name)
    assert group in text_of(browser, "#invocations")
    ids = [ok["ResponseMetadata"]["RequestId"], bad["ResponseMetadata"]["RequestId"]]
    rows = [
        wait_until(lambda i=i: (r := row_of(browser, i)) and r["Status"] != "running" and r)
        for i in ids
    ]
    assert rows[0]["Status"] == "ok" and rows[1]["Status"].startswith("error")
    assert float(rows[0]["Init (ms)"]) > 0 and rows[1]["Init (ms)"] == ""
    assert rows[0]["Trace"] == ""  # PassThrough: no trace of its own
    selector = f'#invocations-table tr[data-request-id="{ids[1]}"] button.invocation-logs'
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, selector).click()
    lines = wait_until(lambda: text_of(browser, "#invocation-logs"), what="the log lines")
    assert '"platform.report"' in lines and "json-bad" in lines and "json-ok" not in lines

    # Concurrent invocations run in several environments, each writing its own stream:
    # every one's row completes, however the streams' batches interleave.
    def call(n: int) -> str:
        payload = json.dumps({"marker": f"together-{n}", "sleep": 0.3})
        return lam.invoke(FunctionName=name, Payload=payload)["ResponseMetadata"]["RequestId"]

    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(call, range(4)))
    for request_id in together:
        row = wait_until(
            lambda i=request_id: (r := row_of(browser, i)) and r["Status"] != "running" and r,
            what="a concurrent invocation's row",
        )
        assert row["Status"] == "ok" and float(row["Duration (ms)"]) >= 300


def alarm_row(browser, alarm: str) -> dict:
    """The alarms view's row of ``alarm`` as {column: text}, {} while it is not shown."""
    return table_row(browser, "alarms-table", "alarm", alarm)


def test_an_errors_alarm_goes_to_alarm_in_the_alarms_view(server, browser):
    from selenium.webdriver.common.by import By

    lam, cw, sns = (make_client(server.endpoint, s) for s in ("lambda", "cloudwatch", "sns"))
    name, alarm = unique("obs-failing"), unique("obs-errors <b>alarm</b>")
    create_function(lam, name, {"app.py": HANDLER})
    topic = sns.create_topic(Name=unique("obs-alarms"))["TopicArn"]
    cw.put_metric_alarm(
        AlarmName=alarm, Namespace="AWS/Lambda", MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": name}], Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching", AlarmActions=[topic],
    )  # fmt: skip
    sign_in(browser, server.endpoint)
    browser.get(f"{server.endpoint}/_sandlot/console/#/cloudwatch")
    row = wait_until(lambda: alarm_row(browser, alarm), what="the alarm's row")
    assert row["State"] in ("INSUFFICIENT_DATA", "OK")  # not evaluated with errors yet
    assert row["Metric"] == f"AWS/Lambda Errors {{FunctionName={name}}}"
    assert row["Condition"] == "Sum per 60 s > 0, 1 of 1 periods"
    browser.execute_script("window.sameDocument = true")  # gone if the page reloads

    failed = lam.invoke(FunctionName=name, Payload=json.dumps({"fail": True, "marker": "a"}))
    assert failed["FunctionError"] == "Unhandled"
    deadline = time.monotonic() + 40  # sandlot evaluates alarms every 10 s
    while cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] != "ALARM":
        assert time.monotonic() < deadline, "the alarm did not go to ALARM"
        time.sleep(0.2)
    row = wait_until(
        lambda: (r := alarm_row(browser, alarm)) and r["State"] == "ALARM" and r,
        what="the row in ALARM",
    )
    assert row["Reason"].startswith("Threshold Crossed")
    assert browser.execute_script("return window.sameDocument") is True
    assert browser.find_elements(By.CSS_SELECTOR, "#alarms-table .alarm-state.alarm-ALARM")

    # Its page: configuration, the topic among its ALARM actions, the state change in
    # its history (newest first), the name rendered as text.
    browser.find_element(By.LINK_TEXT, alarm).click()
    wait_until(lambda: text_of(browser, "#alarm-config"), what="the alarm's configuration")
    assert text_of(browser, "#alarm-name") == alarm
    assert "GreaterThanThreshold" in text_of(browser, "#alarm-config")
    assert topic in text_of(browser, "#actions-table")
    first = wait_until(
        lambda: browser.execute_script(
            "const r = document.querySelector('#history-table tr.history-item');"
            "return r && [r.dataset.type, r.dataset.newState, r.innerText];"
        ),
        what="the history",
    )
    assert first[:2] == ["StateUpdate", "ALARM"] and "to ALARM" in first[2]
    kinds = browser.execute_script(
        "return [...document.querySelectorAll('#history-table tr.history-item')]"
        ".map(r => r.dataset.type)"
    )
    assert kinds[-1] == "ConfigurationUpdate"
    assert not browser.find_elements(By.CSS_SELECTOR, "main b")  # text, not markup


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("console-observability"), "--secure") as running:
        yield running


def test_the_views_work_for_an_iam_user_in_secure_mode(secure, browser):
    from selenium.webdriver.common.by import By

    key, secret = secure.root_keys()
    iam = make_client(secure.endpoint, "iam", key, secret)
    role = ensure_role(iam, "console-traced", managed=MANAGED)
    name = unique("obs-secure")
    lam = make_client(secure.endpoint, "lambda", key, secret)
    create_function(lam, name, {"app.py": HANDLER}, role=role, TracingConfig={"Mode": "Active"})
    iam.create_user(UserName="observer")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
        "lambda:GetFunction", "lambda:InvokeFunction", "lambda:ListFunctions",
        "logs:FilterLogEvents", "cloudwatch:GetMetricData", "xray:BatchGetTraces",
        "xray:GetTraceSummaries", "xray:GetServiceGraph", "cloudwatch:DescribeAlarms"]}]}  # fmt: skip
    iam.put_user_policy(
        UserName="observer", PolicyName="observe", PolicyDocument=json.dumps(policy)
    )
    access = iam.create_access_key(UserName="observer")["AccessKey"]
    sign_in(browser, secure.endpoint, access["AccessKeyId"], access["SecretAccessKey"])
    assert "user/observer" in browser.execute_script(
        "return document.getElementById('identity').title"
    )
    check_invocation_trace_and_map(browser, secure.endpoint, name)

    # The alarms view: listed with DescribeAlarms; the history is not allowed, so the
    # alarm's page shows IAM's denial.
    alarm = unique("obs-secure-alarm")
    cw = make_client(secure.endpoint, "cloudwatch", key, secret)
    cw.put_metric_alarm(
        AlarmName=alarm, Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum",
        Period=60, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    browser.find_element(By.LINK_TEXT, "CloudWatch alarms").click()
    row = wait_until(lambda: alarm_row(browser, alarm), what="the alarm's row")
    assert row["State"] == "INSUFFICIENT_DATA"
    browser.find_element(By.LINK_TEXT, alarm).click()
    denial = wait_until(lambda: text_of(browser, "#alarm-summary .error"), what="the denial")
    assert "AccessDenied" in denial and "cloudwatch:DescribeAlarmHistory" in denial
