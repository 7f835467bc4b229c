"""The ``AWS::Serverless-2016-10-31`` transform, expanded server-side (as AWS does: the
SAM CLI sends templates unexpanded) by AWS's own translator, ``aws-sam-translator``.

The translator makes no AWS calls here: its one lookup, the managed-policy name → ARN
map (for ``Policies: [AWSLambdaExecute]`` and the policies its event sources add), is
given from IAM's AWS managed policies, and its region comes from a boto3 Session
built with the stack's region (a Session only holds configuration)."""

from __future__ import annotations

import copy
import functools
from typing import Any

SAM = "AWS::Serverless-2016-10-31"


class TransformFailed(Exception):
    """The transform refused the template; the message is AWS's."""


@functools.cache
def _managed_policy_map() -> dict[str, str]:
    from sandlot.services.iam import managed_policies

    return {p.name: p.arn for p in managed_policies.all_policies()}


def expand_sam(template: dict, region: str, parameter_values: dict[str, Any]) -> dict:
    """The template with every ``AWS::Serverless::*`` resource (and ``Globals``)
    replaced by the CloudFormation resources SAM defines for it."""
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    try:
        expanded = translator.translate(
            copy.deepcopy(template),
            parameter_values=dict(parameter_values),
            get_managed_policy_map=_managed_policy_map,
        )
    except InvalidDocumentException as e:
        causes = " ".join(str(c) for c in e.causes)
        raise TransformFailed(
            f"Transform {SAM} failed with: Invalid Serverless Application Specification "
            f"document. Number of errors found: {len(e.causes)}. {causes}"
        ) from e
    return expanded
