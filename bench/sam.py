"""CloudFormation and the SAM CLI's workflow, timed (issue 14's performance targets):

1. A 30-resource SAM application (functions with roles, a REST API, an HTTP API,
   queues with event source mappings, a topic subscription, log groups, a parameter, a
   bucket) from ``CreateChangeSet`` to ``CREATE_COMPLETE``, through boto3 (target ≤ 3 s).
2. A no-change deploy: CreateChangeSet until it ends FAILED "didn't contain changes"
   (sandlot's side), and ``sam deploy`` of an unchanged app from start to exit (target
   ≤ 1 s).
3. A one-function code change: UpdateFunctionCode until an invoke returns the new code
   (sandlot's side), and ``sam sync --code --resource-id`` from start to exit, then
   until the new code answers (target ≤ 1 s).

Parts 2 and 3 need the SAM CLI: the tests' ``.venv-sam/bin/sam`` (tests/e2e/tools.py
installs it) or ``--sam PATH``; without one they are skipped.

    python bench/sam.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import client, code_zip, served

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
CODE = "def handler(event, context):\n    return 'VERSION'\n"


def app_template(bucket: str) -> str:
    """The 30-resource application (resources after the SAM transform)."""
    functions = {}
    events = {
        "Rest": {"Get": {"Type": "Api", "Properties": {"Path": "/a", "Method": "get"}},
                 "Post": {"Type": "Api", "Properties": {"Path": "/b", "Method": "post"}}},
        "Http": {"Get": {"Type": "HttpApi", "Properties": {"Path": "/a", "Method": "get"}},
                 "Put": {"Type": "HttpApi", "Properties": {"Path": "/b", "Method": "put"}}},
        "First": {"Queue": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["One", "Arn"]}}}},
        "Second": {"Queue": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["Two", "Arn"]}}}},
        "Notified": {"Topic": {"Type": "SNS", "Properties": {"Topic": {"Ref": "Topic"}}}},
    }  # fmt: skip
    for name, fn_events in events.items():
        functions[name] = {
            "Type": "AWS::Serverless::Function",
            "Properties": {"Runtime": RUNTIME, "Handler": "app.handler",
                           "CodeUri": f"s3://{bucket}/code.zip", "Events": fn_events},
        }  # fmt: skip
    resources = {
        **functions,
        "One": {"Type": "AWS::SQS::Queue"},
        "Two": {"Type": "AWS::SQS::Queue"},
        "Topic": {"Type": "AWS::SNS::Topic"},
        "LogsA": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}},
        "LogsB": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}},
        "Setting": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "x"}},
        "Files": {"Type": "AWS::S3::Bucket"},
    }
    return json.dumps({"Transform": "AWS::Serverless-2016-10-31", "Resources": resources})


def _until(check, timeout: float = 60, pause: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(pause)
    raise RuntimeError("timed out")


def change_set_to_complete(port: int, template: str, name: str) -> dict:
    cfn = client(port, "cloudformation", retries=False)
    began = time.perf_counter()
    created = cfn.create_change_set(StackName=name, ChangeSetName="c1", ChangeSetType="CREATE",
                                    TemplateBody=template,
                                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])  # fmt: skip
    _until(lambda: cfn.describe_change_set(ChangeSetName=created["Id"])["Status"]
           in ("CREATE_COMPLETE", "FAILED"))  # fmt: skip
    reviewed = time.perf_counter()
    cfn.execute_change_set(ChangeSetName=created["Id"])
    stack = _until(lambda: (s := cfn.describe_stacks(StackName=name)["Stacks"][0])["StackStatus"]
                   .endswith("_COMPLETE") and s)  # fmt: skip
    done = time.perf_counter()
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack["StackStatus"]
    count = len(cfn.list_stack_resources(StackName=name)["StackResourceSummaries"])
    return {"resources": count, "change_set_s": reviewed - began, "execute_s": done - reviewed,
            "total_s": done - began}  # fmt: skip


def empty_change_set(port: int, template: str, name: str) -> float:
    cfn = client(port, "cloudformation", retries=False)
    began = time.perf_counter()
    created = cfn.create_change_set(StackName=name, ChangeSetName=f"n{time.time_ns()}",
                                    TemplateBody=template,
                                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])  # fmt: skip
    found = _until(lambda: (c := cfn.describe_change_set(ChangeSetName=created["Id"]))["Status"]
                   in ("CREATE_COMPLETE", "FAILED") and c)  # fmt: skip
    assert "didn't contain changes" in found.get("StatusReason", ""), found
    return time.perf_counter() - began


def code_change_live(port: int, function: str, version: str) -> float:
    lam = client(port, "lambda", retries=False)
    package = code_zip({"app.py": CODE.replace("VERSION", version)})
    began = time.perf_counter()
    lam.update_function_code(FunctionName=function, ZipFile=package)
    _until(lambda: json.loads(lam.invoke(FunctionName=function)["Payload"].read()) == version)
    return time.perf_counter() - began


def find_sam(given: str | None) -> Path | None:
    sam = Path(given) if given else ROOT / ".venv-sam" / "bin" / "sam"
    return sam if sam.exists() else None


class SamApp:
    """A one-function SAM project driven by the SAM CLI."""

    def __init__(self, sam: Path, port: int, root: Path) -> None:
        self.sam, self.root = sam, root
        self.cpu: list[float] = []
        (root / "src").mkdir()
        (root / "home").mkdir()
        (root / "template.yaml").write_text(
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n"
            "    Type: AWS::Serverless::Function\n    Properties:\n"
            f"      Runtime: {RUNTIME}\n      Handler: app.handler\n      CodeUri: src/\n"
            "Outputs:\n  Name:\n    Value: !Ref Fn\n"
        )
        self.write("v0")
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                    "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "benchkey",
                    "AWS_SECRET_ACCESS_KEY": "benchsecret", "AWS_DEFAULT_REGION": "us-east-1",
                    "SAM_CLI_TELEMETRY": "0", "HOME": str(root / "home"),
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip

    def write(self, version: str) -> None:
        (self.root / "src" / "app.py").write_text(CODE.replace("VERSION", version))

    def run(self, *args: str, stdin: str = "") -> float:
        """Wall seconds of one CLI run; its CPU seconds (user + system) go to ``cpu``."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run([str(self.sam), *args], cwd=self.root, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(done.stdout + done.stderr)
        wall = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        return wall


