"""REST APIs' non-proxy integrations with Velocity mapping templates, driven with boto3
and raw HTTP: service integrations (SQS SendMessage, Step Functions StartExecution,
DynamoDB PutItem) as the integration's role, which IAM decides; a Lambda ``AWS``
integration with request and response templates and an error mapped to 400 by
``selectionPattern``; passthrough behaviour; invalid templates refused at Put*."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.conftest import aws, error_of, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.http_clients import invoke_url, send
from tests.e2e.roles import ensure_role, trust_policy
from tests.e2e.sfn_support import states_role, wait_done

ACCOUNT = "000000000000"
REGION = "us-east-1"

GREETER = """
def handler(event, context):
    if not event.get("name"):
        raise ValueError("bad: name is required")
    return {"greeting": "hello " + event["name"], "stage": event["stage"],
            "agent": event["agent"]}
"""


@pytest.fixture(scope="module")
def apis(server):
    return make_client(server.endpoint, "apigateway")


def _gateway_role(iam, actions: list[str]) -> str:
    """A role API Gateway may assume, allowed ``actions`` (none: allowed nothing)."""
    name = unique("apigw-role")
    arn = ensure_role(iam, name, trust=trust_policy({"Service": "apigateway.amazonaws.com"}))
    if actions:
        policy = {"Version": "2012-10-17",
                  "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}  # fmt: skip
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


def _method(apis, api_id: str, path: str, verb: str = "POST") -> dict:
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    resource = apis.create_resource(restApiId=api_id, parentId=root, pathPart=path)["id"]
    key = dict(restApiId=api_id, resourceId=resource, httpMethod=verb)
    apis.put_method(**key, authorizationType="NONE")
    return key


def test_sqs_send_message_with_a_form_template(server, apis, client):
    sqs, iam = client("sqs"), client("iam")
    queue = unique("apigw-q")
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    allowed = _gateway_role(iam, ["sqs:SendMessage"])
    denied = _gateway_role(iam, [])
    api_id = apis.create_rest_api(name=unique("sqs"))["id"]
    uri = f"arn:aws:apigateway:{REGION}:sqs:path/{ACCOUNT}/{queue}"
    template = ("Action=SendMessage&MessageBody=$util.urlEncode($input.body)"
                "&MessageAttribute.1.Name=stage&MessageAttribute.1.Value.DataType=String"
                "&MessageAttribute.1.Value.StringValue=$context.stage")  # fmt: skip
    for path, role in (("send", allowed), ("denied", denied)):
        key = _method(apis, api_id, path)
        apis.put_integration(
            **key, type="AWS", integrationHttpMethod="POST", uri=uri, credentials=role,
            passthroughBehavior="NEVER",
            requestParameters={"integration.request.header.Content-Type":
                               "'application/x-www-form-urlencoded'"},
            requestTemplates={"application/json": template},
        )  # fmt: skip
        apis.put_integration_response(**key, statusCode="200", responseTemplates={
            "application/json": '{"id": "$input.path(\'$.SendMessageResponse.SendMessageResult'
                                '.MessageId\')"}'})  # fmt: skip
        apis.put_integration_response(**key, statusCode="403", selectionPattern="4\\d\\d",
                                      responseTemplates={"application/json":
                                                         "$input.json('$.Error.Code')"})  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod")

    body = json.dumps({"order": 7, "note": "a&b=c"})
    sent = send(server.endpoint, "POST", invoke_url(server, api_id, "/prod/send"), body=body.encode(),
                headers={"Content-Type": "application/json"})  # fmt: skip
    assert sent.status == 200, sent.body
    message_id = sent.json()["id"]
    got = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2,
                              MessageAttributeNames=["All"])["Messages"]  # fmt: skip
    assert [(m["MessageId"], m["Body"]) for m in got] == [(message_id, body)]
    assert got[0]["MessageAttributes"]["stage"]["StringValue"] == "prod"
    # The role without sqs:SendMessage: SQS refuses it, the 4xx pattern maps the answer.
    refused = send(server.endpoint, "POST", invoke_url(server, api_id, "/prod/denied"),
                   body=body.encode(), headers={"Content-Type": "application/json"})  # fmt: skip
    assert (refused.status, refused.json()) == (403, "AccessDenied"), refused.body
    # passthroughBehavior NEVER: a content type without a template is 415.
    other = send(server.endpoint, "POST", invoke_url(server, api_id, "/prod/send"), body=b"x",
                 headers={"Content-Type": "text/plain"})  # fmt: skip
    assert (other.status, other.json()) == (415, {"message": "Unsupported Media Type"})


def test_step_functions_start_execution(server, apis, client):
    sfn, iam = client("stepfunctions"), client("iam")
    machine = sfn.create_state_machine(
        name=unique("apigw-sm"), roleArn=states_role(iam),
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]  # fmt: skip
    api_id = apis.create_rest_api(name=unique("sfn"))["id"]
    key = _method(apis, api_id, "start")
    template = (
        '{"stateMachineArn": "' + machine + '", '
        '"input": "$util.escapeJavaScript($input.json(\'$\'))", '
        '"name": "$input.params(\'run\')"}'
    )
    apis.put_integration(
        **key, type="AWS", integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:states:action/StartExecution",
        credentials=_gateway_role(iam, ["states:StartExecution"]),
        requestTemplates={"application/json": template},
    )  # fmt: skip
    apis.put_integration_response(**key, statusCode="200", responseTemplates={
        "application/json": '{"arn": "$input.path(\'$.executionArn\')"}'})  # fmt: skip
    apis.put_integration_response(**key, statusCode="400", selectionPattern="4\\d\\d")
    apis.create_deployment(restApiId=api_id, stageName="prod")

    url = invoke_url(server, api_id, "/prod/start?run=first")
    started = send(server.endpoint, "POST", url, body=json.dumps({"x": [1, 2]}).encode())
    assert started.status == 200, started.body
    arn = started.json()["arn"]
    assert arn == machine.replace(":stateMachine:", ":execution:") + ":first"
    done = wait_done(sfn, arn)
    assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", {"x": [1, 2]})
    # An Express machine answers StartSyncExecution with its output.
    express = sfn.create_state_machine(
        name=unique("apigw-express"), roleArn=states_role(iam), type="EXPRESS",
        definition=json.dumps({"StartAt": "P", "States": {"P": {
            "Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"},
            "End": True}}}),
    )["stateMachineArn"]  # fmt: skip
    sync = _method(apis, api_id, "sync")
    apis.put_integration(
        **sync, type="AWS", integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:states:action/StartSyncExecution",
        credentials=_gateway_role(iam, ["states:StartSyncExecution"]),
        requestTemplates={"application/json": '{"stateMachineArn": "' + express + '", '
                          '"input": "$util.escapeJavaScript($input.body)"}'},
    )  # fmt: skip
    apis.put_integration_response(**sync, statusCode="200", responseTemplates={
        "application/json": "#set($r = $input.path('$'))$r.status $r.output"})  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod")
    synced = send(server.endpoint, "POST", invoke_url(server, api_id, "/prod/sync"),
                  body=b'{"n": 21}')  # fmt: skip
    assert synced.status == 200, synced.body
    assert synced.body.decode() == 'SUCCEEDED {"doubled":42}'
    # The same name again: Step Functions' ExecutionAlreadyExists, selected as 4xx.
    again = send(server.endpoint, "POST", url, body=json.dumps({"x": 3}).encode())
    assert again.status == 400 and again.json()["__type"] == "ExecutionAlreadyExists", again.body


def test_dynamodb_put_item_and_get_item(server, apis, client):
    ddb, iam = client("dynamodb"), client("iam")
    table = unique("apigw-t")
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])  # fmt: skip
    api_id = apis.create_rest_api(name=unique("ddb"))["id"]
    key = _method(apis, api_id, "items")
    template = """#set($item = $input.path('$'))
{"TableName": "TABLE", "Item": {"id": {"S": "$context.requestId"},
 "name": {"S": "$util.escapeJavaScript($item.name)"}, "count": {"N": "$item.tags.size()"},
 "stage": {"S": "$context.stage"}, "color": {"S": "$stageVariables.color"}}}""".replace(
        "TABLE", table
    )
    apis.put_integration(
        **key, type="AWS", integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:dynamodb:action/PutItem",
        credentials=_gateway_role(iam, ["dynamodb:PutItem"]),
        requestTemplates={"application/json": template},
    )  # fmt: skip
    apis.put_integration_response(**key, statusCode="201", responseTemplates={
        "application/json": '{"id": "$context.requestId"}'})  # fmt: skip
    root = apis.get_resources(restApiId=api_id)["items"]
    items = next(r["id"] for r in root if r["path"] == "/items")
    one = apis.create_resource(restApiId=api_id, parentId=items, pathPart="{id}")["id"]
    get = dict(restApiId=api_id, resourceId=one, httpMethod="GET")
    apis.put_method(**get, authorizationType="NONE")
    apis.put_integration(
        **get, type="AWS", integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:dynamodb:action/GetItem",
        credentials=_gateway_role(iam, ["dynamodb:GetItem"]),
        requestTemplates={"application/json": '{"TableName": "' + table + '", "Key": {"id": '
                          '{"S": "$input.params(\'id\')"}}}'},
    )  # fmt: skip
    apis.put_integration_response(**get, statusCode="200", responseTemplates={
        "application/json": "#set($i = $input.path('$.Item'))"
                            '{"name": "$util.escapeJavaScript($i.name.S)", "n": $i.count.N}'})  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="dev", variables={"color": "blue"})

    body = json.dumps({"name": 'say "hi"', "tags": ["a", "b", "c"]})
    put = send(
        server.endpoint, "POST", invoke_url(server, api_id, "/dev/items"), body=body.encode()
    )
    assert put.status == 201, put.body
    item_id = put.json()["id"]
    assert put.header("x-amzn-RequestId") == item_id
    item = ddb.get_item(TableName=table, Key={"id": {"S": item_id}})["Item"]
    assert item == {"id": {"S": item_id}, "name": {"S": 'say "hi"'}, "count": {"N": "3"},
                    "stage": {"S": "dev"}, "color": {"S": "blue"}}  # fmt: skip
    got = send(server.endpoint, "GET", invoke_url(server, api_id, f"/dev/items/{item_id}"))
    assert (got.status, got.json()) == (200, {"name": 'say "hi"', "n": 3}), got.body


def test_lambda_non_proxy_templates_and_selection_pattern(server, apis, client):
    lam = client("lambda")
    name = unique("apigw-greeter")
    create_function(lam, name, {"app.py": GREETER})
    lam.add_permission(FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:*")  # fmt: skip
    api_id = apis.create_rest_api(name=unique("lambda"))["id"]
    key = _method(apis, api_id, "greet", "GET")
    apis.put_integration(
        **key, type="AWS", integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}/invocations",
        requestTemplates={"application/json": '{"name": "$input.params(\'name\')", '
                          '"stage": "$context.stage", '
                          '"agent": "$input.params(\'X-Agent\')"}'},
    )  # fmt: skip
    apis.put_method_response(**key, statusCode="200",
                             responseParameters={"method.response.header.X-Stage": False})  # fmt: skip
    apis.put_integration_response(
        **key, statusCode="200",
        responseParameters={"method.response.header.X-Stage": "integration.response.body.stage",
                            "method.response.header.X-Fixed": "'yes'"},
        responseTemplates={"application/json": '#set($r = $input.path(\'$\'))'
                           '{"message": "$r.greeting", "agent": "$r.agent"}'},
    )  # fmt: skip
    apis.put_integration_response(
        **key, statusCode="400", selectionPattern="bad:.*",
        responseTemplates={"application/json": '{"error": "$input.path(\'$.errorMessage\')"}'},
    )  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="v1")

    url = invoke_url(server, api_id, "/v1/greet")
    ok = send(server.endpoint, "GET", url + "?name=ada", headers={"X-Agent": "curl"})
    assert ok.status == 200, ok.body
    assert ok.json() == {"message": "hello ada", "agent": "curl"}
    assert (ok.header("X-Stage"), ok.header("X-Fixed")) == ("v1", "yes")
    failed = send(server.endpoint, "GET", url)
    assert (failed.status, failed.json()) == (400, {"error": "bad: name is required"})


def test_invalid_templates_are_refused_at_put(apis):
    api_id = apis.create_rest_api(name=unique("bad-vtl"))["id"]
    key = _method(apis, api_id, "x")
    bad = {"application/json": '#foreach($i in $input.path("$"))$i'}
    refused = error_of(apis.put_integration, **key, type="MOCK", requestTemplates=bad)
    assert (refused["Code"], refused["HTTPStatusCode"]) == ("BadRequestException", 400)
    assert "Invalid mapping template" in refused["Message"]
    # A template may not reach Python internals through airspeed's attribute lookup.
    sneaky = {"application/json": "$input.__class__"}
    refused = error_of(apis.put_integration, **key, type="MOCK", requestTemplates=sneaky)
    assert refused["Code"] == "BadRequestException"
    apis.put_integration(**key, type="MOCK", requestTemplates={"application/json": "{}"})
    refused = error_of(apis.put_integration_response, **key, statusCode="200",
                       responseTemplates={"application/json": "#if(true)"})  # fmt: skip
    assert refused["Code"] == "BadRequestException"
    refused = error_of(apis.update_integration, **key, patchOperations=[
        {"op": "replace", "path": "/requestTemplates/application~1json", "value": "#end"}])  # fmt: skip
    assert refused["Code"] == "BadRequestException"


class _Upper(BaseHTTPRequestHandler):
    """A backend answering what it was sent, upper-cased, with a header."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        sent = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = 404 if b"missing" in sent else 200
        data = json.dumps({"got": sent.decode().upper(), "path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Backend", "upper")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def backend():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Upper)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_imported_http_integration_with_templates_and_export(server, apis, backend):
    integration = {
        "type": "http", "httpMethod": "POST", "uri": backend + "/echo/{id}",
        "passthroughBehavior": "when_no_templates",
        "requestParameters": {"integration.request.path.id": "method.request.path.id"},
        "requestTemplates": {"application/json": "#set($b = $input.path('$'))"
                             "$b.word-$input.params('id')-$util.base64Encode($b.word)"},
        "responses": {
            "default": {"statusCode": "200",
                        "responseParameters": {"method.response.header.X-From":
                                               "integration.response.header.X-Backend"},
                        "responseTemplates": {"application/json": "$input.json('$.got')"}},
            "404": {"statusCode": "400", "responseTemplates": {
                "application/json": '#set($context.responseOverride.status = 410)'
                                    '{"gone": $input.json(\'$.got\')}'}},
        },
    }  # fmt: skip
    definition = {
        "openapi": "3.0.1", "info": {"title": unique("imported"), "version": "1"},
        "paths": {"/things/{id}": {"post": {
            "parameters": [{"name": "id", "in": "path", "required": True}],
            "responses": {"200": {"description": "ok"}},
            "x-amazon-apigateway-integration": integration}}},
    }  # fmt: skip
    api_id = apis.import_rest_api(body=json.dumps(definition).encode())["id"]
    apis.create_deployment(restApiId=api_id, stageName="prod")

    url = invoke_url(server, api_id, "/prod/things/42")
    answer = send(server.endpoint, "POST", url, body=b'{"word": "abc"}')
    assert answer.status == 200, answer.body
    assert answer.json() == "ABC-42-YWJJ"
    assert answer.header("X-From") == "upper"
    gone = send(server.endpoint, "POST", url, body=b'{"word": "missing"}')
    assert (gone.status, gone.json()) == (410, {"gone": "MISSING-42-BWLZC2LUZW=="})
    # WHEN_NO_TEMPLATES with templates: another content type is refused.
    other = send(server.endpoint, "POST", url, body=b"x", headers={"Content-Type": "text/plain"})
    assert other.status == 415

    exported = apis.get_export(restApiId=api_id, stageName="prod", exportType="oas30",
                               parameters={"extensions": "integrations"})["body"].read()  # fmt: skip
    out = json.loads(exported)["paths"]["/things/{id}"]["post"]["x-amazon-apigateway-integration"]
    assert out["requestTemplates"] == integration["requestTemplates"]
    assert out["responses"]["404"]["statusCode"] == "400"

    integration["requestTemplates"] = {"application/json": "#foreach($x in $y)"}
    refused = error_of(apis.import_rest_api, body=json.dumps(definition).encode())
    assert refused["Code"] == "BadRequestException" and "Invalid mapping template" in refused[
        "Message"]  # fmt: skip


