"""IAM policy documents and their evaluation, as AWS documents them.

from sandlot.iam.policy import Caller, Request, compile_policy, evaluate

policy = compile_policy(text, "identity", "arn:aws:iam::111122223333:policy/P")
caller = Caller("user", "111122223333", "arn:aws:iam::111122223333:user/alice",
                "AIDAEXAMPLE", user_name="alice")
decision = evaluate(Request(caller, "s3:GetObject", "arn:aws:s3:::b/k",
                            identity_policies=[policy]))
decision.allowed, decision.outcome, decision.deciding, decision.reason
"""

from sandlot.iam.policy.document import (
    MalformedPolicyError,
    Policy,
    PolicyKind,
    Statement,
    compile_policy,
    parse_policy,
)
from sandlot.iam.policy.evaluate import Decision, Outcome, StatementRef, TraceEntry, evaluate
from sandlot.iam.policy.request import Caller, Request

__all__ = [
    "Caller",
    "Decision",
    "MalformedPolicyError",
    "Outcome",
    "Policy",
    "PolicyKind",
    "Request",
    "Statement",
    "StatementRef",
    "TraceEntry",
    "compile_policy",
    "evaluate",
    "parse_policy",
]