def run(port: int, rounds: int, sam: Path | None) -> dict:
    s3 = client(port, "s3")
    s3.create_bucket(Bucket="bench-code")
    s3.put_object(Bucket="bench-code", Key="code.zip", Body=code_zip({"app.py": CODE}))
    template = app_template("bench-code")
    results: dict = {"create": [change_set_to_complete(port, template, f"app{i}")
                                for i in range(rounds)]}  # fmt: skip
    results["empty_change_set_s"] = [empty_change_set(port, template, "app0") for _ in range(5)]
    cfn = client(port, "cloudformation")
    functions = [r["PhysicalResourceId"] for r in
                 cfn.list_stack_resources(StackName="app0")["StackResourceSummaries"]
                 if r["ResourceType"] == "AWS::Lambda::Function"]  # fmt: skip
    lam = client(port, "lambda")
    lam.invoke(FunctionName=functions[0])  # warm
    results["code_change_live_s"] = [code_change_live(port, functions[0], f"u{i}")
                                     for i in range(rounds * 2)]  # fmt: skip
    if sam is None:
        results["sam"] = "skipped: no SAM CLI (run the SAM e2e tests once, or pass --sam)"
        return results
    with tempfile.TemporaryDirectory() as scratch:
        app = SamApp(sam, port, Path(scratch))
        s3.create_bucket(Bucket="bench-sam")
        deploy = ("deploy", "--stack-name", "samapp", "--s3-bucket", "bench-sam",
                  "--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset",
                  "--no-fail-on-empty-changeset", "--region", "us-east-1")  # fmt: skip
        results["sam_deploy_first_s"] = app.run(*deploy)
        app.cpu.clear()
        results["sam_deploy_no_change_s"] = [app.run(*deploy) for _ in range(rounds)]
        results["sam_deploy_no_change_cli_cpu_s"] = list(app.cpu)
        app.cpu.clear()
        results["sam_version_s"] = app.run("--version")  # the CLI's own start-up
        results["sam_version_cli_cpu_s"] = app.cpu[0]
        sync = ("sync", "--stack-name", "samsync", "--s3-bucket", "bench-sam",
                "--no-dependency-layer", "--region", "us-east-1")  # fmt: skip
        app.run(*sync, stdin="y\n")
        outputs = cfn.describe_stacks(StackName="samsync")["Stacks"][0]["Outputs"]
        function = {o["OutputKey"]: o["OutputValue"] for o in outputs}["Name"]
        exits, lives = [], []
        app.cpu.clear()
        for i in range(rounds * 2):
            version = f"s{i}"
            app.write(version)
            began = time.perf_counter()
            app.run(*sync, "--code", "--resource-id", "Fn")
            exits.append(time.perf_counter() - began)
            _until(
                lambda v=version: (
                    json.loads(lam.invoke(FunctionName=function)["Payload"].read()) == v
                )
            )
            lives.append(time.perf_counter() - began)
        results["sam_sync_code_exit_s"] = exits
        results["sam_sync_code_live_s"] = lives
        results["sam_sync_code_cli_cpu_s"] = list(app.cpu)
    return results


def _summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sam", help="the sam executable (default: .venv-sam/bin/sam)")
    args = parser.parse_args()
    print("load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    results = served(lambda port: run(port, args.rounds, find_sam(args.sam)))
    for entry in results.pop("create"):
        print(f"CreateChangeSet→CREATE_COMPLETE, {entry['resources']} resources: "
              f"{entry['total_s']:.3f} s (change set {entry['change_set_s']:.3f} s, "
              f"execute {entry['execute_s']:.3f} s)")  # fmt: skip
    for key, value in results.items():
        print(f"{key}: {_summary(value) if isinstance(value, list) else value}")


if __name__ == "__main__":
    main()