PET_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
}


def test_models_request_validators_and_gateway_responses(server, apis):
    api_id = apis.create_rest_api(name=unique("validated"))["id"]
    model = apis.create_model(restApiId=api_id, name="Pet", contentType="application/json",
                              schema=json.dumps(PET_SCHEMA))  # fmt: skip
    assert apis.get_model(restApiId=api_id, modelName="Pet")["id"] == model["id"]
    names = [m["name"] for m in apis.get_models(restApiId=api_id)["items"]]
    assert names == ["Empty", "Error", "Pet"]  # AWS's two default models first
    bad_schema = error_of(apis.create_model, restApiId=api_id, name="Bad",
                          contentType="application/json", schema='{"type": 7}')  # fmt: skip
    assert bad_schema["Code"] == "BadRequestException"
    dup = error_of(apis.create_model, restApiId=api_id, name="Pet", contentType="application/json")
    assert dup["Code"] == "ConflictException"
    validator = apis.create_request_validator(restApiId=api_id, name="all",
                                              validateRequestBody=True,
                                              validateRequestParameters=True)  # fmt: skip
    validator.pop("ResponseMetadata")
    assert apis.get_request_validators(restApiId=api_id)["items"] == [validator]

    key = _method(apis, api_id, "pets")
    apis.update_method(**key, patchOperations=[
        {"op": "replace", "path": "/requestValidatorId", "value": validator["id"]},
        {"op": "add", "path": "/requestModels/application~1json", "value": "Pet"},
        {"op": "add", "path": "/requestParameters/method.request.querystring.owner",
         "value": "true"},
        {"op": "add", "path": "/requestParameters/method.request.header.X-Trace",
         "value": "true"}])  # fmt: skip
    apis.put_integration(**key, type="MOCK",
                         requestTemplates={"application/json": '{"statusCode": 200}'})  # fmt: skip
    apis.put_integration_response(**key, statusCode="200",
                                  responseTemplates={"application/json": '{"ok": true}'})  # fmt: skip
    in_use = error_of(apis.delete_model, restApiId=api_id, modelName="Pet")
    assert in_use["Code"] == "ConflictException"
    apis.put_gateway_response(
        restApiId=api_id, responseType="MISSING_AUTHENTICATION_TOKEN", statusCode="404",
        responseParameters={"gatewayresponse.header.X-Why": "'no route'"},
        responseTemplates={"application/json":
                           '{"error": $context.error.messageString, "type": '
                           '"$context.error.responseType", "id": "$context.requestId"}'},
    )  # fmt: skip
    apis.put_gateway_response(restApiId=api_id, responseType="DEFAULT_4XX",
                              responseParameters={"gatewayresponse.header.X-Family": "'4xx'"})  # fmt: skip
    got = apis.get_gateway_response(restApiId=api_id, responseType="UNAUTHORIZED")
    assert (got["defaultResponse"], got["statusCode"]) == (True, "401")
    bad_template = error_of(apis.put_gateway_response, restApiId=api_id,
                            responseType="DEFAULT_5XX",
                            responseTemplates={"application/json": "#if($x)"})  # fmt: skip
    assert bad_template["Code"] == "BadRequestException"
    apis.create_deployment(restApiId=api_id, stageName="prod")

    url = invoke_url(server, api_id, "/prod/pets")
    good = {"Content-Type": "application/json", "X-Trace": "1"}
    ok = send(server.endpoint, "POST", url + "?owner=ann", body=b'{"name": "rex", "age": 3}',
              headers=good)  # fmt: skip
    assert (ok.status, ok.json()) == (200, {"ok": True})
    missing = send(server.endpoint, "POST", url, body=b'{"name": "rex"}',
                   headers={"Content-Type": "application/json"})  # fmt: skip
    assert missing.status == 400
    assert missing.json() == {"message": "Missing required request parameters: [owner, X-Trace]"}
    assert missing.header("X-Family") == "4xx"  # DEFAULT_4XX customises BAD_REQUEST_PARAMETERS
    for body in (b'{"age": -1}', b'{"name": 5}', b"not json"):
        invalid = send(server.endpoint, "POST", url + "?owner=ann", body=body, headers=good)
        assert (invalid.status, invalid.json()) == (400, {"message": "Invalid request body"})
    nowhere = send(server.endpoint, "GET", invoke_url(server, api_id, "/prod/nowhere"))
    assert nowhere.status == 404
    assert nowhere.json() == {"error": "Missing Authentication Token",
                              "type": "MISSING_AUTHENTICATION_TOKEN",
                              "id": nowhere.header("x-amzn-RequestId")}  # fmt: skip
    assert nowhere.header("X-Why") == "no route"
    apis.delete_gateway_response(restApiId=api_id, responseType="MISSING_AUTHENTICATION_TOKEN")
    apis.delete_gateway_response(restApiId=api_id, responseType="DEFAULT_4XX")
    # Deleted, but the stage keeps what was deployed until the next deployment.
    assert send(server.endpoint, "GET", invoke_url(server, api_id, "/prod/x")).status == 404
    apis.create_deployment(restApiId=api_id, stageName="prod")
    again = send(server.endpoint, "GET", invoke_url(server, api_id, "/prod/x"))
    assert (again.status, again.json()) == (403, {"message": "Missing Authentication Token"})


