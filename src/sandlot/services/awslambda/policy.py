"""Resource-based policies of functions, shaped exactly as AWS stores them.

AddPermission turns its parameters into one statement; GetPolicy returns the document
``{"Version": "2012-10-17", "Id": "default", "Statement": [...]}`` as compact JSON.
Evaluation of these statements arrives with IAM; here they are only kept.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sandlot.services.awslambda.validation import invalid

POLICY_MAX_BYTES = 20480
_ACCOUNT = re.compile(r"^\d{12}$")


def principal_element(principal: str) -> str | dict[str, str]:
    """AddPermission's Principal string as a policy Principal element."""
    if principal == "*":
        return "*"
    if _ACCOUNT.match(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if principal.startswith("arn:"):
        return {"AWS": principal}
    if "." in principal:  # a service principal, e.g. s3.amazonaws.com
        return {"Service": principal}
    raise invalid("The provided principal was invalid. Please check the principal and try again.")


def statement(params: dict[str, Any], resource_arn: str) -> dict[str, Any]:
    """The statement AddPermission adds, in AWS's member order."""
    result: dict[str, Any] = {
        "Sid": params["StatementId"],
        "Effect": "Allow",
        "Principal": principal_element(params["Principal"]),
        "Action": params["Action"],
        "Resource": resource_arn,
    }
    condition: dict[str, dict[str, str]] = {}
    equals = {
        "AWS:SourceAccount": params.get("SourceAccount"),
        "aws:PrincipalOrgID": params.get("PrincipalOrgID"),
        "lambda:EventSourceToken": params.get("EventSourceToken"),
        "lambda:FunctionUrlAuthType": params.get("FunctionUrlAuthType"),
    }
    for key, value in equals.items():
        if value:
            condition.setdefault("StringEquals", {})[key] = value
    if params.get("InvokedViaFunctionUrl"):
        condition["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
    if params.get("SourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": params["SourceArn"]}
    if condition:
        result["Condition"] = condition
    return result


def document(statements: list[dict[str, Any]]) -> str:
    """The policy document as GetPolicy returns it."""
    policy = {"Version": "2012-10-17", "Id": "default", "Statement": statements}
    return json.dumps(policy, separators=(",", ":"))


def compact(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))
