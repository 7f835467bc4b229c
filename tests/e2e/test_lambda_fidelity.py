"""Lambda fidelity details, driven by boto3: payload limits, ClientContext, code URLs,
logging configuration and log delivery as the function's role."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import cli_env, code_and_status, make_client
from tests.e2e.functions import create_function, unique, wait_for_log_events, zip_of
from tests.e2e.roles import ensure_role

ECHO_SIZE = {
    "app.py": (
        "import json\n"
        "def handler(event, context):\n"
        "    print('received', len(json.dumps(event)), 'bytes')\n"
        "    return len(json.dumps(event))\n"
    )
}


@pytest.fixture
def lam(server):
    return make_client(server.endpoint, "lambda")


@pytest.fixture
def logs(server):
    return make_client(server.endpoint, "logs")


def test_event_payload_up_to_one_megabyte(lam, logs):
    name = unique("bigevent")
    create_function(lam, name, ECHO_SIZE)
    payload = b'"' + b"a" * (1_048_576 - 2) + b'"'  # exactly 1 MB: accepted
    response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=payload)
    assert response["StatusCode"] == 202
    assert wait_for_log_events(logs, name, '"received 1048576 bytes"')
    with pytest.raises(ClientError) as error:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=payload + b" ")
    assert code_and_status(error) == ("RequestEntityTooLargeException", 413)
    assert error.value.response["Error"]["Message"] == (
        "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
    )


@pytest.mark.parametrize(
    "client_context",
    [
        "not base64 at all!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"[1, 2]").decode(),  # JSON, but not an object
    ],
)
def test_invalid_client_context_is_refused_before_running(lam, logs, client_context):
    name = unique("badctx")
    create_function(lam, name, ECHO_SIZE)
    with pytest.raises(ClientError) as error:
        lam.invoke(FunctionName=name, Payload=b"{}", ClientContext=client_context)
    assert code_and_status(error) == ("InvalidRequestContentException", 400)
    assert error.value.response["Error"]["Message"] == (
        "Client context must be a valid Base64-encoded JSON object."
    )
    # Nothing ran: no environment started, so no log group was created.
    with pytest.raises(ClientError) as missing:
        logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")
    assert code_and_status(missing)[0] == "ResourceNotFoundException"
    good = base64.b64encode(json.dumps({"custom": {"a": 1}}).encode()).decode()
    assert lam.invoke(FunctionName=name, Payload=b"{}", ClientContext=good)["StatusCode"] == 200


def _download(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_get_function_code_location_downloads_the_zip(lam):
    name = unique("location")
    package = zip_of(ECHO_SIZE)
    create_function(lam, name, ECHO_SIZE)
    code = lam.get_function(FunctionName=name)["Code"]
    assert code["RepositoryType"] == "S3"
    status, body = _download(code["Location"])
    assert status == 200 and body == package
    parts = urllib.parse.urlsplit(code["Location"])
    query = urllib.parse.parse_qs(parts.query)
    assert int(query["Expires"][0]) - time.time() == pytest.approx(600, abs=30)
    # Tampered: a later expiry, or another package's path, breaks the signature.
    later = dict(query, Expires=[str(int(query["Expires"][0]) + 3600)])
    tampered = parts._replace(query=urllib.parse.urlencode(later, doseq=True)).geturl()
    status, body = _download(tampered)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    other = parts._replace(path=parts.path.replace(parts.path[-20:-4], "0" * 16)).geturl()
    assert _download(other)[0] == 403
    unsigned = parts._replace(query="").geturl()
    assert _download(unsigned)[0] == 403


def test_layer_content_location(lam):
    content = zip_of({"python/helper.py": "X = 1\n"})
    published = lam.publish_layer_version(LayerName=unique("layer"), Content={"ZipFile": content})
    assert _download(published["Content"]["Location"]) == (200, content)
    got = lam.get_layer_version(LayerName=published["LayerArn"], VersionNumber=published["Version"])
    assert _download(got["Content"]["Location"]) == (200, content)
    by_arn = lam.get_layer_version_by_arn(Arn=published["LayerVersionArn"])
    assert _download(by_arn["Content"]["Location"]) == (200, content)


JSON_LOGGER = {
    "app.py": (
        "import json, logging, os\n"
        "log = logging.getLogger()\n"
        "def handler(event, context):\n"
        "    log.debug('debug-marker')\n"
        "    log.info('info-marker')\n"
        "    log.warning('warn-marker', extra={'order': 7})\n"
        "    try:\n"
        "        raise ValueError('boom')\n"
        "    except ValueError:\n"
        "        log.exception('error-marker')\n"
        "    print('print-marker')\n"
        "    print(json.dumps({'level': 'ERROR', 'message': 'own-json-marker'}))\n"
        "    return {k: os.environ.get(k) for k in ('AWS_LAMBDA_LOG_FORMAT',\n"
        "            'AWS_LAMBDA_LOG_LEVEL', 'AWS_LAMBDA_LOG_GROUP_NAME')}\n"
    )
}


def _records(logs, group: str, until: str, timeout: float = 20) -> list[dict]:
    """Every event of ``group`` parsed as JSON (or kept as text), once one contains
    ``until``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=group)["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        if any(until in event["message"] for event in events):
            parsed = []
            for event in events:
                try:
                    parsed.append(json.loads(event["message"]))
                except ValueError:
                    parsed.append(event["message"])
            return parsed
        time.sleep(0.2)
    raise AssertionError(f"no event with {until!r} in {group}")


def _by_message(records: list, text: str) -> list[dict]:
    return [r for r in records if isinstance(r, dict) and r.get("message") == text]


def test_logging_config_levels_need_json(lam):
    with pytest.raises(ClientError) as error:
        create_function(
            lam,
            unique("textlevels"),
            ECHO_SIZE,
            LoggingConfig={"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"},
        )
    assert code_and_status(error) == ("InvalidParameterValueException", 400)
    assert error.value.response["Error"]["Message"] == (
        'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from '
        'your request or change the LogFormat to "Json" and try again.'
    )


def test_json_logs_with_levels_into_a_custom_group(lam, logs):
    name = unique("jsonlogs")
    group = f"/custom/{name}"
    config = {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "WARN",
        "SystemLogLevel": "INFO",
        "LogGroup": group,
    }
    created = create_function(lam, name, JSON_LOGGER, LoggingConfig=config)
    assert created["LoggingConfig"] == config
    response = lam.invoke(FunctionName=name, Payload=b"{}")
    request_id = response["ResponseMetadata"]["RequestId"]
    assert json.loads(response["Payload"].read()) == {
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "WARN",
        "AWS_LAMBDA_LOG_GROUP_NAME": group,
    }
    records = _records(logs, group, "platform.report")
    (warning,) = _by_message(records, "warn-marker")
    assert warning["level"] == "WARN" and warning["logger"] == "root"
    assert warning["requestId"] == request_id and warning["order"] == 7
    assert warning["timestamp"].endswith("Z")
    (error,) = _by_message(records, "error-marker")
    assert error["level"] == "ERROR" and error["errorType"] == "ValueError"
    assert error["errorMessage"] == "boom" and error["stackTrace"]
    assert _by_message(records, "own-json-marker")  # a JSON line with its own level
    text = json.dumps(records)
    for dropped in ("debug-marker", "info-marker", "print-marker"):  # below WARN
        assert dropped not in text
    types = [r.get("type") for r in records if isinstance(r, dict)]
    assert "platform.start" in types and "platform.report" in types
    assert "platform.runtimeDone" not in types  # a DEBUG record, below INFO
    (start,) = [r for r in records if isinstance(r, dict) and r.get("type") == "platform.start"]
    assert start["record"] == {"requestId": request_id, "version": "$LATEST"}
    assert start["time"].endswith("Z")
    (report,) = [r for r in records if isinstance(r, dict) and r.get("type") == "platform.report"]
    assert report["record"]["requestId"] == request_id
    assert report["record"]["status"] == "success"
    assert set(report["record"]["metrics"]) >= {
        "durationMs",
        "billedDurationMs",
        "memorySizeMB",
        "maxMemoryUsedMB",
    }
    with pytest.raises(ClientError) as missing:  # nothing went to the default group
        logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")
    assert code_and_status(missing)[0] == "ResourceNotFoundException"
    # `sandlot logs` reads the function's configured group.
    endpoint = lam.meta.endpoint_url
    printed = subprocess.run(
        [sys.executable, "-m", "sandlot.cli.main", "logs", name, "--endpoint", endpoint],
        env=cli_env(endpoint),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    assert "warn-marker" in printed.stdout


def test_node_json_logs_at_debug(lam, logs):
    name = unique("nodejson")
    code = {
        "index.js": (
            "exports.handler = async () => {\n"
            "  console.debug('node-debug-marker');\n"
            "  console.trace('node-trace-marker');\n"
            "  console.error(new TypeError('node-error'));\n"
            "  return 'ok';\n"
            "};\n"
        )
    }
    config = {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "SystemLogLevel": "DEBUG"}
    create_function(
        lam, name, code, runtime="nodejs20.x", handler="index.handler", LoggingConfig=config
    )
    response = lam.invoke(FunctionName=name, Payload=b"{}")
    request_id = response["ResponseMetadata"]["RequestId"]
    records = _records(logs, f"/aws/lambda/{name}", "platform.report")
    (debug,) = _by_message(records, "node-debug-marker")
    assert debug["level"] == "DEBUG" and debug["requestId"] == request_id
    assert "node-trace-marker" not in json.dumps(records)  # TRACE is below DEBUG
    (error,) = [r for r in records if isinstance(r, dict) and r.get("errorType") == "TypeError"]
    assert error["level"] == "ERROR" and error["errorMessage"] == "node-error"
    types = [r.get("type") for r in records if isinstance(r, dict)]
    assert "platform.runtimeDone" in types  # SystemLogLevel DEBUG shows it


def test_a_role_without_logs_permissions_gets_no_logs(server, lam, logs):
    iam = make_client(server.endpoint, "iam")
    silent = ensure_role(iam, unique("nologs"))  # trusted by Lambda, no permissions
    name = unique("silent")
    create_function(lam, name, ECHO_SIZE, role=silent)
    for _ in range(2):
        assert lam.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200
    notice = f"logs of function {name} are dropped"
    deadline = time.monotonic() + 20
    while not any(notice in line for line in server.output) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(notice in line and silent in line for line in server.output)
    # A function with logging rights, invoked after: once its logs arrive, the silent
    # function's later batches have been handled too (one shipper, in order).
    lam.invoke(FunctionName=name, Payload=b"{}")
    loud = unique("loud")
    create_function(lam, loud, ECHO_SIZE)
    lam.invoke(FunctionName=loud, Payload=b"{}")
    assert wait_for_log_events(logs, loud, '"received"')
    assert sum(notice in line for line in server.output) == 1  # said once
    with pytest.raises(ClientError) as missing:
        logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")
    assert code_and_status(missing)[0] == "ResourceNotFoundException"
