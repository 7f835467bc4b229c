"""sandlot's Node.js runtime: async and callback handlers, context, errors, logs."""

from __future__ import annotations

import json
import re

from .helpers import harness, needs_node

pytestmark = needs_node

HANDLERS = {
    "index.js": """
        let count = 0;
        exports.asyncHandler = async (event, context) => {
          count += 1;
          console.log('got', event, '\\nsecond line');
          console.error('an error line');
          return {
            count,
            functionName: context.functionName,
            functionVersion: context.functionVersion,
            invokedFunctionArn: context.invokedFunctionArn,
            memoryLimitInMB: context.memoryLimitInMB,
            awsRequestId: context.awsRequestId,
            logGroupName: context.logGroupName,
            logStreamName: context.logStreamName,
            remaining: context.getRemainingTimeInMillis(),
            region: process.env.AWS_REGION,
            executionEnv: process.env.AWS_EXECUTION_ENV,
          };
        };
        exports.callbackHandler = (event, context, callback) => {
          setTimeout(() => callback(null, { via: 'callback', event }), 10);
        };
        exports.succeedHandler = (event, context) => { context.succeed('succeeded'); };
        exports.failHandler = (event, context) => { context.fail(new TypeError('failed')); };
        exports.callbackError = (event, context, callback) => { callback('plain string'); };
        class ValidationError extends Error {}
        exports.throwing = async () => { throw new ValidationError('invalid input'); };
        exports.nested = { deeper: { handler: async () => 'nested' } };
        exports.exits = async () => { process.exit(2); };
        exports.uncaught = (event, context, callback) => {
          setTimeout(() => { throw new RangeError('thrown later'); }, 5);
        };
        exports.rejects = async () => {
          Promise.reject(new Error('nobody catches'));
          await new Promise((resolve) => setTimeout(resolve, 50));
        };
    """,
    "esm/app.mjs": """
        export const handler = async (event) => ({ esm: true, event });
    """,
}


async def test_async_handler_and_context(tmp_path):
    async with harness(tmp_path) as h:
        spec = h.spec(HANDLERS, runtime="nodejs20.x", handler="index.asyncHandler", name="node")
        first = await h.invoke(spec, b'{"a": 1}')
        assert first.function_error is None, first.payload
        body = json.loads(first.payload)
        assert body["count"] == 1
        assert body["functionName"] == "node"
        assert body["functionVersion"] == "$LATEST"
        assert body["invokedFunctionArn"] == spec.function_arn
        assert body["memoryLimitInMB"] == "128"
        assert body["logGroupName"] == "/aws/lambda/node"
        assert body["logStreamName"].endswith(first.environment_id)
        assert 0 < body["remaining"] <= 3000
        assert body["region"] == "eu-west-1"
        assert body["executionEnv"] == "AWS_Lambda_nodejs20.x"
        request_id = body["awsRequestId"]
        tail = first.log_tail.decode()
        assert re.search(
            rf"\n\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{request_id}\tINFO\tgot {{ a: 1 }} \rsecond line\n",
            tail,
        )
        assert f"\t{request_id}\tERROR\tan error line\n" in tail
        second = await h.invoke(spec)
        assert json.loads(second.payload)["count"] == 2
        assert second.environment_id == first.environment_id


async def test_callback_succeed_fail_and_nested(tmp_path):
    async with harness(tmp_path) as h:

        async def call(handler, payload=b'{"n": 1}'):
            return await h.invoke(h.spec(HANDLERS, runtime="nodejs22.x", handler=handler), payload)

        result = await call("index.callbackHandler")
        assert json.loads(result.payload) == {"via": "callback", "event": {"n": 1}}
        assert json.loads((await call("index.succeedHandler")).payload) == "succeeded"
        failed = await call("index.failHandler")
        assert failed.function_error == "Unhandled"
        assert json.loads(failed.payload)["errorType"] == "TypeError"
        plain = json.loads((await call("index.callbackError")).payload)
        assert (plain["errorType"], plain["errorMessage"]) == ("string", "plain string")
        assert json.loads((await call("index.nested.deeper.handler")).payload) == "nested"
        esm = await call("esm/app.handler")
        assert json.loads(esm.payload) == {"esm": True, "event": {"n": 1}}


