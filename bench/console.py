"""The web console in a cold headless Chromium: first paint, and how soon a line a
function prints shows in the function page's live log; optionally the screenshots of
the main views of every service kept in docs/console/.

    python bench/console.py [--rounds 10] [--lines 20] [--screenshots docs/console]

First paint: ``--rounds`` times a new Chromium with a new profile (nothing cached)
opens ``/_sandlot/console/`` and the page's Performance API answers
``first-contentful-paint``. Live log: the function page is open; boto3 invokes the
function ``--lines`` times, the function prints its own ``time.time()``, and the page
records (``Date.now()``, same clock) when the line is appended, and when the invocation's
row (read from its REPORT line) shows in the page's recent invocations. The function is
Active-traced, so the screenshots include its invocations, metrics charts, a trace's
waterfall and the X-Ray service map. Needs Debian's
``chromium`` and ``chromium-driver`` and the test extras' ``selenium``.

Targets (issue 18): first paint <= 500 ms from a cold browser on loopback; a live log
line in the browser <= 500 ms after the function printed it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import statistics
import sys
import tempfile
import time
import zipfile
from io import BytesIO
from pathlib import Path

from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from common import client, create_bench_role, start_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' browser helpers
from tests.e2e.console_browser import sign_in, start_chromium, text_of, wait_until  # noqa: E402

CHECKOUT = """
import json
import boto3

lam = boto3.client("lambda")  # botocore passes the invocation's trace header on

def handler(event, context):
    answer = lam.invoke(FunctionName="orders-api", Payload=json.dumps({"n": event.get("n", 0)}))
    return json.loads(answer["Payload"].read())
"""
HANDLER = """
import time

def handler(event, context):
    print("printed-at", repr(time.time()), event.get("n"), flush=True)
    return {"n": event.get("n"), "greeting": "hello from the console bench"}
