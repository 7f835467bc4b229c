"""IAM policy evaluation benchmark: one decision against 10 attached policies x 10 statements.

The policies mix services, wildcards, NotAction, policy variables and conditions, the
way real roles do; they are compiled once (as the engine's cache does), then each
decision is timed. Reports p50/p99 in microseconds for an allowed request, an implicitly
denied one, a request with a resource policy, and one traced (as `sandlot iam explain`
asks for). Then the whole authorization of a request as the gateway runs it
(`Authorizer.check`: action mapping, the principal's cached policies, the decision and
its log entry) for a role session with the same ten policies attached.

    python bench/iam_eval.py [--n 20000]

Target (issue 6): < 50 µs p50 per decision.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from sandlot.iam.policy import Caller, Request, compile_policy, evaluate

ACCOUNT = "111122223333"
SERVICES = ["s3", "sqs", "sns", "dynamodb", "lambda", "logs", "kinesis", "states", "xray", "kms"]


def _policy(n: int) -> str:
    """Ten statements: several services, globs, a NotAction, conditions, a variable."""
    statements = []
    for i in range(10):
        service = SERVICES[(n + i) % len(SERVICES)]
        statement: dict = {
            "Sid": f"S{n}x{i}",
            "Effect": "Allow",
            "Action": [f"{service}:Get*", f"{service}:List*", f"{service}:Describe{i}"],
            "Resource": f"arn:aws:{service}:*:{ACCOUNT}:thing-{n}-{i}/*",
        }
        if i % 3 == 0:
            statement["Condition"] = {
                "StringEquals": {"aws:PrincipalTag/team": ["a", "b"]},
                "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
            }
        if i == 4:
            statement["Resource"] = f"arn:aws:{service}:::bucket-{n}/${{aws:userid}}/*"
        if i == 7:
            statement = {"Effect": "Deny", "NotAction": "s3:*", "Resource": "arn:aws:iam::*:*"}
        statements.append(statement)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _time(request: Request, n: int, trace: bool = False) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        evaluate(request, trace=trace)
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()

    policies = [compile_policy(_policy(n), "identity", f"policy-{n}") for n in range(10)]
    caller = Caller(
        "assumed-role",
        ACCOUNT,
        f"arn:aws:sts::{ACCOUNT}:assumed-role/fn-role/fn",
        "AROAEXAMPLEEXAMPLE:fn",
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/fn-role",
        tags={"team": "a"},
    )
    context = {"aws:SourceIp": "10.1.2.3", "aws:SecureTransport": True}
    allowed = Request(
        caller,
        "s3:GetObject",
        f"arn:aws:s3:us-east-1:{ACCOUNT}:thing-1-9/x",
        context,
        identity_policies=policies,
    )
    assert evaluate(allowed).allowed, evaluate(allowed, trace=True)
    denied = Request(
        caller, "s3:PutObject", "arn:aws:s3:::other/k", context, identity_policies=policies
    )
    assert not evaluate(denied).allowed
    bucket_policy = compile_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/fn-role"},
                    "Action": "s3:PutObject",
                    "Resource": "arn:aws:s3:::other/*",
                }
            ],
        },
        "resource",
        "bucket-policy",
    )
    with_resource = Request(
        caller,
        "s3:PutObject",
        "arn:aws:s3:::other/k",
        context,
        identity_policies=policies,
        resource_policy=bucket_policy,
        resource_account=ACCOUNT,
    )
    assert evaluate(with_resource).allowed

    print(f"IAM evaluation, 10 policies x 10 statements, {args.n} decisions each (target p50<50)")
    for name, request, trace in (
        ("allow", allowed, False),
        ("implicit deny", denied, False),
        ("resource policy", with_resource, False),
        ("allow, traced", allowed, True),
    ):
        _time(request, min(args.n, 2000), trace)  # warm-up
        p50, p99 = _time(request, args.n, trace)
        print(f"  {name:<16} p50 {p50:6.1f} µs   p99 {p99:6.1f} µs")
    p50, p99 = _authorizer(min(args.n, 5000))
    print(f"  {'Authorizer.check':<16} p50 {p50:6.1f} µs   p99 {p99:6.1f} µs (incl. decision log)")
    for name, (p50, p99) in _root_s3(min(args.n, 5000)).items():
        print(f"  {name:<32} p50 {p50:6.1f} µs   p99 {p99:6.1f} µs")


def _authorizer(n: int) -> tuple[float, float]:
    """A role session's lambda:GetFunction through the platform's Authorizer."""
    import asyncio
    import tempfile
    from pathlib import Path

    from sandlot.config import Settings
    from sandlot.iam.principal import Principal
    from sandlot.platform import Platform
    from sandlot.services.provider import RequestContext

    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(Settings(), Path(tmp))
        root = Principal.root(ACCOUNT)

        def call(operation, params, principal=root):
            return asyncio.run(
                platform.call("iam", operation, params, principal=principal, region="us-east-1")
            )

        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
            ],
        }
        call("CreateRole", {"RoleName": "fn-role", "AssumeRolePolicyDocument": json.dumps(trust)})
        for i in range(10):
            document = _policy(i)
            if i == 9:  # the statement that allows the benchmarked call
                parsed = json.loads(document)
                parsed["Statement"][0] = {
                    "Effect": "Allow",
                    "Action": "lambda:GetFunction",
                    "Resource": f"arn:aws:lambda:*:{ACCOUNT}:function:*",
                }
                document = json.dumps(parsed)
            arn = call("CreatePolicy", {"PolicyName": f"p{i}", "PolicyDocument": document})
            call("AttachRolePolicy", {"RoleName": "fn-role", "PolicyArn": arn["Policy"]["Arn"]})
        role = f"arn:aws:iam::{ACCOUNT}:role/fn-role"
        out = asyncio.run(
            platform.call(
                "sts",
                "AssumeRole",
                {"RoleArn": role, "RoleSessionName": "fn"},
                principal=root,
                region="us-east-1",
            )
        )
        session = platform.credentials.lookup(out["Credentials"]["AccessKeyId"]).principal
        params = {"FunctionName": "fn"}
        samples = []
        for i in range(n + 500):
            ctx = RequestContext(
                f"r{i}", ACCOUNT, "us-east-1", session, "lambda", "GetFunction", None
            )
            start = time.perf_counter_ns()
            platform.authorizer.check(ctx, params, context={"aws:SourceIp": "10.1.2.3"})
            samples.append((time.perf_counter_ns() - start) / 1000)
        platform.close()
    samples = sorted(samples[500:])
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def _root_s3(n: int) -> dict[str, tuple[float, float]]:
    """The root's own s3:GetObject through `Authorizer.check` (the fast path: no
    evaluation) on a bucket without a policy, with an allow-only policy, and with a
    policy holding a Deny that does not match (then the root is evaluated)."""
    import asyncio
    import tempfile
    from pathlib import Path

    from sandlot.config import Settings
    from sandlot.iam.principal import Principal
    from sandlot.platform import Platform
    from sandlot.services.provider import RequestContext

    def statement(effect: str, resource: str) -> dict:
        return {"Effect": effect, "Principal": "*", "Action": "s3:GetObject", "Resource": resource}

    policies = {
        "root s3:GetObject, no policy": None,
        "root, allow-only bucket policy": [statement("Allow", "arn:aws:s3:::b-1/public/*")],
        "root, bucket policy with a Deny": [statement("Deny", "arn:aws:s3:::b-2/secret/*")],
    }
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(Settings(), Path(tmp))
        root = Principal.root(ACCOUNT)
        for i, (name, statements) in enumerate(policies.items()):
            bucket = f"b-{i}"

            def call(operation, params):
                return asyncio.run(
                    platform.call("s3", operation, params, principal=root, region="us-east-1")
                )

            call("CreateBucket", {"Bucket": bucket})
            if statements:
                document = json.dumps({"Version": "2012-10-17", "Statement": statements})
                call("PutBucketPolicy", {"Bucket": bucket, "Policy": document})
            params = {"Bucket": bucket, "Key": "k"}
            samples = []
            for j in range(n + 500):
                ctx = RequestContext(f"r{j}", ACCOUNT, "us-east-1", root, "s3", "GetObject", None)
                start = time.perf_counter_ns()
                platform.authorizer.check(ctx, params)
                samples.append((time.perf_counter_ns() - start) / 1000)
            samples = sorted(samples[500:])
            out[name] = statistics.median(samples), samples[int(len(samples) * 0.99)]
        platform.close()
    return out


if __name__ == "__main__":
    main()