def test_test_invoke_method_runs_the_undeployed_method(server, apis):
    api_id = apis.create_rest_api(name=unique("test-invoke"))["id"]
    key = _method(apis, api_id, "echo")
    apis.update_method(**key, patchOperations=[
        {"op": "replace", "path": "/authorizationType", "value": "AWS_IAM"}])  # fmt: skip
    apis.put_integration(**key, type="MOCK", requestTemplates={
        "application/json": '{"statusCode": $input.params("code")}'})  # fmt: skip
    apis.put_integration_response(**key, statusCode="200", responseTemplates={
        "application/json": '{"who": "$input.params(\'who\')", "v": "$stageVariables.v",'
                            ' "stage": "$context.stage"}'},
        responseParameters={"method.response.header.X-Mode": "'test'"})  # fmt: skip
    got = apis.test_invoke_method(**key, pathWithQueryString="/echo?code=200&who=ann",
                                  headers={"Content-Type": "application/json"},
                                  stageVariables={"v": "7"})  # fmt: skip
    assert got["status"] == 200, got
    assert json.loads(got["body"]) == {"who": "ann", "v": "7", "stage": "test-invoke-stage"}
    assert got["headers"]["X-Mode"] == "test"
    assert "Method completed with status: 200" in got["log"]
    by_cli = aws(server.endpoint, "apigateway", "test-invoke-method", "--rest-api-id", api_id,
                 "--resource-id", key["resourceId"], "--http-method", "POST",
                 "--path-with-query-string", "/echo?code=200&who=cli")  # fmt: skip
    assert (by_cli["status"], json.loads(by_cli["body"])["who"]) == (200, "cli")
    missing = error_of(apis.test_invoke_method, **{**key, "httpMethod": "PUT"})
    assert missing["Code"] == "NotFoundException"