async def test_errors(tmp_path):
    async with harness(tmp_path) as h:
        thrown = await h.invoke(h.spec(HANDLERS, runtime="nodejs18.x", handler="index.throwing"))
        error = json.loads(thrown.payload)
        assert error["errorType"] == "ValidationError"
        assert error["errorMessage"] == "invalid input"
        assert (
            error["trace"][0].startswith("Error: invalid input")
            or "invalid input" in error["trace"][0]
        )
        assert "\tERROR\tInvoke Error \t{" in thrown.log_tail.decode()

        missing = await h.invoke(h.spec(HANDLERS, runtime="nodejs20.x", handler="index.nope"))
        assert json.loads(missing.payload)["errorType"] == "Runtime.HandlerNotFound"
        assert (
            json.loads(missing.payload)["errorMessage"] == "index.nope is undefined or not exported"
        )

        no_module = await h.invoke(h.spec(HANDLERS, runtime="nodejs20.x", handler="absent.handler"))
        error = json.loads(no_module.payload)
        assert error["errorType"] == "Runtime.ImportModuleError"
        assert error["errorMessage"].startswith("Error: Cannot find module 'absent'")

        syntax = await h.invoke(
            h.spec(
                {"index.js": "exports.handler = async () => {"},
                runtime="nodejs20.x",
                handler="index.handler",
            )
        )
        assert json.loads(syntax.payload)["errorType"] == "Runtime.UserCodeSyntaxError"

        # An uncaught error fails the invocation and ends the environment, as in Lambda;
        # the next invocation runs in a fresh one instead of meeting a dying runtime.
        uncaught = h.spec(HANDLERS, runtime="nodejs20.x", handler="index.uncaught")
        first, second = await h.invoke(uncaught), await h.invoke(uncaught)
        for result in (first, second):
            error = json.loads(result.payload)
            assert (error["errorType"], error["errorMessage"]) == ("RangeError", "thrown later")
            assert "index.js" in error["trace"][1]
        assert first.environment_id != second.environment_id
        rejected = await h.invoke(h.spec(HANDLERS, runtime="nodejs20.x", handler="index.rejects"))
        error = json.loads(rejected.payload)
        assert error["errorType"] == "Runtime.UnhandledPromiseRejection"
        assert error["errorMessage"] == "Error: nobody catches"

        exited = await h.invoke(h.spec(HANDLERS, runtime="nodejs20.x", handler="index.exits"))
        assert json.loads(exited.payload)["errorMessage"].endswith(
            "Runtime exited with error: exit status 2"
        )


async def test_es_modules_import_from_layers_and_the_provided_sdk(tmp_path):
    """ES modules do not read NODE_PATH; Lambda's runtime lets them import the layers'
    packages and the AWS SDK all the same (node_paths.mjs)."""
    layer = {
        "nodejs/node_modules/greet/package.json": '{"name": "greet", "type": "module",'
        ' "exports": "./index.js"}',
        "nodejs/node_modules/greet/index.js": "export const hi = (n) => `hi ${n}`;\n",
    }
    code = {
        "index.mjs": """
            import { hi } from 'greet';
            import { STSClient } from '@aws-sdk/client-sts';
            export const handler = async () => ({ greeting: hi('esm'),
                                                  sdk: typeof STSClient });
        """
    }
    async with harness(tmp_path) as h:
        spec = h.spec(code, runtime="nodejs20.x", handler="index.handler", layers=(layer,))
        result = await h.invoke(spec)
        assert json.loads(result.payload) == {"greeting": "hi esm", "sdk": "function"}
