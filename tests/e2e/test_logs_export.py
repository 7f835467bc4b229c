"""CloudWatch Logs export tasks to S3: the bucket policy must let the regional Logs
service principal write; the objects hold each stream's events, gzipped."""

from __future__ import annotations

import gzip
import json
import time

from tests.e2e.conftest import error_of
from tests.e2e.functions import unique

ACCOUNT = "000000000000"


def _bucket_policy(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
                    "Action": ["s3:GetBucketAcl", "s3:PutObject"],
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
                }
            ],
        }
    )


def _wait(logs, task_id: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        task = logs.describe_export_tasks(taskId=task_id)["exportTasks"][0]
        if task["status"]["code"] not in ("PENDING", "RUNNING"):
            return task
        time.sleep(0.05)
    raise AssertionError("the export task never finished")


def test_export_to_s3(client):
    logs, s3 = client("logs"), client("s3")
    group, bucket = unique("/app/export"), unique("exports").lower()
    s3.create_bucket(Bucket=bucket)
    logs.create_log_group(logGroupName=group)
    for stream in ("web-1", "web-2", "worker"):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="web-1",
        logEvents=[{"timestamp": now - 2000 + i, "message": f"line {i}"} for i in range(3)],
    )
    logs.put_log_events(
        logGroupName=group,
        logStreamName="worker",
        logEvents=[{"timestamp": now - 1000, "message": "not exported"}],
    )
    window = {"fromTime": now - 60_000, "to": now + 60_000}
    err = error_of(
        logs.create_export_task,
        logGroupName=group,
        destination=bucket,
        **{"from": window["fromTime"], "to": window["to"]},
    )
    assert err["Code"] == "InvalidParameterException"  # no bucket policy yet
    assert err["Message"].startswith("GetBucketAcl call on the given bucket failed.")
    s3.put_bucket_policy(Bucket=bucket, Policy=_bucket_policy(bucket))
    task_id = logs.create_export_task(
        taskName="nightly",
        logGroupName=group,
        logStreamNamePrefix="web",
        destination=bucket,
        destinationPrefix="logs",
        **{"from": window["fromTime"], "to": window["to"]},
    )["taskId"]
    task = _wait(logs, task_id)
    assert task["status"]["code"] == "COMPLETED", task
    assert task["taskName"] == "nightly" and task["destinationPrefix"] == "logs"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"logs/aws-logs-write-test", f"logs/{task_id}/web-1/000000.gz"}
    body = s3.get_object(Bucket=bucket, Key=f"logs/{task_id}/web-1/000000.gz")["Body"].read()
    lines = gzip.decompress(body).decode().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["line 0", "line 1", "line 2"]
    assert lines[0].split(" ", 1)[0].endswith("Z")
    err = error_of(logs.cancel_export_task, taskId=task_id)
    assert err["Code"] == "InvalidOperationException"