def test_openapi_models_validators_and_gateway_responses(server, apis):
    mock = {"type": "mock", "requestTemplates": {"application/json": '{"statusCode": 200}'},
            "responses": {"default": {"statusCode": "200",
                                      "responseTemplates": {"application/json": '"ok"'}}}}  # fmt: skip
    definition = {
        "openapi": "3.0.1", "info": {"title": unique("oas-valid"), "version": "1"},
        "x-amazon-apigateway-request-validators": {
            "all": {"validateRequestBody": True, "validateRequestParameters": True}},
        "x-amazon-apigateway-request-validator": "all",
        "x-amazon-apigateway-gateway-responses": {
            "BAD_REQUEST_BODY": {"statusCode": 422, "responseTemplates": {
                "application/json": '{"bad": "$context.error.validationErrorString"}'},
                "responseParameters": {"gatewayresponse.header.X-Bad": "'body'"}}},
        "paths": {"/orders": {"post": {
            "parameters": [{"name": "shop", "in": "query", "required": True}],
            "requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Order"}}}},
            "responses": {"200": {"description": "ok"}},
            "x-amazon-apigateway-integration": mock}}},
        "components": {"schemas": {
            "Order": {"type": "object", "required": ["item"],
                      "properties": {"item": {"$ref": "#/components/schemas/Item"}}},
            "Item": {"type": "object", "required": ["sku"],
                     "properties": {"sku": {"type": "string"}}}}},
    }  # fmt: skip
    api_id = apis.import_rest_api(body=json.dumps(definition).encode())["id"]
    assert sorted(m["name"] for m in apis.get_models(restApiId=api_id)["items"]) == [
        "Empty", "Error", "Item", "Order"]  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod")
    url = invoke_url(server, api_id, "/prod/orders")
    headers = {"Content-Type": "application/json"}
    ok = send(server.endpoint, "POST", url + "?shop=1", body=b'{"item": {"sku": "a"}}',
              headers=headers)  # fmt: skip
    assert (ok.status, ok.json()) == (200, "ok")
    no_shop = send(server.endpoint, "POST", url, body=b'{"item": {"sku": "a"}}', headers=headers)
    assert (no_shop.status, no_shop.json()) == (
        400, {"message": "Missing required request parameters: [shop]"})  # fmt: skip
    nested = send(server.endpoint, "POST", url + "?shop=1", body=b'{"item": {}}', headers=headers)
    assert nested.status == 422 and nested.header("X-Bad") == "body", nested.body
    assert nested.json() == {"bad": "['sku' is a required property]"}

    exported = json.loads(apis.get_export(
        restApiId=api_id, stageName="prod", exportType="oas30",
        parameters={"extensions": "apigateway"})["body"].read())  # fmt: skip
    assert set(exported["components"]["schemas"]) == {"Empty", "Error", "Item", "Order"}
    assert exported["x-amazon-apigateway-request-validators"]["all"]["validateRequestBody"]
    assert exported["paths"]["/orders"]["post"]["x-amazon-apigateway-request-validator"] == "all"
    assert exported["x-amazon-apigateway-gateway-responses"]["BAD_REQUEST_BODY"]["statusCode"] == (
        "422")  # fmt: skip


