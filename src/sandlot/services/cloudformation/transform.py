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


def warm() -> None:
    """Import aws-sam-translator (and boto3, which it needs) ahead of the first SAM
    template: over a second of CPU that would otherwise stall the first change set."""
    import boto3  # noqa: F401
    import samtranslator.parser.parser  # noqa: F401
    import samtranslator.translator.translator  # noqa: F401


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


LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
_FOR_EACH = "Fn::ForEach::"


def expand_language_extensions(template: dict, parameter_values: dict[str, Any]) -> dict:
    """``AWS::LanguageExtensions``: every ``Fn::ForEach::<Loop>`` (in Resources,
    Outputs, Conditions or inside properties) replaced by one copy of its fragment per
    item of the collection; ``${Id}``/``&{Id}`` in keys and strings and ``Ref: Id`` take
    the item (``&{}`` without its non-alphanumeric characters). ``Fn::Length``,
    ``Fn::ToJsonString`` and ``Fn::FindInMap``'s ``DefaultValue`` are evaluated with
    the other intrinsic functions."""
    return _expand(copy.deepcopy(template), parameter_values)


def _expand(node: Any, parameters: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_expand(item, parameters) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict = {}
    for key, value in node.items():
        if not key.startswith(_FOR_EACH):
            result[key] = _expand(value, parameters)
            continue
        if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
                and isinstance(value[2], dict)):  # fmt: skip
            raise TransformFailed(
                f"Transform {LANGUAGE_EXTENSIONS} failed with: {key} layout is incorrect"
            )
        identifier, collection, fragment = value
        for item in _collection(collection, parameters, key):
            copied = _substitute(fragment, identifier, str(item))
            for out_key, out_value in _expand(copied, parameters).items():
                if out_key in result:
                    raise TransformFailed(
                        f"Transform {LANGUAGE_EXTENSIONS} failed with: {key} produces the "
                        f"duplicate key {out_key}"
                    )
                result[out_key] = out_value
    return result


def _collection(value: Any, parameters: dict[str, Any], loop: str) -> list:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        value = parameters.get(value["Ref"])
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
    if not isinstance(value, list):
        raise TransformFailed(
            f"Transform {LANGUAGE_EXTENSIONS} failed with: {loop} collection must be a list "
            "or a reference to a list parameter"
        )
    return value


def _substitute(node: Any, identifier: str, item: str) -> Any:
    plain = "".join(c for c in item if c.isalnum())
    if isinstance(node, str):
        return node.replace("${" + identifier + "}", item).replace("&{" + identifier + "}", plain)
    if isinstance(node, list):
        return [_substitute(v, identifier, item) for v in node]
    if isinstance(node, dict):
        if node == {"Ref": identifier}:
            return item
        return {
            _substitute(k, identifier, item): _substitute(v, identifier, item)
            for k, v in node.items()
        }
    return node
