"""The web console's views of SNS, EventBridge, Step Functions, CloudFormation and API
Gateway in headless Chromium: what each shows is what the APIs answered (the page signs
every call itself), and what it does (publish, put events) arrives where boto3 sees it;
execution graphs and stack events update while they run, without a reload."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from websockets.sync.client import connect

from tests.e2e.conftest import make_client
from tests.e2e.console_browser import needs_chromium, sign_in, start_chromium, text_of, wait_until
from tests.e2e.functions import unique
from tests.e2e.server import SandlotServer
from tests.e2e.sfn_support import definition, states_role

HOSTILE = '<img src=x id=injected onerror="document.title=1">'

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium()
    yield driver
    driver.quit()


def queue_for(server, service: str, source_arn: str | None = None) -> tuple[str, str]:
    """A queue the AWS service principal ``service`` may send to; (url, arn)."""
    sqs = make_client(server.endpoint, "sqs")
    url = sqs.create_queue(QueueName=unique("console-target"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    statement = {"Effect": "Allow", "Principal": {"Service": service},
                 "Action": "sqs:SendMessage", "Resource": arn}  # fmt: skip
    if source_arn:
        statement["Condition"] = {"ArnEquals": {"aws:SourceArn": source_arn}}
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, arn


def receive_one(server, url: str) -> dict:
    sqs = make_client(server.endpoint, "sqs")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            return json.loads(messages[0]["Body"])
    raise AssertionError("nothing arrived in the queue")


def open_link(browser, text: str, what: str) -> None:
    from selenium.webdriver.common.by import By

    wait_until(lambda: browser.find_elements(By.LINK_TEXT, text), what=what).pop().click()


def test_sns_topic_attributes_subscriptions_and_publish(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sns = make_client(server.endpoint, "sns")
    name = unique("console-topic")
    topic = sns.create_topic(Name=name, Attributes={"DisplayName": "Orders"})["TopicArn"]
    url, queue = queue_for(server, "sns.amazonaws.com", topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue)
    sign_in(browser, server.endpoint)
    browser.find_element(By.LINK_TEXT, "SNS").click()
    open_link(browser, name, "the topic list")
    wait_until(lambda: text_of(browser, "#topic-name") == name, what="the topic page")
    main = text_of(browser, "main")
    assert "DisplayName\tOrders" in main and f"TopicArn\t{topic}" in main
    assert f"sqs\t{queue}" in text_of(browser, "#subscriptions")

    browser.find_element(By.ID, "publish-subject").send_keys("from the console")
    browser.find_element(By.ID, "publish-message").send_keys(HOSTILE)
    browser.find_element(By.CSS_SELECTOR, ".attribute-name").send_keys("color")
    browser.find_element(By.CSS_SELECTOR, ".attribute-value").send_keys("blue")
    browser.find_element(By.ID, "add-attribute").click()
    browser.find_elements(By.CSS_SELECTOR, ".attribute-name")[1].send_keys("count")
    Select(browser.find_elements(By.CSS_SELECTOR, ".attribute-type")[1]).select_by_value("Number")
    browser.find_elements(By.CSS_SELECTOR, ".attribute-value")[1].send_keys("5")
    browser.find_element(By.ID, "publish").click()
    result = wait_until(lambda: text_of(browser, "#publish-result"), what="the publish result")
    assert result.startswith("Published message "), result
    envelope = receive_one(server, url)
    assert envelope["MessageId"] == result.split()[-1]
    assert (envelope["Message"], envelope["Subject"]) == (HOSTILE, "from the console")
    assert envelope["MessageAttributes"] == {
        "color": {"Type": "String", "Value": "blue"},
        "count": {"Type": "Number", "Value": "5"},
    }

    # A bad attribute is refused by SNS, and the page says so in SNS's words.
    browser.find_elements(By.CSS_SELECTOR, ".attribute-value")[1].send_keys("x")
    browser.find_element(By.ID, "publish").click()
    wait_until(lambda: text_of(browser, "#publish-result .error"), what="the refusal")
    assert text_of(browser, "#publish-result .error").startswith("ParameterValueInvalid: ")


def test_eventbridge_rules_targets_and_put_events(server, browser):
    from selenium.webdriver.common.by import By

    events = make_client(server.endpoint, "events")
    bus = unique("console-bus")
    events.create_event_bus(Name=bus)
    rule = unique("console-rule")
    pattern = {"source": ["console.test"], "detail": {"kind": ["order"]}}
    rule_arn = events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern),
                               Description=HOSTILE)["RuleArn"]  # fmt: skip
    url, queue = queue_for(server, "events.amazonaws.com", rule_arn)
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "to-queue", "Arn": queue}])
    sign_in(browser, server.endpoint)
    browser.find_element(By.LINK_TEXT, "EventBridge").click()
    wait_until(lambda: browser.find_elements(By.LINK_TEXT, "default"), what="the default bus")
    open_link(browser, bus, "the bus list")
    wait_until(lambda: text_of(browser, "#bus-name") == bus, what="the bus page")
    shown = text_of(browser, f'[data-rule="{rule}"]')
    assert f"{rule} (ENABLED)" in shown and HOSTILE in shown
    assert json.loads(text_of(browser, f'[data-rule="{rule}"] .pattern')) == pattern
    assert f"to-queue\t{queue}\tmatched event" in shown
    assert not browser.find_elements(By.ID, "injected")

    detail = browser.find_element(By.ID, "event-detail")
    detail.clear()
    detail.send_keys(json.dumps({"kind": "order", "id": 7}))
    browser.find_element(By.ID, "put-events").click()
    sent = wait_until(lambda: text_of(browser, "#put-events-result"), what="the PutEvents result")
    assert sent.startswith("Sent event "), sent
    event = receive_one(server, url)
    assert event["id"] == sent.split()[-1]
    assert (event["source"], event["detail-type"]) == ("console.test", "Console test")
    assert event["detail"] == {"kind": "order", "id": 7}


MACHINE = {
    "Prepare": {"Type": "Pass", "Result": {"ready": True}, "ResultPath": "$.prep", "Next": "Pause"},
    "Pause": {"Type": "Wait", "Seconds": 2, "Next": "Decide"},
    "Decide": {
        "Type": "Choice",
        "Default": "Broken",
        "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Done"}],
    },
    "Done": {"Type": "Succeed"},
    "Broken": {"Type": "Fail", "Error": "NotOk", "Cause": "ok was not true"},
}


def statuses(browser) -> dict[str, str]:
    script = (
        "return Object.fromEntries([...document.querySelectorAll('#execution-graph g.state')]"
        ".map(g => [g.dataset.name, g.dataset.status]))"
    )
    return browser.execute_script(script)


def test_step_functions_execution_graph_updates_while_it_runs(server, browser):
    from selenium.webdriver.common.by import By

    sfn = make_client(server.endpoint, "stepfunctions")
    role = states_role(make_client(server.endpoint, "iam"))
    name = unique("console-machine")
    arn = sfn.create_state_machine(name=name, definition=definition(MACHINE), roleArn=role)[
        "stateMachineArn"
    ]
    sign_in(browser, server.endpoint)
    browser.find_element(By.LINK_TEXT, "Step Functions").click()
    open_link(browser, name, "the machine list")
    wait_until(lambda: text_of(browser, "#machine-name") == name, what="the machine page")
    assert json.loads(text_of(browser, "#definition"))["States"] == MACHINE
    execution = sfn.start_execution(stateMachineArn=arn, name="happy", input='{"ok": true}')
    browser.refresh()
    open_link(browser, "happy", "the execution in the list")
    wait_until(lambda: text_of(browser, "#execution-status"), what="the execution page")
    browser.execute_script("window.sameDocument = true")  # gone if the page reloads
    # The graph is an SVG of every state, built as elements (no markup parsed).
    assert set(statuses(browser)) == set(MACHINE)
    wait_until(lambda: statuses(browser)["Pause"] == "running", what="Pause running")
    assert statuses(browser)["Prepare"] == "succeeded"
    assert text_of(browser, "#execution-status") == "RUNNING"
    wait_until(lambda: text_of(browser, "#execution-status") == "SUCCEEDED", what="the end")
    assert statuses(browser) == {"Prepare": "succeeded", "Pause": "succeeded",
                                 "Decide": "succeeded", "Done": "succeeded", "Broken": "not-run"}  # fmt: skip
    assert browser.execute_script("return window.sameDocument") is True
    assert json.loads(text_of(browser, "#execution-output")) == {
        "ok": True,
        "prep": {"ready": True},
    }

    # A state's input and output, from GetExecutionHistory, by picking it in the graph.
    browser.find_element(By.CSS_SELECTOR, '#execution-graph g.state[data-name="Prepare"]').click()
    wait_until(lambda: text_of(browser, "#state-name") == "Prepare (Pass)", what="the details")
    assert json.loads(text_of(browser, "#state-input")) == {"ok": True}
    assert json.loads(text_of(browser, "#state-output")) == {"ok": True, "prep": {"ready": True}}
    assert text_of(browser, "#state-status") == "succeeded"
    history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e
    ]
    assert entered == ["Prepare", "Pause", "Decide", "Done"]
    shown = text_of(browser, "#history-table")
    assert "\tWaitStateEntered\tPause\t" in shown
    assert shown.count("\n") == len(history)  # a header and one row per event

    # A failing execution: the Fail state and the execution show failed.
    failed = sfn.start_execution(stateMachineArn=arn, input='{"ok": false}')["executionArn"]
    browser.get(f"{server.endpoint}/_sandlot/console/#/states/execution/{failed}")
    wait_until(lambda: text_of(browser, "#execution-status") == "FAILED", what="the failure")
    assert statuses(browser)["Broken"] == "failed" and statuses(browser)["Done"] == "not-run"
    assert "NotOk: ok was not true" in text_of(browser, "#execution-summary")


NESTED = {
    "Fan out": {
        "Type": "Parallel",
        "Next": "Each item",
        "ResultPath": "$.branches",
        "Branches": [
            {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "Result": "L", "End": True}}},
            {"StartAt": "Right", "States": {
                "Right": {"Type": "Pass", "Result": "R", "Next": "Right again"},
                "Right again": {"Type": "Pass", "End": True}}},
        ],
    },
    "Each item": {
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "Double",
            "States": {"Double": {"Type": "Pass", "Parameters": {"twice.$": "States.MathAdd($, $)"},
                                  "End": True}},
        },
        "End": True,
    },
}  # fmt: skip


def test_step_functions_graph_nests_parallel_branches_and_map_iterations(server, browser):
    from selenium.webdriver.common.by import By

    sfn = make_client(server.endpoint, "stepfunctions")
    role = states_role(make_client(server.endpoint, "iam"))
    arn = sfn.create_state_machine(
        name=unique("console-nested"), definition=definition(NESTED), roleArn=role
    )["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=arn, input=json.dumps({"items": [1, 2, 3], "note": HOSTILE})
    )
    sign_in(browser, server.endpoint)
    browser.get(
        f"{server.endpoint}/_sandlot/console/#/states/execution/{execution['executionArn']}"
    )
    wait_until(lambda: text_of(browser, "#execution-status") == "SUCCEEDED", what="the end")
    assert statuses(browser) == dict.fromkeys(
        ["Fan out", "Left", "Right", "Right again", "Each item", "Double"], "succeeded"
    )
    # The branches' and the processor's states are drawn inside their state's box.
    nested = (
        "return [...document.querySelectorAll(arguments[0] + ' g.state')].map(g => g.dataset.name)"
    )
    assert browser.execute_script(nested, '[data-name="Fan out"]') == [
        "Left",
        "Right",
        "Right again",
    ]
    assert browser.execute_script(nested, '[data-name="Each item"]') == ["Double"]
    browser.find_element(By.CSS_SELECTOR, 'g.state[data-name="Double"]').click()
    wait_until(lambda: text_of(browser, "#state-name") == "Double (Pass)", what="the details")
    assert "entered 3 times" in text_of(browser, "#state-details")
    assert json.loads(text_of(browser, "#state-output"))["twice"] in (2, 4, 6)
    browser.find_element(By.CSS_SELECTOR, 'g.state[data-name="Fan out"] > rect').click()
    wait_until(lambda: text_of(browser, "#state-name") == "Fan out (Parallel)", what="the box")
    assert json.loads(text_of(browser, "#state-output"))["branches"] == ["L", "R"]
    assert json.loads(text_of(browser, "#state-input"))["note"] == HOSTILE  # text, not markup
    assert not browser.find_elements(By.ID, "injected")


WAITING_STACK = {
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"},
        "Ready": {
            "Type": "AWS::CloudFormation::WaitCondition",
            "DependsOn": "Queue",
            "Properties": {"Handle": {"Ref": "Handle"}, "Timeout": "120"},
        },
    },
    "Outputs": {
        "QueueUrl": {"Value": {"Ref": "Queue"}, "Description": "where orders go"},
        "Signal": {"Value": {"Fn::GetAtt": ["Ready", "Data"]}},
    },
}


def test_cloudformation_stack_events_poll_while_in_progress(server, browser):
    from selenium.webdriver.common.by import By

    cfn = make_client(server.endpoint, "cloudformation")
    name = unique("console-stack")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(WAITING_STACK))
    sign_in(browser, server.endpoint)
    browser.find_element(By.LINK_TEXT, "CloudFormation").click()
    open_link(browser, name, "the stack list")
    wait_until(lambda: text_of(browser, "#stack-status") == "CREATE_IN_PROGRESS", what="the stack")
    browser.execute_script("window.sameDocument = true")
    # The stack waits for its handle's signal; its events so far are listed.
    wait_until(lambda: "Ready\tAWS::CloudFormation::WaitCondition\tCREATE_IN_PROGRESS"
               in text_of(browser, "#events-table"), what="the wait condition's event")  # fmt: skip
    handle = cfn.describe_stack_resource(StackName=name, LogicalResourceId="Handle")
    signal = json.dumps({"Status": "SUCCESS", "UniqueId": "one", "Data": "go", "Reason": "ok"})
    request = urllib.request.Request(
        handle["StackResourceDetail"]["PhysicalResourceId"], data=signal.encode(), method="PUT"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    wait_until(lambda: text_of(browser, "#stack-status") == "CREATE_COMPLETE", what="complete")
    assert browser.execute_script("return window.sameDocument") is True
    queue_url = cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
    expected = {o["OutputKey"]: o["OutputValue"] for o in queue_url}
    outputs = text_of(browser, "#outputs-table")
    assert f"QueueUrl\t{expected['QueueUrl']}\twhere orders go" in outputs
    assert f"Signal\t{expected['Signal']}" in outputs
    resources = text_of(browser, "#resources-table")
    for logical in ("Queue", "Handle", "Ready"):
        assert f"{logical}\t" in resources
    assert resources.count("CREATE_COMPLETE") == 3
    assert json.loads(text_of(browser, "#stack-template")) == WAITING_STACK
    assert f"{name}\tAWS::CloudFormation::Stack\tCREATE_COMPLETE" in text_of(
        browser, "#events-table"
    )


def test_leaving_a_live_view_stops_its_polling(server, browser):
    from selenium.webdriver.common.by import By

    cfn = make_client(server.endpoint, "cloudformation")
    name = unique("console-waiting")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(WAITING_STACK))  # never signalled
    sign_in(browser, server.endpoint)
    browser.get(f"{server.endpoint}/_sandlot/console/#/cloudformation/{name}")
    wait_until(lambda: text_of(browser, "#stack-status") == "CREATE_IN_PROGRESS", what="the stack")
    calls = (
        "return performance.getEntriesByType('resource').filter(e => e.name.endsWith('/')).length"
    )
    before = browser.execute_script(calls)
    wait_until(lambda: browser.execute_script(calls) >= before + 6, what="a second of polling")
    browser.find_element(By.LINK_TEXT, "sandlot console").click()
    wait_until(lambda: text_of(browser, "main").startswith("Services"), what="the home page")
    left = browser.execute_script(calls)
    time.sleep(2.5)  # an absence: two poll periods in which nothing more may be asked
    assert browser.execute_script(calls) == left


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_api_gateway_routes_stages_and_invoke_urls(server, browser):
    from selenium.webdriver.common.by import By

    apis = make_client(server.endpoint, "apigateway")
    rest_name = unique("console-rest")
    rest = apis.create_rest_api(name=rest_name, description=HOSTILE)["id"]
    root = apis.get_resources(restApiId=rest)["items"][0]["id"]
    hello = apis.create_resource(restApiId=rest, parentId=root, pathPart="hello")["id"]
    key = dict(restApiId=rest, resourceId=hello, httpMethod="GET")
    apis.put_method(**key, authorizationType="NONE")
    apis.put_integration(**key, type="MOCK",
                         requestTemplates={"application/json": '{"statusCode": 200}'})  # fmt: skip
    apis.put_method_response(**key, statusCode="200")
    apis.put_integration_response(**key, statusCode="200",
                                  responseTemplates={"application/json": '{"hello": "mock"}'})  # fmt: skip
    apis.create_deployment(restApiId=rest, stageName="dev")

    v2 = make_client(server.endpoint, "apigatewayv2")
    http_name = unique("console-http")
    http = v2.create_api(Name=http_name, ProtocolType="HTTP")["ApiId"]
    # An HTTP proxy to the REST API's stage: one URL the console shows calls the other.
    target = f"{server.endpoint}/_aws/execute-api/{rest}/dev/hello"
    integration = v2.create_integration(ApiId=http, IntegrationType="HTTP_PROXY",
                                        IntegrationMethod="GET", IntegrationUri=target,
                                        PayloadFormatVersion="1.0")["IntegrationId"]  # fmt: skip
    v2.create_route(ApiId=http, RouteKey="GET /items/{id}", Target=f"integrations/{integration}")
    v2.create_stage(ApiId=http, StageName="$default", AutoDeploy=True)

    sign_in(browser, server.endpoint)
    browser.find_element(By.LINK_TEXT, "API Gateway").click()
    open_link(browser, rest_name, "the API list")
    wait_until(lambda: text_of(browser, "#api-name") == rest_name, what="the REST API page")
    assert "/hello\tGET\tNONE\tMOCK" in text_of(browser, "#routes-table")
    assert f"Description\t{HOSTILE}" in text_of(browser, "main")
    assert not browser.find_elements(By.ID, "injected")
    url = browser.find_element(By.CSS_SELECTOR, "#stages-table a.invoke-url").text
    assert url == f"{server.endpoint}/_aws/execute-api/{rest}/dev/"
    assert fetch(url + "hello") == (200, b'{"hello": "mock"}')

    browser.find_element(By.LINK_TEXT, "API Gateway").click()
    open_link(browser, http_name, "the API list")
    wait_until(lambda: text_of(browser, "#api-name") == http_name, what="the HTTP API page")
    assert f"GET /items/{{id}}\tNONE\tHTTP_PROXY {target}" in text_of(browser, "#routes-table")
    stage = v2.get_stage(ApiId=http, StageName="$default")
    assert f"$default\t{stage['DeploymentId']} (auto-deploy)" in text_of(browser, "#stages-table")
    url = browser.find_element(By.CSS_SELECTOR, "#stages-table a.invoke-url").text
    assert url == f"{server.endpoint}/_aws/execute-api/{http}/"
    assert fetch(url + "items/1") == (200, b'{"hello": "mock"}')

    # A WebSocket API's stage URL is ws://.
    ws_name = unique("console-ws")
    ws = v2.create_api(Name=ws_name, ProtocolType="WEBSOCKET",
                       RouteSelectionExpression="$request.body.action")["ApiId"]  # fmt: skip
    v2.create_route(ApiId=ws, RouteKey="$default")
    v2.create_stage(ApiId=ws, StageName="prod", AutoDeploy=True)
    browser.find_element(By.LINK_TEXT, "API Gateway").click()
    open_link(browser, ws_name, "the API list")
    wait_until(lambda: text_of(browser, "#api-name") == ws_name, what="the WebSocket API page")
    assert "$default\tNONE" in text_of(browser, "#routes-table")
    url = text_of(browser, "#stages-table .invoke-url")
    assert url == f"{server.endpoint.replace('http', 'ws', 1)}/_aws/execute-api/{ws}/prod"
    with connect(url, open_timeout=10) as connection:  # the handshake is the API's
        connection.send('{"action": "hello"}')


def test_iam_decision_log_explains_a_denial(server, browser):
    from selenium.webdriver.common.by import By

    iam = make_client(server.endpoint, "iam")
    user = unique("console-denied")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "OnlyQueues", "Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
        {"Sid": "NoTopics", "Effect": "Deny", "Action": "sns:*", "Resource": "*"}]}  # fmt: skip
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
    sns = make_client(server.endpoint, "sns", key["AccessKeyId"], key["SecretAccessKey"])
    try:
        sns.list_topics()
        raise AssertionError("the user may not list topics")
    except sns.exceptions.ClientError as error:
        denied = error.response["ResponseMetadata"]["RequestId"]
        assert error.response["Error"]["Code"] == "AuthorizationError"

    sign_in(browser, server.endpoint)
    browser.find_element(By.LINK_TEXT, "IAM decisions").click()
    row = wait_until(
        lambda: [r for r in text_of(browser, "#decisions-table").splitlines() if denied in r],
        what="the denial in the log",
    )[0]
    assert f"user/{user}\tsns:ListTopics\t*\tdenied explicitly\t{denied}" in row
    browser.find_element(By.LINK_TEXT, denied).click()
    wait_until(lambda: text_of(browser, "#explain-request") == f"Request {denied}", what="explain")
    assert "sns ListTopics" in text_of(browser, "main")
    assert text_of(browser, "#outcome-0") == "denied explicitly"
    assert "with an explicit deny in an identity-based policy" in text_of(browser, "#reason-0")
    statements = text_of(browser, "#statements-0")
    assert "NoTopics" in statements and "applies" in statements

    # The allowed calls are logged too, on request.
    make_client(server.endpoint, "sqs", key["AccessKeyId"], key["SecretAccessKey"]).list_queues()
    browser.find_element(By.LINK_TEXT, "IAM decisions").click()
    wait_until(lambda: browser.find_elements(By.ID, "show-all"), what="the log").pop().click()
    wait_until(lambda: f"user/{user}\tsqs:ListQueues\t" in text_of(browser, "#decisions-table"),
               what="the allowed call")  # fmt: skip
    for bad in ("0", "1001", "many"):
        status, body = fetch(f"{server.endpoint}/_sandlot/iam/decisions?limit={bad}")
        assert (status, json.loads(body)) == (
            400,
            {"message": "limit must be a number from 1 to 1000"},
        )


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("console-services-secure"), "--secure") as running:
        yield running


def test_secure_mode_shows_the_decision_log_to_the_root_only(secure, browser):
    from selenium.webdriver.common.by import By

    root_key, root_secret = secure.root_keys()
    iam = make_client(secure.endpoint, "iam", root_key, root_secret)
    iam.create_user(UserName="console-auditor")
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}]}  # fmt: skip
    iam.put_user_policy(
        UserName="console-auditor", PolicyName="p", PolicyDocument=json.dumps(policy)
    )
    key = iam.create_access_key(UserName="console-auditor")["AccessKey"]
    lam = make_client(secure.endpoint, "lambda", key["AccessKeyId"], key["SecretAccessKey"])
    try:
        lam.list_functions()
        raise AssertionError("the user may not list functions")
    except lam.exceptions.ClientError as error:
        denied = error.response["ResponseMetadata"]["RequestId"]

    # An IAM user may not read the log (it shows every principal's calls) ...
    sign_in(browser, secure.endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    browser.find_element(By.LINK_TEXT, "IAM decisions").click()
    wait_until(lambda: text_of(browser, ".error"), what="the refusal")
    assert "user/console-auditor is not the account root" in text_of(browser, ".error")
    # ... the root may, with its signed requests.
    sign_in(browser, secure.endpoint, root_key, root_secret)
    browser.get(f"{secure.endpoint}/_sandlot/console/#/iam/explain/{denied}")
    wait_until(lambda: text_of(browser, "#explain-request") == f"Request {denied}", what="explain")
    assert text_of(browser, "#outcome-0") == "denied implicitly"
    assert "lambda:ListFunctions on *" in text_of(browser, "main")
