"""Reading a template: JSON or YAML (with the short-form tags ``!Ref``, ``!GetAtt a.b``,
``!Sub`` …), the sections' shape, and AWS's "Template format error" messages.

Pure: text in, a plain dict (or a ``TemplateError``) out.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

SECTIONS = frozenset(
    {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules",
     "Mappings", "Conditions", "Transform", "Resources", "Outputs", "Hooks"}
)  # fmt: skip
RESOURCE_ATTRIBUTES = frozenset(
    {"Type", "Properties", "DependsOn", "Condition", "DeletionPolicy", "UpdateReplacePolicy",
     "Metadata", "CreationPolicy", "UpdatePolicy"}
)  # fmt: skip


class TemplateError(Exception):
    """A template AWS refuses: the message is AWS's (a ValidationError to the caller)."""


def format_error(detail: str) -> TemplateError:
    return TemplateError(f"Template format error: {detail}")


class _Loader(yaml.SafeLoader):
    """YAML as CloudFormation reads it: short-form tags become their long form, and
    scalars that YAML 1.1 would turn into dates ("2010-09-09") stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct(node: yaml.Node, loader: _Loader) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _tag(loader: _Loader, suffix: str, node: yaml.Node) -> dict:
    value = _construct(node, loader)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        logical, _, attribute = value.partition(".")
        value = [logical, attribute]
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _tag)


def parse(body: str) -> dict:
    """The template as a dict; JSON when it parses as JSON, else YAML (as AWS does)."""
    text = body.strip()
    if text.startswith("{"):
        try:
            template = json.loads(text)
        except json.JSONDecodeError as e:
            raise format_error(
                f"JSON not well-formed. (line {e.lineno},  column {e.colno})"
            ) from None
    else:
        try:
            template = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise format_error(f"YAML not well-formed.{where}") from None
        except yaml.YAMLError:
            raise format_error("YAML not well-formed.") from None
    if not isinstance(template, dict):
        raise format_error("unsupported structure.")
    return template


def check_sections(template: dict) -> None:
    """The top-level shape AWS checks before anything else."""
    unknown = sorted(k for k in template if k not in SECTIONS)
    if unknown:
        raise format_error(f"Invalid template property or properties [{', '.join(unknown)}]")
    version = template.get("AWSTemplateFormatVersion")
    if version is not None and str(version) != "2010-09-09":
        raise format_error(f"'{version}' is not a supported AWSTemplateFormatVersion value.")
    resources = template.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise format_error("At least one Resources member must be defined.")
    for name, resource in resources.items():
        if not isinstance(resource, dict):
            raise format_error(f"[/Resources/{name}] resource definition is malformed")
        if not isinstance(resource.get("Type"), str):
            raise format_error(
                f"[/Resources/{name}] Every Resources object must contain a Type member."
            )
        extra = sorted(k for k in resource if k not in RESOURCE_ATTRIBUTES)
        if extra:
            raise format_error(
                f"Unrecognized resource attributes [{', '.join(extra)}] in /Resources/{name}"
            )
    for section in ("Parameters", "Mappings", "Conditions", "Outputs"):
        value = template.get(section)
        if value is not None and not isinstance(value, dict):
            raise format_error(f"{section} section must be an object")
    for name, output in (template.get("Outputs") or {}).items():
        if not isinstance(output, dict) or "Value" not in output:
            raise format_error(
                f"Every Outputs member must contain a Value object, the Outputs member {name} does not"
            )
    for name, parameter in (template.get("Parameters") or {}).items():
        if not isinstance(parameter, dict) or "Type" not in parameter:
            raise format_error(
                f"Every Parameters object must contain a Type member. (/Parameters/{name})"
            )
