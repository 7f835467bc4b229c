"""AWS's runtime deprecation calendar, end to end with boto3: a function outlives its
runtime's "block function create" and "block function update" dates as the server's
calendar (SANDLOT_LAMBDA_RUNTIME_DATE) moves across restarts on one data directory.

python3.11's dates (AWS's Lambda Developer Guide, lambda-python): create blocked from
2027-07-31, update from 2027-08-31. Invocations are never blocked.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client
from tests.e2e.functions import ROLE, create_function, unique, zip_of
from tests.e2e.server import SandlotServer

HANDLER = {"app.py": "def handler(event, context):\n    return {'ok': event.get('n')}\n"}
REFUSED = (
    "The runtime parameter of python3.11 is no longer supported for creating or updating "
    "AWS Lambda functions. We recommend you use the new runtime (python3.13) while creating "
    "or updating functions."
)


def _server(data_dir, today: str) -> SandlotServer:
    return SandlotServer(data_dir, env={"SANDLOT_LAMBDA_RUNTIME_DATE": today})


def _refusal(call, **params) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response
    return (
        error["Error"]["Code"],
        error["Error"]["Message"],
        error["ResponseMetadata"]["HTTPStatusCode"],
    )


def _wait_updated(lam, name: str) -> None:
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
    )


@pytest.mark.timeout(240)
def test_create_then_update_blocked_as_the_calendar_passes_awss_dates(tmp_path):
    old, mover = unique("py311"), unique("mover")
    data = tmp_path / "data"
    # Before block-create: python3.11 functions can be created.
    with _server(data, "2027-07-30") as server:
        lam = make_client(server.endpoint, "lambda")
        create_function(lam, old, HANDLER, runtime="python3.11")
        create_function(lam, mover, HANDLER, runtime="python3.12")

    # Past block-create, before block-update: no new ones; existing ones still change,
    # and a function may still be moved onto the runtime.
    with _server(data, "2027-07-31") as server:
        lam = make_client(server.endpoint, "lambda")
        assert _refusal(lam.create_function, FunctionName=unique("late"), Runtime="python3.11",
                        Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": zip_of(HANDLER)}) == (
            "InvalidParameterValueException", REFUSED, 400)  # fmt: skip
        lam.update_function_code(FunctionName=old, ZipFile=zip_of(HANDLER))
        _wait_updated(lam, old)
        lam.update_function_configuration(FunctionName=old, Description="still maintained")
        _wait_updated(lam, old)
        lam.update_function_configuration(FunctionName=mover, Runtime="python3.11")
        _wait_updated(lam, mover)
        assert lam.get_function_configuration(FunctionName=mover)["Runtime"] == "python3.11"

    # Past block-update: every update of a python3.11 function is refused; moving to a
    # supported runtime is the way out; invocations go on.
    with _server(data, "2027-08-31") as server:
        lam = make_client(server.endpoint, "lambda")
        refused = ("InvalidParameterValueException", REFUSED, 400)
        assert _refusal(lam.update_function_code, FunctionName=old,
                        ZipFile=zip_of(HANDLER)) == refused  # fmt: skip
        assert _refusal(lam.update_function_configuration, FunctionName=old,
                        Description="too late") == refused  # fmt: skip
        assert _refusal(lam.update_function_configuration, FunctionName=old,
                        Runtime="python3.11") == refused  # fmt: skip
        config = lam.get_function_configuration(FunctionName=old)
        assert config["Description"] == "still maintained"
        answer = lam.invoke(FunctionName=old, Payload=json.dumps({"n": 7}))
        assert "FunctionError" not in answer
        assert json.loads(answer["Payload"].read()) == {"ok": 7}
        lam.update_function_configuration(FunctionName=mover, Runtime="python3.12")
        _wait_updated(lam, mover)
        assert lam.get_function_configuration(FunctionName=mover)["Runtime"] == "python3.12"


def test_runtime_management_config_refuses_aliases_as_aws_does(tmp_path):
    with _server(tmp_path / "data", "2026-01-15") as server:
        lam = make_client(server.endpoint, "lambda")
        name = unique("rtm")
        arn = create_function(lam, name, HANDLER)["FunctionArn"]
        version = lam.publish_version(FunctionName=name)["Version"]
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
        expected = f"The provided function name {arn}:live is invalid. Aliases are not allowed."
        for call in (lam.get_runtime_management_config, lam.put_runtime_management_config):
            extra = {"UpdateRuntimeOn": "Auto"} if "put" in call.__name__ else {}
            assert _refusal(call, FunctionName=name, Qualifier="live", **extra) == (
                "InvalidParameterValueException", expected, 400)  # fmt: skip
