"""sandlot's Python runtime: the Lambda programming model, errors as Lambda reports them."""

from __future__ import annotations

import base64
import json
import re

from .helpers import ACCOUNT, REGION, harness

CONTEXT = {
    "app.py": """
        import time

        def handler(event, context):
            before = context.get_remaining_time_in_millis()
            time.sleep(0.05)
            return {
                "function_name": context.function_name,
                "function_version": context.function_version,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "aws_request_id": context.aws_request_id,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "remaining_before": before,
                "remaining_after": context.get_remaining_time_in_millis(),
                "identity": [context.identity.cognito_identity_id,
                             context.identity.cognito_identity_pool_id],
                "client": None if context.client_context is None else [
                    context.client_context.client.app_title,
                    context.client_context.custom,
                ],
            }
    """
}


async def test_context_attributes(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(CONTEXT, name="ctx", timeout=7, memory=512)
        alias_arn = f"{spec.function_arn}:live"
        client_context = base64.b64encode(
            json.dumps({"client": {"app_title": "app"}, "custom": {"k": "v"}}).encode()
        ).decode()
        result = await h.invoke(
            spec,
            arn=alias_arn,
            client_context=client_context,
            cognito_identity=json.dumps(
                {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
            ),
        )
        context = json.loads(result.payload)
        stream = context.pop("log_stream_name")
        request_id = context.pop("aws_request_id")
        before, after = context.pop("remaining_before"), context.pop("remaining_after")
        assert context == {
            "function_name": "ctx",
            "function_version": "$LATEST",
            "invoked_function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ctx:live",
            "memory_limit_in_mb": "512",
            "log_group_name": "/aws/lambda/ctx",
            "identity": ["id-1", "pool-1"],
            "client": ["app", {"k": "v"}],
        }
        assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\]" + result.environment_id, stream)
        assert f"START RequestId: {request_id} " in result.log_tail.decode()
        assert 6000 < before <= 7000 and 0 < after <= before - 40


async def test_handler_exception(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(
            {
                "app.py": """
                    class PaymentDeclined(Exception):
                        pass

                    def handler(event, context):
                        if event.get("custom"):
                            raise PaymentDeclined("card refused")
                        return helper()

                    def helper():
                        raise ValueError("bad value\\nsecond line")
                """
            }
        )
        result = await h.invoke(spec)
        assert result.function_error == "Unhandled"
        error = json.loads(result.payload)
        assert error["errorType"] == "ValueError"
        assert error["errorMessage"] == "bad value\nsecond line"
        assert re.fullmatch(r"[0-9a-f-]{36}", error["requestId"])
        assert len(error["stackTrace"]) == 2  # handler, helper: no bootstrap frames
        assert error["stackTrace"][0].startswith(f'  File "{spec.code_dir}/app.py", line ')
        assert error["stackTrace"][1].endswith('raise ValueError("bad value\\nsecond line")\n')
        # Logged as one event, inner line breaks as \r.
        tail = result.log_tail.decode()
        assert (
            "\n[ERROR] ValueError: bad value\rsecond line\rTraceback (most recent call last):\r"
            in tail
        )
        custom = await h.invoke(spec, b'{"custom": true}')
        assert json.loads(custom.payload)["errorType"] == "PaymentDeclined"
        assert custom.environment_id == result.environment_id  # a handled error keeps it warm


async def test_import_error(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec({"app.py": "import not_a_module\n"})
        result = await h.invoke(spec)
        assert result.function_error == "Unhandled"
        assert json.loads(result.payload) == {
            "errorMessage": "Unable to import module 'app': No module named 'not_a_module'",
            "errorType": "Runtime.ImportModuleError",
            "requestId": "",
            "stackTrace": [],
        }
        assert result.init_duration_ms is not None
        tail = result.log_tail.decode()
        assert tail.index(
            "[ERROR] Runtime.ImportModuleError: Unable to import module"
        ) < tail.index("START RequestId")
        assert "Status: error\tError Type: Runtime.ImportModuleError" in tail
        missing = await h.invoke(h.spec({"other.py": ""}))
        assert json.loads(missing.payload)["errorMessage"] == (
            "Unable to import module 'app': No module named 'app'"
        )


async def test_handler_not_found_and_malformed(tmp_path):
    async with harness(tmp_path) as h:
        result = await h.invoke(h.spec({"app.py": "def other(e, c): pass\n"}))
        error = json.loads(result.payload)
        assert error["errorType"] == "Runtime.HandlerNotFound"
        assert error["errorMessage"] == "Handler 'handler' missing on module 'app'"
        malformed = await h.invoke(h.spec({"app.py": ""}, handler="app"))
        error = json.loads(malformed.payload)
        assert error["errorType"] == "Runtime.MalformedHandlerName"
        assert error["errorMessage"] == (
            "Bad handler 'app': not enough values to unpack (expected 2, got 1)"
        )


async def test_syntax_error_and_init_exception(tmp_path):
    async with harness(tmp_path) as h:
        result = await h.invoke(h.spec({"app.py": "def handler(:\n"}))
        error = json.loads(result.payload)
        assert error["errorType"] == "Runtime.UserCodeSyntaxError"
        assert error["errorMessage"].startswith("Syntax error in module 'app': ")
        crash = await h.invoke(h.spec({"app.py": "raise RuntimeError('no config')\n"}))
        error = json.loads(crash.payload)
        assert (error["errorType"], error["errorMessage"]) == ("RuntimeError", "no config")


async def test_nested_handlers(tmp_path):
    async with harness(tmp_path) as h:
        files = {
            "src/handlers/api.py": "def main(event, context):\n    return 'from dir'\n",
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "",
            "pkg/sub/mod.py": "def fn(event, context):\n    return 'from package'\n",
        }
        by_dir = await h.invoke(h.spec(files, handler="src/handlers/api.main"))
        by_package = await h.invoke(h.spec(files, handler="pkg.sub.mod.fn"))
        assert json.loads(by_dir.payload) == "from dir"
        assert json.loads(by_package.payload) == "from package"


async def test_logging_and_print(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(
            {
                "app.py": """
                    import logging, sys

                    logger = logging.getLogger()
                    logger.setLevel(logging.INFO)
                    print("init line")

                    def handler(event, context):
                        print("line one\\nline two")
                        print("to stderr", file=sys.stderr)
                        logger.info("info %s", "message")
                        logger.debug("hidden")
                        return None
                """
            }
        )
        result = await h.invoke(spec)
        assert result.payload == b"null"
        lines = result.log_tail.decode().split("\n")
        start = next(i for i, line in enumerate(lines) if line.startswith("START"))
        request_id = lines[start].split()[2]
        assert "init line" in lines[:start]
        assert lines[start + 1 : start + 4] == ["line one", "line two", "to stderr"]
        assert re.fullmatch(
            rf"\[INFO\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{request_id}\tinfo message",
            lines[start + 4],
        )
        assert lines[start + 5] == f"END RequestId: {request_id}"
        assert not any("hidden" in line for line in lines)


async def test_result_encoding(tmp_path):
    async with harness(tmp_path) as h:
        files = {
            "app.py": """
                from decimal import Decimal

                def handler(event, context):
                    if event.get("raw"):
                        return b"raw bytes"
                    return {"price": Decimal("12.50"), "count": Decimal(3), "text": "caf\u00e9"}
            """
        }
        new = await h.invoke(h.spec(files, runtime="python3.12"))
        assert new.payload == '{"price": 12.5, "count": 3, "text": "caf\u00e9"}'.encode()
        old = await h.invoke(h.spec(files, runtime="python3.11"))
        assert old.payload == b'{"price": 12.5, "count": 3, "text": "caf\\u00e9"}'
        raw = await h.invoke(h.spec(files), b'{"raw": true}')
        assert raw.payload == b"raw bytes"


async def test_unserialisable_result_and_bad_event(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec({"app.py": "def handler(event, context):\n    return {1, 2}\n"})
        error = json.loads((await h.invoke(spec)).payload)
        assert error["errorType"] == "Runtime.MarshalError"
        assert error["errorMessage"].startswith("Unable to marshal response: ")
        bad = json.loads((await h.invoke(spec, b"not json")).payload)
        assert bad["errorType"] == "Runtime.UnmarshalError"


async def test_oversize_response(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(
            {
                "app.py": """
                    def handler(event, context):
                        return "x" * event["size"]
                """
            }
        )
        limit = 6 * 1024 * 1024 + 100
        fits = await h.invoke(spec, json.dumps({"size": limit - 2}).encode())  # +2 quotes
        assert fits.function_error is None and len(fits.payload) == limit
        result = await h.invoke(spec, json.dumps({"size": limit}).encode())
        assert result.function_error == "Unhandled"
        assert json.loads(result.payload) == {
            "errorMessage": "Response payload size exceeded maximum allowed payload size "
            "(6291556 bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
        again = await h.invoke(spec, b'{"size": 3}')
        assert again.payload == b'"xxx"'
        assert again.environment_id == result.environment_id


async def test_only_lambdas_packages_are_importable(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(
            {
                "app.py": """
                    import importlib.util

                    def handler(event, context):
                        return {name: importlib.util.find_spec(name) is not None
                                for name in ("botocore", "json", "pytest", "sandlot")}
                """
            }
        )
        found = json.loads((await h.invoke(spec)).payload)
        assert found == {"botocore": True, "json": True, "pytest": False, "sandlot": False}