REVERSER = """
import base64

def handler(event, context):
    raw = base64.b64decode(event["data"])
    return base64.b64encode(raw[::-1]).decode()
"""


def test_content_handling_binary_through_a_function(server, apis, client):
    lam = client("lambda")
    name = unique("apigw-reverser")
    create_function(lam, name, {"app.py": REVERSER})
    lam.add_permission(FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:*")  # fmt: skip
    api_id = apis.create_rest_api(name=unique("binary"), binaryMediaTypes=["image/png"])["id"]
    key = _method(apis, api_id, "flip")
    apis.put_integration(
        **key, type="AWS", integrationHttpMethod="POST", contentHandling="CONVERT_TO_TEXT",
        uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}/invocations",
        requestTemplates={"image/png": '{"data": "$input.body"}'},
    )  # fmt: skip
    apis.put_integration_response(**key, statusCode="200", contentHandling="CONVERT_TO_BINARY",
                                  responseParameters={"method.response.header.Content-Type":
                                                      "'image/png'"})  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod")
    data = bytes(range(256))
    flipped = send(server.endpoint, "POST", invoke_url(server, api_id, "/prod/flip"), body=data,
                   headers={"Content-Type": "image/png"})  # fmt: skip
    assert flipped.status == 200, flipped.body
    assert flipped.body == data[::-1]
    assert flipped.header("Content-Type") == "image/png"