"""


def first_paint_ms(url: str) -> float:
    driver = start_chromium()
    try:
        driver.get(url)
        script = (
            "const e = performance.getEntriesByName('first-contentful-paint')[0];"
            "return e ? e.startTime : null;"
        )
        return wait_until(lambda: driver.execute_script(script), what="first-contentful-paint")
    finally:
        driver.quit()


def seed(port: int) -> str:
    """A function, a bucket with objects, a queue: something for each view to show."""
    role = create_bench_role(port)
    for policy in ("service-role/AWSLambdaBasicExecutionRole", "AWSXRayDaemonWriteAccess"):
        client(port, "iam").attach_role_policy(  # the function may write logs and traces
            RoleName="bench", PolicyArn=f"arn:aws:iam::aws:policy/{policy}"
        )
    code = BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", HANDLER)
    lam = client(port, "lambda")
    lam.create_function(FunctionName="orders-api", Runtime="python3.12", Role=role,
                        Handler="app.handler", Code={"ZipFile": code.getvalue()},
                        MemorySize=256, Timeout=10, TracingConfig={"Mode": "Active"},
                        Environment={"Variables": {"TABLE": "orders", "STAGE": "dev"}})  # fmt: skip
    deadline = time.monotonic() + 30
    while lam.get_function(FunctionName="orders-api")["Configuration"]["State"] != "Active":
        if time.monotonic() > deadline:
            raise SystemExit("the function did not become Active")
        time.sleep(0.05)
    s3 = client(port, "s3")
    s3.create_bucket(Bucket="site-assets")
    for key, body in (("index.html", b"<h1>hi</h1>"), ("img/logo.svg", b"<svg/>"),
                      ("reports/2026-12.csv", b"day,orders\n1,42\n")):  # fmt: skip
        s3.put_object(Bucket="site-assets", Key=key, Body=body)
    ddb = client(port, "dynamodb")
    ddb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])  # fmt: skip
    for n in range(12):
        ddb.put_item(TableName="orders", Item={"id": {"S": f"order-{n:03}"},
                     "total": {"N": str(10 + n * 3)}, "paid": {"BOOL": n % 3 != 0}})  # fmt: skip
    sqs = client(port, "sqs")
    sqs.create_queue(QueueName="orders-queue", Attributes={"VisibilityTimeout": "45"})
    return "orders-api"


ORDER_FLOW = {
    "StartAt": "Validate",
    "States": {
        "Validate": {
            "Type": "Pass",
            "Result": {"valid": True},
            "ResultPath": "$.check",
            "Next": "Is it paid?",
        },
        "Is it paid?": {
            "Type": "Choice",
            "Default": "Reject",
            "Choices": [{"Variable": "$.paid", "BooleanEquals": True, "Next": "Reserve stock"}],
        },
        "Reserve stock": {
            "Type": "Pass",
            "Result": "reserved",
            "ResultPath": "$.stock",
            "Next": "Notify",
        },
        "Notify": {
            "Type": "Parallel",
            "ResultPath": None,
            "Next": "Wait for courier",
            "Branches": [
                {
                    "StartAt": "Email customer",
                    "States": {"Email customer": {"Type": "Pass", "End": True}},
                },
                {
                    "StartAt": "Tell warehouse",
                    "States": {
                        "Tell warehouse": {"Type": "Pass", "Next": "Print label"},
                        "Print label": {"Type": "Pass", "End": True},
                    },
                },
            ],
        },  # fmt: skip
        "Wait for courier": {"Type": "Wait", "Seconds": 1, "Next": "Shipped"},
        "Shipped": {"Type": "Succeed"},
        "Reject": {"Type": "Fail", "Error": "NotPaid", "Cause": "the order is not paid"},
    },
}
STACK = {
    "Description": "orders service",
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 60}},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "Order events"}},
        "Parameter": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Type": "String", "Value": {"Ref": "Queue"}},
        },
    },
    "Outputs": {
        "QueueUrl": {"Value": {"Ref": "Queue"}, "Description": "where orders go"},
        "TopicArn": {"Value": {"Ref": "Topic"}, "Export": {"Name": "orders-topic"}},
    },
}


def seed_services(port: int) -> dict[str, str]:
    """A topic, a bus with a rule, a state machine with a finished execution, a stack, a
    REST API and an Active-traced function calling ``orders-api`` (one trace through
    both): something for the other services' views; returns what the shots open."""
    invoke = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
              "Action": "lambda:InvokeFunction", "Resource": "*"}]}  # fmt: skip
    client(port, "iam").put_role_policy(
        RoleName="bench", PolicyName="invoke", PolicyDocument=json.dumps(invoke)
    )
    code = BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", CHECKOUT)
    lam = client(port, "lambda")
    role = lam.get_function(FunctionName="orders-api")["Configuration"]["Role"]
    lam.create_function(FunctionName="orders-checkout", Runtime="python3.12", Role=role,
                        Handler="app.handler", Code={"ZipFile": code.getvalue()},
                        Timeout=10, TracingConfig={"Mode": "Active"})  # fmt: skip
    sqs, sns, events = client(port, "sqs"), client(port, "sns"), client(port, "events")
    url = sqs.get_queue_url(QueueName="orders-queue")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topic = sns.create_topic(Name="order-events", Attributes={"DisplayName": "Orders"})["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue)
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")
    events.create_event_bus(Name="orders")
    pattern = {"source": ["shop.orders"], "detail-type": ["OrderPlaced"],
               "detail": {"total": [{"numeric": [">", 100]}]}}  # fmt: skip
    events.put_rule(Name="big-orders", EventBusName="orders", EventPattern=json.dumps(pattern),
                    Description="orders over 100")  # fmt: skip
    events.put_targets(Rule="big-orders", EventBusName="orders",
                       Targets=[{"Id": "queue", "Arn": queue}])  # fmt: skip
    events.put_rule(Name="refunds", EventBusName="orders", State="DISABLED",
                    EventPattern=json.dumps({"source": ["shop.refunds"]}))  # fmt: skip
    iam = client(port, "iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "states.amazonaws.com"}}]}  # fmt: skip
    role = iam.create_role(RoleName="bench-states", AssumeRolePolicyDocument=json.dumps(trust))
    sfn = client(port, "stepfunctions")
    machine = sfn.create_state_machine(name="order-flow", definition=json.dumps(ORDER_FLOW),
                                       roleArn=role["Role"]["Arn"])["stateMachineArn"]  # fmt: skip
    sfn.start_execution(stateMachineArn=machine, input='{"paid": false, "order": "order-002"}')
    execution = sfn.start_execution(stateMachineArn=machine, name="order-001",
                                    input='{"paid": true, "order": "order-001"}')  # fmt: skip
    cfn = client(port, "cloudformation")
    cfn.create_stack(StackName="orders-service", TemplateBody=json.dumps(STACK))
    deadline = time.monotonic() + 30
    while cfn.describe_stacks(StackName="orders-service")["Stacks"][0]["StackStatus"].endswith(
        "IN_PROGRESS"
    ):
        if time.monotonic() > deadline:
            raise SystemExit("the stack did not finish")
        time.sleep(0.1)
    # Alarms on orders-api: its invocations (the bench's invokes put it in ALARM), its
    # errors (none: OK), and a composite of both; each notifies the topic.
    cw = client(port, "cloudwatch")
    for alarm, metric, description in (
        ("orders-api-busy", "Invocations", "orders-api is being called"),
        ("orders-api-errors", "Errors", "orders-api fails"),
    ):
        cw.put_metric_alarm(AlarmName=alarm, AlarmDescription=description,
                            Namespace="AWS/Lambda", MetricName=metric, Statistic="Sum",
                            Dimensions=[{"Name": "FunctionName", "Value": "orders-api"}],
                            Period=60, EvaluationPeriods=1, Threshold=0,
                            ComparisonOperator="GreaterThanThreshold",
                            TreatMissingData="notBreaching", AlarmActions=[topic],
                            OKActions=[topic])  # fmt: skip
    cw.put_composite_alarm(AlarmName="orders-api-health", AlarmActions=[topic],
                           AlarmRule='ALARM("orders-api-busy") OR ALARM("orders-api-errors")')  # fmt: skip
    apis = client(port, "apigateway")
    rest = apis.create_rest_api(name="orders-api", description="the shop's orders")["id"]
    root = apis.get_resources(restApiId=rest)["items"][0]["id"]
    orders = apis.create_resource(restApiId=rest, parentId=root, pathPart="orders")["id"]
    one = apis.create_resource(restApiId=rest, parentId=orders, pathPart="{id}")["id"]
    for resource, method in ((orders, "GET"), (orders, "POST"), (one, "GET")):
        key = dict(restApiId=rest, resourceId=resource, httpMethod=method)
        apis.put_method(**key, authorizationType="NONE")
        apis.put_integration(**key, type="MOCK",
                             requestTemplates={"application/json": '{"statusCode": 200}'})  # fmt: skip
    apis.create_deployment(restApiId=rest, stageName="prod")
    # An IAM user whose policy denies deletes: its denied call is what `explain` shows.
    iam.create_user(UserName="intern")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadOrders", "Effect": "Allow", "Action": ["dynamodb:Get*", "dynamodb:Scan"],
         "Resource": "*"},
        {"Sid": "NeverDelete", "Effect": "Deny", "Action": "dynamodb:Delete*", "Resource": "*"}]}  # fmt: skip
    iam.put_user_policy(
        UserName="intern", PolicyName="read-only", PolicyDocument=json.dumps(policy)
    )
    key = iam.create_access_key(UserName="intern")["AccessKey"]
    intern = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    client(port, "dynamodb", intern).scan(TableName="orders", Limit=1)
    try:
        client(port, "dynamodb", intern, retries=False).delete_table(TableName="orders")
        raise SystemExit("the intern's delete was not denied")
    except ClientError as error:
        denied = error.response["ResponseMetadata"]["RequestId"]
    return {"topic": topic, "execution": execution["executionArn"], "rest": rest, "denied": denied}


