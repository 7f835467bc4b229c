"""A function that probes the network from inside its sandbox (which endpoints and
keys it can reach), shared by the isolated and shared-network tests."""

# The handler runs the probes the event names, with the provided boto3.
PROBES = r"""
import json, os, socket, urllib.request
import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

def client(service, key=None, unsigned=False):
    config = Config(retries={"max_attempts": 1}, signature_version=UNSIGNED if unsigned else None)
    if key is None:  # the function's own role credentials, from its environment
        return boto3.client(service, config=config)
    return boto3.client(service, aws_access_key_id=key, aws_secret_access_key="test",
                        config=config)

def call(service, operation, key=None, unsigned=False):
    try:
        result = getattr(client(service, key, unsigned), operation)()
        return {"ok": {k: v for k, v in result.items() if k != "ResponseMetadata"}}
    except ClientError as exc:
        return {"error": exc.response["Error"]["Code"],
                "status": exc.response["ResponseMetadata"]["HTTPStatusCode"]}

def connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=3):
            return "connected"
    except OSError as exc:
        return type(exc).__name__

def handler(event, context):
    out = {"endpoint": os.environ["AWS_ENDPOINT_URL"],
           "runtime_api": os.environ["AWS_LAMBDA_RUNTIME_API"]}
    for name, (service, operation, key, unsigned) in event.get("calls", {}).items():
        out[name] = call(service, operation, key, unsigned)
    for name, (host, port) in event.get("connect", {}).items():
        out[name] = connect(host, port)
    return out
"""

INVENTED = {
    "sts_test": ["sts", "get_caller_identity", "test", False],
    "sts_account": ["sts", "get_caller_identity", "111111111111", False],
    "s3_test": ["s3", "list_buckets", "AKIAINVENTEDKEY00000", False],
    "lambda_test": ["lambda", "list_functions", "test", False],
    "sts_unsigned": ["sts", "get_caller_identity", None, True],
}
