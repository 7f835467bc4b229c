"""Map a parsed request to the IAM action(s), resource ARN(s) and condition keys AWS
evaluates for it, from AWS's published service authorization data.

from sandlot.iam.actions import authorizations

authorizations("lambda", "Invoke", {"FunctionName": "f", "Qualifier": "prod"},
               "000000000000", "us-east-1")
# [Authorization(action="lambda:InvokeFunction",
#                resources=("arn:aws:lambda:us-east-1:000000000000:function:f:prod",), ...)]
"""

from sandlot.iam.actions.index import SERVICES, arn_pattern, load_index
from sandlot.iam.actions.resolve import (
    NO_PERMISSION,
    UNDOCUMENTED,
    Authorization,
    PathLookup,
    authorizations,
    only_own_resources,
)

__all__ = [
    "NO_PERMISSION",
    "SERVICES",
    "UNDOCUMENTED",
    "Authorization",
    "PathLookup",
    "arn_pattern",
    "authorizations",
    "load_index",
    "only_own_resources",
]