def service_shots(endpoint: str, seeded: dict[str, str], shots: Path) -> None:
    """Screenshots of the SNS, EventBridge, Step Functions, CloudFormation, API Gateway,
    IAM decisions and CloudWatch alarms views."""
    from urllib.parse import quote

    from selenium.webdriver.common.by import By

    driver = start_chromium()
    try:
        sign_in(driver, endpoint)
        console = f"{endpoint}/_sandlot/console/#"
        for view, ready, shot in (
            (f"/sns/{quote(seeded['topic'], safe='')}", "#subscriptions", "sns-topic.png"),
            ("/events/orders", "[data-rule='big-orders']", "eventbridge-bus.png"),
            (
                f"/states/execution/{quote(seeded['execution'], safe='')}",
                "#execution-graph .state-succeeded[data-name='Shipped']",
                "stepfunctions-execution.png",
            ),
            ("/cloudformation/orders-service", "#events-table", "cloudformation-stack.png"),
            (f"/apigateway/rest/{seeded['rest']}", "#stages-table", "apigateway-rest-api.png"),
            ("/iam/all", "#decisions-table", "iam-decisions.png"),
            (  # the bench's invokes put it in ALARM (alarms are evaluated every 10 s)
                "/cloudwatch",
                "#alarms-table tr[data-alarm='orders-api-health'][data-state='ALARM']",
                "cloudwatch-alarms.png",
            ),
            (
                "/cloudwatch/orders-api-busy",
                "#history-table tr[data-new-state='ALARM']",
                "cloudwatch-alarm.png",
            ),
            (f"/iam/explain/{seeded['denied']}", "#statements-0", "iam-explain.png"),
        ):
            driver.get(console + view)
            wait_until(
                lambda ready=ready: driver.find_elements(By.CSS_SELECTOR, ready),
                what=shot,
                timeout=40,
            )
            if shot == "stepfunctions-execution.png":
                driver.execute_script(  # a picked state shows its input and output
                    "document.querySelector(\"#execution-graph g[data-name='Reserve stock']\")"
                    ".dispatchEvent(new Event('click'))"
                )
                wait_until(lambda: text_of(driver, "#state-output"), what="the state's output")
            # The page's height plus the window's own (headless Chromium's window has one).
            height = driver.execute_script(
                "return document.body.scrollHeight + window.outerHeight - window.innerHeight"
            )
            driver.set_window_size(1280, max(900, min(height + 40, 2000)))
            driver.save_screenshot(str(shots / shot))
            driver.set_window_size(1280, 900)
    finally:
        driver.quit()


