"""The dependency graph of a template's resources: who refers to whom (Ref, Fn::GetAtt,
Fn::Sub, DependsOn), AWS's errors for unknown targets and cycles, and the order."""

from __future__ import annotations

from typing import Any

from sandlot.services.cloudformation.intrinsics import references
from sandlot.services.cloudformation.template import TemplateError, format_error

PSEUDO_PARAMETERS = frozenset(
    {"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
     "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}
)  # fmt: skip


def depends_on(resource: dict) -> list[str]:
    value = resource.get("DependsOn", [])
    return [value] if isinstance(value, str) else list(value)


def dependencies(template: dict) -> dict[str, set[str]]:
    """For each resource, the resources it needs first; AWS's format errors for names
    that are neither a resource, a parameter nor a pseudo parameter."""
    resources: dict[str, Any] = template["Resources"]
    parameters = set(template.get("Parameters") or {})
    graph: dict[str, set[str]] = {}
    unresolved: list[str] = []
    for name, resource in resources.items():
        needs: set[str] = set()
        body = {k: v for k, v in resource.items() if k != "DependsOn"}
        for target in sorted(references(body)):
            if target in resources:
                needs.add(target)
            elif target not in parameters and target not in PSEUDO_PARAMETERS:
                unresolved.append(target)
        for target in depends_on(resource):
            if target not in resources:
                raise format_error(
                    f"Unresolved resource dependencies [{target}] in the Resources block of the template"
                )
            needs.add(target)
        graph[name] = needs
    for output in (template.get("Outputs") or {}).values():
        for target in sorted(references(output)):
            if (
                target not in resources
                and target not in parameters
                and target not in PSEUDO_PARAMETERS
            ):
                unresolved.append(target)
    if unresolved:
        names = ", ".join(dict.fromkeys(unresolved))
        raise format_error(
            f"Unresolved resource dependencies [{names}] in the Resources block of the template"
        )
    check_cycles(graph)
    return graph


def check_cycles(graph: dict[str, set[str]]) -> None:
    """AWS's "Circular dependency between resources: [...]" naming what cannot be ordered."""
    remaining = {name: set(needs) for name, needs in graph.items()}
    changed = True
    while changed:
        changed = False
        for name in [n for n, needs in remaining.items() if not needs]:
            del remaining[name]
            for needs in remaining.values():
                needs.discard(name)
            changed = True
    if remaining:
        raise TemplateError(
            f"Circular dependency between resources: [{', '.join(sorted(remaining))}]"
        )


def reverse(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Who depends on each resource: the order for deletion."""
    dependents: dict[str, set[str]] = {name: set() for name in graph}
    for name, needs in graph.items():
        for target in needs:
            dependents.setdefault(target, set()).add(name)
    return dependents