def live_log(
    endpoint: str, port: int, name: str, lines: int, shots: Path | None
) -> tuple[list[float], list[float]]:
    """Milliseconds from the function's print to the line in the page, and to its
    invocation's row (after its REPORT line) in the page, per invocation."""
    from selenium.webdriver.common.by import By

    driver = start_chromium()
    try:
        sign_in(driver, endpoint)
        if shots:
            driver.get(f"{endpoint}/_sandlot/console/#/lambda")
            wait_until(lambda: driver.find_elements(By.LINK_TEXT, name), what="functions")
            driver.save_screenshot(str(shots / "functions.png"))
        driver.get(f"{endpoint}/_sandlot/console/#/lambda/{name}")
        wait_until(lambda: text_of(driver, "#function-name") == name, what="the function page")
        # Record when each line is appended, by the page's clock.
        driver.execute_script(
            "window.seenAt = {};"
            "new MutationObserver(() => {"
            "  for (const line of document.querySelectorAll('#log-events .log-line')) {"
            "    const m = line.textContent.match(/printed-at (\\S+) (\\d+)/);"
            "    if (m && !(m[2] in seenAt)) {"
            "      seenAt[m[2]] = Date.now() / 1000 - Number(m[1]); printedAt[m[2]] = Number(m[1]);"
            "    }"
            "  }"
            "}).observe(document.getElementById('log-events'), {childList: true});"
            "window.printedAt = {}; window.rowAt = {};"
            "new MutationObserver(() => {"
            "  for (const row of document.querySelectorAll('#invocations-table tr[data-request-id]')) {"
            "    const id = row.dataset.requestId;"
            "    if (!(id in rowAt) && !row.innerText.includes('running')) rowAt[id] = Date.now() / 1000;"
            "  }"
            "}).observe(document.getElementById('invocations-rows'), {childList: true, subtree: true});"
        )
        lam = client(port, "lambda")
        request_ids = []
        for n in range(lines):
            answer = lam.invoke(FunctionName=name, Payload=json.dumps({"n": n}).encode())
            request_ids.append(answer["ResponseMetadata"]["RequestId"])
            wait_until(lambda n=n: driver.execute_script(f"return {n} in seenAt"), what="line")
            wait_until(
                lambda: driver.execute_script("return arguments[0] in rowAt", request_ids[-1]),
                what="the invocation's row",
            )
            time.sleep(0.37)  # spread the prints over the phases of the page's polling
        delays = driver.execute_script("return seenAt")
        printed, rows = driver.execute_script("return [printedAt, rowAt]")
        row_delays = [(rows[r] - printed[str(n)]) * 1000 for n, r in enumerate(request_ids)]
        if shots:
            event = driver.find_element(By.ID, "event")
            event.clear()
            event.send_keys(json.dumps({"n": 7}))
            driver.find_element(By.ID, "invoke").click()
            wait_until(lambda: text_of(driver, "#invoke-payload"), what="the invoke result")
            points = "return document.querySelectorAll('#metrics circle.point').length"
            wait_until(lambda: driver.execute_script(points), what="the metrics", timeout=30)
            driver.find_element(
                By.CSS_SELECTOR, "#invocations-table button.invocation-logs"
            ).click()
            wait_until(lambda: text_of(driver, "#invocation-logs"), what="an invocation's lines")
            height = driver.execute_script("return document.body.scrollHeight")
            driver.set_window_size(1280, min(height + 40, 3200))
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(str(shots / "function.png"))
            driver.set_window_size(1280, 900)
            # A trace through both functions (the checkout calls orders-api), then the
            # service map and the trace list.
            time.sleep(1.1)  # the next second: X-Ray's default rule samples its first request
            tail = lam.invoke(FunctionName="orders-checkout", LogType="Tail")["LogResult"]
            trace = re.search(r"XRAY TraceId: (\S+)", base64.b64decode(tail).decode()).group(1)
            driver.get(f"{endpoint}/_sandlot/console/#/xray/trace/{trace}")
            bars = "return document.querySelectorAll('#waterfall .bar').length"
            wait_until(lambda: driver.execute_script(bars) >= 8, what="both functions' bars")
            driver.execute_script(
                "document.querySelectorAll('#waterfall .bar')[1].dispatchEvent(new Event('click'))"
            )
            driver.set_window_size(1280, 1100)
            driver.save_screenshot(str(shots / "xray-trace.png"))
            driver.set_window_size(1280, 900)
            driver.find_element(By.LINK_TEXT, "X-Ray").click()
            wait_until(
                lambda: driver.find_elements(By.CSS_SELECTOR, "#service-map .node"), what="map"
            )
            driver.save_screenshot(str(shots / "xray-service-map.png"))
            driver.get(f"{endpoint}/_sandlot/console/#/s3/site-assets")
            wait_until(lambda: "reports/2026-12.csv" in text_of(driver, "main"), what="objects")
            driver.save_screenshot(str(shots / "s3-objects.png"))
            driver.get(f"{endpoint}/_sandlot/console/#/dynamodb/orders")
            wait_until(lambda: "order-011" in text_of(driver, "main"), what="items")
            driver.save_screenshot(str(shots / "dynamodb-items.png"))
            driver.get(f"{endpoint}/_sandlot/console/#/sqs")
            wait_until(lambda: driver.find_elements(By.LINK_TEXT, "orders-queue"), what="queues")
            driver.find_element(By.LINK_TEXT, "orders-queue").click()
            wait_until(lambda: "VisibilityTimeout" in text_of(driver, "main"), what="attributes")
            driver.save_screenshot(str(shots / "sqs-queue.png"))
            driver.execute_script("sessionStorage.clear()")
            driver.refresh()
            wait_until(lambda: driver.find_elements(By.ID, "sign-in"), what="the sign-in form")
            driver.save_screenshot(str(shots / "sign-in.png"))
        return [delays[str(n)] * 1000 for n in range(lines)], row_delays
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args()
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sandlot-bench-console-") as data_dir:
        process, port, _, _ = start_server("uvicorn", data_dir)
        try:
            endpoint = f"http://127.0.0.1:{port}"
            name = seed(port)
            seeded = seed_services(port) if args.screenshots else {}
            paints = [first_paint_ms(f"{endpoint}/_sandlot/console/") for _ in range(args.rounds)]
            print(f"first-contentful-paint, cold browser ({args.rounds} rounds): "
                  f"p50 {statistics.median(paints):.0f} ms, max {max(paints):.0f} ms, "
                  f"min {min(paints):.0f} ms")  # fmt: skip
            lines, rows = live_log(endpoint, port, name, args.lines, args.screenshots)
            for what, delays in (("live log line, print to page", sorted(lines)),
                                 ("invocation row, print to page", sorted(rows))):  # fmt: skip
                p90 = delays[int(len(delays) * 0.9) - 1]
                print(f"{what} ({args.lines} invocations): "
                      f"p50 {statistics.median(delays):.0f} ms, p90 {p90:.0f} ms, "
                      f"max {max(delays):.0f} ms")  # fmt: skip
            if args.screenshots:
                service_shots(endpoint, seeded, args.screenshots)
                print(f"screenshots in {args.screenshots}: {sorted(os.listdir(args.screenshots))}")
        finally:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
