"""Parsing and validating a definition, with AWS's diagnostics codes and messages.

`check()` walks the whole definition and collects every problem as a diagnostic
(`{"severity", "code", "message", "location"}`, location a JSON pointer like
`/States/Start/Next`); `parse()` refuses a definition with any ERROR, joining them the way
AWS's InvalidDefinition message does. The parsed StateMachine keeps each state's fields
as given (the engine reads them) plus the pieces worth computing once (branch graphs,
the query language in force, compiled paths/intrinsics/JSONata are cached by text).
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import intrinsics, jsonata_support
from .errors import InvalidDefinition
from .paths import PathError, compile_path

JSONPATH, JSONATA = "JSONPath", "JSONata"

STATE_TYPES = ("Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")
_COMMON = {"Type", "Comment", "QueryLanguage"}
_FIELDS = {
    "Pass": {"Next", "End", "InputPath", "OutputPath", "Parameters", "ResultPath", "Result",
             "Assign", "Output"},
    "Task": {"Next", "End", "Resource", "InputPath", "OutputPath", "Parameters",
             "ResultSelector", "ResultPath", "Retry", "Catch", "TimeoutSeconds",
             "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials",
             "Assign", "Arguments", "Output"},
    "Choice": {"Choices", "Default", "InputPath", "OutputPath", "Assign", "Output"},
    "Wait": {"Next", "End", "Seconds", "Timestamp", "SecondsPath", "TimestampPath",
             "InputPath", "OutputPath", "Assign", "Output"},
    "Succeed": {"InputPath", "OutputPath", "Output"},
    "Fail": {"Error", "Cause", "ErrorPath", "CausePath"},
    "Parallel": {"Next", "End", "Branches", "InputPath", "OutputPath", "Parameters",
                 "ResultSelector", "ResultPath", "Retry", "Catch", "Assign", "Arguments",
                 "Output"},
    "Map": {"Next", "End", "Iterator", "ItemProcessor", "ItemsPath", "Items", "ItemSelector",
            "Parameters", "MaxConcurrency", "MaxConcurrencyPath", "InputPath", "OutputPath",
            "ResultSelector", "ResultPath", "Retry", "Catch", "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath", "ToleratedFailureCount",
            "ToleratedFailureCountPath", "ItemReader", "ItemBatcher", "ResultWriter", "Label",
            "Assign", "Arguments", "Output"},
}  # fmt: skip
# Fields that exist only in one query language (AWS refuses them in the other).
_JSONPATH_ONLY = {"InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath",
                  "ItemsPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath",
                  "TimeoutSecondsPath", "HeartbeatSecondsPath", "MaxConcurrencyPath",
                  "ToleratedFailurePercentagePath", "ToleratedFailureCountPath", "Result",
                  "Iterator"}  # fmt: skip
_JSONATA_ONLY = {"Arguments", "Output", "Items"}
_TOP_FIELDS = {"Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage"}
_NO_NEXT = {"Choice", "Succeed", "Fail"}

COMPARISONS = {
    "StringEquals": str, "StringLessThan": str, "StringGreaterThan": str,
    "StringLessThanEquals": str, "StringGreaterThanEquals": str, "StringMatches": str,
    "NumericEquals": float, "NumericLessThan": float, "NumericGreaterThan": float,
    "NumericLessThanEquals": float, "NumericGreaterThanEquals": float,
    "BooleanEquals": bool,
    "TimestampEquals": str, "TimestampLessThan": str, "TimestampGreaterThan": str,
    "TimestampLessThanEquals": str, "TimestampGreaterThanEquals": str,
    "IsNull": bool, "IsPresent": bool, "IsNumeric": bool, "IsString": bool,
    "IsBoolean": bool, "IsTimestamp": bool,
}  # fmt: skip
for _op in [k for k in COMPARISONS if not k.startswith(("Is", "StringMatches"))]:
    COMPARISONS[_op + "Path"] = "path"
_STATE_NAME_MAX = 80
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Graph:
    """One flow of states: the machine itself, a Parallel branch, a Map's processor."""

    def __init__(self, raw: dict, query_language: str, location: str):
        # Nested flows inherit the machine's language, not their Parallel/Map state's (AWS).
        self.machine_language = query_language
        self.raw = raw
        self.start_at: str = raw.get("StartAt")
        self.states: dict[str, dict] = raw.get("States") or {}
        self.query_language = query_language
        self.location = location
        self.branches: dict[str, list[Graph]] = {}  # Parallel state name -> branch graphs
        self.processors: dict[str, Graph] = {}  # Map state name -> item processor
        self.languages: dict[str, str] = {}  # state name -> its query language


class StateMachine(Graph):
    def __init__(self, definition: str, raw: dict, query_language: str):
        super().__init__(raw, query_language, "")
        self.definition = definition
        self.timeout_seconds = raw.get("TimeoutSeconds")


def parse(definition: str) -> StateMachine:
    """The validated StateMachine; InvalidDefinition with AWS's message otherwise."""
    machine, found = _check(definition)
    errors = [d for d in found if d["severity"] == "ERROR"]
    if errors:
        joined = ", ".join(
            f"{d['code']}: {d['message']} at {d.get('location') or 'null'}" for d in errors
        )
        raise InvalidDefinition(f"Invalid State Machine Definition: '{joined}'", found)
    return machine


def diagnostics(definition: str) -> list[dict]:
    """ValidateStateMachineDefinition's diagnostics (errors first, then warnings)."""
    found = _check(definition)[1]
    return sorted(found, key=lambda d: d["severity"] != "ERROR")


def _check(definition: str) -> tuple[StateMachine | None, list[dict]]:
    out = _Diagnostics()
    if not isinstance(definition, str) or not definition.strip():
        out.error("MISSING_DESCRIPTION", "Received a null or empty workflow input", "/")
        return None, out.items
    try:
        raw = json.loads(definition)
    except ValueError as e:
        out.error("INVALID_JSON_DESCRIPTION", f"Unable to parse the definition as JSON: {e}", "/")
        return None, out.items
    if not isinstance(raw, dict):
        out.error("SCHEMA_VALIDATION_FAILED", "The definition must be a JSON object", "/")
        return None, out.items
    for field in raw:
        if field not in _TOP_FIELDS:
            out.schema(f"Field '{field}' is not supported", "/")
    language = raw.get("QueryLanguage", JSONPATH)
    if language not in (JSONPATH, JSONATA):
        out.schema("QueryLanguage must be one of [JSONPath, JSONata]", "/QueryLanguage")
        language = JSONATA
    timeout = raw.get("TimeoutSeconds")
    if timeout is not None and (not _is_int(timeout) or timeout < 1):
        out.schema("TimeoutSeconds must be a positive integer", "/TimeoutSeconds")
    machine = StateMachine(definition, raw, language)
    _check_graph(machine, out)
    return machine, out.items


class _Diagnostics:
    def __init__(self):
        self.items: list[dict] = []

    def error(self, code: str, message: str, location: str | None) -> None:
        self._add("ERROR", code, message, location)

    def warning(self, code: str, message: str, location: str) -> None:
        self._add("WARNING", code, message, location)

    def _add(self, severity: str, code: str, message: str, location: str | None) -> None:
        item = {"severity": severity, "code": code, "message": message}
        if location is not None:  # optional in the API (AWS gives none for some)
            item["location"] = location
        self.items.append(item)

    def schema(self, message: str, location: str) -> None:
        self.error("SCHEMA_VALIDATION_FAILED", message, location)


def _only_in(language: str, field: str) -> str:
    other = JSONATA if language == JSONPATH else JSONPATH
    return (
        f"The QueryLanguage is set to '{other}', but field '{field}' is only supported for "
        f"the '{language}' QueryLanguage"
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_graph(graph: Graph, out: _Diagnostics) -> None:
    raw, at = graph.raw, graph.location
    missing = [f for f in ("StartAt", "States") if f not in raw]
    if missing:
        out.schema(f"These fields are required: [{', '.join(missing)}]", at or "/")
        return
    states = raw["States"]
    if not isinstance(states, dict) or not states:
        out.schema("States must be a non-empty object", f"{at}/States")
        return
    if not isinstance(raw["StartAt"], str) or raw["StartAt"] not in states:
        out.error(
            "MISSING_TRANSITION_TARGET",
            f"Missing 'Next' target: {raw['StartAt']}",
            f"{at}/StartAt",
        )
    for name, state in states.items():
        _check_state(graph, name, state, out)
    _check_reachability(graph, out)


def _targets(state: dict) -> list[tuple[str, str]]:
    """(target, field location suffix) for every transition a state names."""
    found = []
    if isinstance(state.get("Next"), str):
        found.append((state["Next"], "/Next"))
    if isinstance(state.get("Default"), str):
        found.append((state["Default"], "/Default"))
    for i, rule in enumerate(_list(state.get("Choices"))):
        if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
            found.append((rule["Next"], f"/Choices[{i}]/Next"))
    for i, catcher in enumerate(_list(state.get("Catch"))):
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            found.append((catcher["Next"], f"/Catch[{i}]/Next"))
    return found


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _check_reachability(graph: Graph, out: _Diagnostics) -> None:
    states, at = graph.states, graph.location
    terminal = False
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        terminal = terminal or state.get("End") is True or state.get("Type") in ("Succeed", "Fail")
        for target, suffix in _targets(state):
            if target not in states:
                out.error(
                    "MISSING_TRANSITION_TARGET",
                    f"Missing 'Next' target: {target}",
                    f"{at}/States/{name}{suffix}",
                )
    if not terminal:
        # AWS reports it without a location ("… at null").
        out.error("MISSING_END_STATE", "Workflow has no terminal state", None)
        return  # AWS then skips the unreachable-state walk
    seen, todo = set(), [graph.start_at] if graph.start_at in states else []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        if isinstance(state, dict):
            todo.extend(t for t, _ in _targets(state) if t in states)
    for name in states:
        if name not in seen and graph.start_at in states:
            out.error(
                "MISSING_TRANSITION_TARGET",
                f'State "{name}" is not reachable.',
                f"{at}/States/{name}",
            )


def _check_state(graph: Graph, name: str, state: Any, out: _Diagnostics) -> None:
    at = f"{graph.location}/States/{name}"
    if len(name) > _STATE_NAME_MAX or not name:
        out.error(
            "INVALID_STATE_NAME",
            f"State name must be 1 to {_STATE_NAME_MAX} characters long",
            at,
        )
    if not isinstance(state, dict):
        out.schema("A state must be a JSON object", at)
        return
    kind = state.get("Type")
    if kind is None:
        out.schema("These fields are required: [Type]", at)
        return
    if kind not in STATE_TYPES:
        out.schema(f"Value is not a valid state type: {kind}", f"{at}/Type")
        return
    language = state.get("QueryLanguage", graph.query_language)
    if language not in (JSONPATH, JSONATA):
        out.schema("QueryLanguage must be one of [JSONPath, JSONata]", f"{at}/QueryLanguage")
        language = JSONATA
    if graph.query_language == JSONATA and language == JSONPATH:
        out.schema(
            "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
            at,
        )
    graph.languages[name] = language
    for field in state:
        if field not in _FIELDS[kind] and field not in _COMMON:
            out.schema(f"Field '{field}' is not supported", at)
        elif language == JSONATA and field in _JSONPATH_ONLY:
            out.schema(_only_in(JSONPATH, field), at)
        elif language == JSONPATH and field in _JSONATA_ONLY:
            out.schema(_only_in(JSONATA, field), at)
    if kind not in _NO_NEXT:
        has_next, has_end = "Next" in state, "End" in state
        if has_next and has_end:
            out.schema("The fields Next and End cannot both be set", at)
        elif not has_next and not has_end:
            out.schema("These fields are required: [Next] or [End]", at)
        if has_next and not isinstance(state["Next"], str):
            out.schema("Next must be a string", f"{at}/Next")
        if has_end and state["End"] is not True:
            out.schema("End must be true", f"{at}/End")
    if language == JSONPATH:
        _check_jsonpath_fields(state, at, out)
    else:
        _check_jsonata_fields(state, at, out)
    if "Assign" in state:
        _check_assign(state["Assign"], language, f"{at}/Assign", out)
    for field in ("Retry", "Catch"):
        if field in state:
            _check_handlers(state[field], field, language, f"{at}/{field}", out)
    check = _KIND_CHECKS.get(kind)
    if check:
        check(graph, name, state, at, language, out)


def _check_path(value: Any, field: str, at: str, out: _Diagnostics, reference=False) -> None:
    if value is None and field in ("InputPath", "OutputPath", "ResultPath"):
        return
    try:
        _compile_any(value, reference)
    except (PathError, TypeError):
        kind = "a valid reference path" if reference else "a valid JSONPath"
        out.schema(f"The value for the field '{field}' must be {kind}", f"{at}/{field}")


def _compile_any(text: Any, reference: bool = False) -> None:
    """Compile a path as ASL allows it: `$...`, `$$...` (context) or `$var...`."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathError(text)
    if text.startswith("$$"):
        compile_path(text[1:], reference)
        return
    m = _VARIABLE.match(text, 1)
    compile_path("$" + text[m.end() :] if m else text, reference)


def _check_jsonpath_fields(state: dict, at: str, out: _Diagnostics) -> None:
    for field in ("InputPath", "OutputPath", "ItemsPath"):
        if field in state:
            _check_path(state[field], field, at, out)
    if "ResultPath" in state:
        value = state["ResultPath"]
        if value is not None and (not isinstance(value, str) or value.startswith("$$")):
            out.schema("The value for the field 'ResultPath' must be a valid reference path",
                       f"{at}/ResultPath")  # fmt: skip
        else:
            _check_path(value, "ResultPath", at, out, reference=True)
    for field in ("Parameters", "ResultSelector", "ItemSelector"):
        if field in state:
            _check_template(state[field], f"{at}/{field}", out)
    for field in ("SecondsPath", "TimestampPath", "TimeoutSecondsPath", "HeartbeatSecondsPath",
                  "MaxConcurrencyPath", "ToleratedFailurePercentagePath",
                  "ToleratedFailureCountPath"):  # fmt: skip
        if field in state:
            _check_path(state[field], field, at, out, reference=True)
    for field in ("ErrorPath", "CausePath"):
        value = state.get(field)
        if field in state and not intrinsics.is_call(value):
            _check_path(value, field, at, out)
        elif field in state:
            _check_intrinsic(value, field, at, out)


def _check_template(template: Any, at: str, out: _Diagnostics) -> None:
    """A payload template: `"k.$"` values must be paths or intrinsic calls."""
    if isinstance(template, list):
        for i, item in enumerate(template):
            _check_template(item, f"{at}[{i}]", out)
        return
    if not isinstance(template, dict):
        return
    for key, value in template.items():
        if key.endswith(".$"):
            if intrinsics.is_call(value):
                _check_intrinsic(value, key, at, out)
                continue
            try:
                _compile_any(value)
            except PathError:
                out.schema(
                    f"The value for the field '{key}' must be a valid JSONPath or a valid "
                    "intrinsic function call",
                    at,
                )
        else:
            if isinstance(value, str) and (value.startswith("$.") or value == "$"):
                out.warning(
                    "NO_DOLLAR",
                    f"The field '{key}' looks like a JSONPath: to evaluate it, name the field "
                    f"'{key}.$'",
                    f"{at}/{key}",
                )
            _check_template(value, f"{at}/{key}", out)


def _check_intrinsic(value: str, field: str, at: str, out: _Diagnostics) -> None:
    try:
        tree = intrinsics.parse_call(value)
        _check_intrinsic_paths(tree)
    except (intrinsics.IntrinsicSyntaxError, PathError):
        out.schema(
            f"The value for the field '{field}' must be a valid JSONPath or a valid intrinsic "
            "function call",
            at,
        )


def _check_intrinsic_paths(tree) -> None:
    if tree[0] == "path":
        _compile_any(tree[1])
    elif tree[0] == "call":
        for arg in tree[2]:
            _check_intrinsic_paths(arg)


def _check_jsonata_fields(state: dict, at: str, out: _Diagnostics) -> None:
    for field in ("Arguments", "Output", "Items", "ItemSelector", "Seconds", "Timestamp",
                  "TimeoutSeconds", "HeartbeatSeconds", "MaxConcurrency", "Error", "Cause",
                  "ToleratedFailurePercentage", "ToleratedFailureCount"):  # fmt: skip
        if field in state:
            _check_jsonata_value(state[field], f"{at}/{field}", out)


def _check_jsonata_value(value: Any, at: str, out: _Diagnostics) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _check_jsonata_value(item, f"{at}/{key}", out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_jsonata_value(item, f"{at}[{i}]", out)
    elif jsonata_support.is_expression(value):
        try:
            names = jsonata_support.top_level_references(value)
        except jsonata_support.JsonataSyntaxError as e:
            out.error("INVALID_JSONATA_EXPRESSION", str(e), at)
            return
        for name in names:  # no context item exists at the top of an ASL expression
            out.error(
                "UNSUPPORTED_JSONATA_EXPRESSION",
                f"Reference to '{name}' at the top level is not supported.",
                at,
            )


def _check_assign(assign: Any, language: str, at: str, out: _Diagnostics) -> None:
    if not isinstance(assign, dict):
        out.schema("Assign must be a JSON object", at)
        return
    for key in assign:
        name = key[:-2] if language == JSONPATH and key.endswith(".$") else key
        if not _VARIABLE.fullmatch(name) or name == "states":
            out.schema(f"The variable name '{name}' is not valid", f"{at}/{key}")
    if language == JSONPATH:
        _check_template(assign, at, out)
    else:
        _check_jsonata_value(assign, at, out)


def _check_handlers(items: Any, field: str, language: str, at: str, out: _Diagnostics) -> None:
    if not isinstance(items, list):
        out.schema(f"{field} must be an array", at)
        return
    for i, item in enumerate(items):
        where = f"{at}[{i}]"
        if not isinstance(item, dict):
            out.schema(f"Each {field} entry must be a JSON object", where)
            continue
        allowed = {"ErrorEquals", "Comment"} | (
            {"IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy"}
            if field == "Retry"
            else {"Next", "ResultPath", "Output", "Assign"}
        )
        for key in item:
            if key not in allowed:
                out.schema(f"Field '{key}' is not supported", where)
        errors = item.get("ErrorEquals")
        if not isinstance(errors, list) or not errors:
            out.schema("These fields are required: [ErrorEquals]", where)
        elif "States.ALL" in errors:
            if len(errors) != 1:
                out.schema('"States.ALL" must appear alone in ErrorEquals', f"{where}/ErrorEquals")
            if i != len(items) - 1:
                out.schema(
                    f'A {"Retrier" if field == "Retry" else "Catcher"} with "States.ALL" must be '
                    f"the last in {field}",
                    f"{where}/ErrorEquals",
                )
        if field == "Retry":
            _check_retrier(item, where, out)
        else:
            if "Next" not in item:
                out.schema("These fields are required: [Next]", where)
            if "ResultPath" in item:
                if language == JSONATA:
                    out.schema(_only_in(JSONPATH, "ResultPath"), where)
                else:
                    _check_path(item["ResultPath"], "ResultPath", where, out, reference=True)
            if "Assign" in item:
                _check_assign(item["Assign"], language, f"{where}/Assign", out)
            if "Output" in item and language == JSONATA:
                _check_jsonata_value(item["Output"], f"{where}/Output", out)


def _check_retrier(item: dict, at: str, out: _Diagnostics) -> None:
    if "IntervalSeconds" in item and (
        not _is_int(item["IntervalSeconds"]) or item["IntervalSeconds"] < 1
    ):
        out.schema("IntervalSeconds must be a positive integer", f"{at}/IntervalSeconds")
    if "MaxAttempts" in item and (not _is_int(item["MaxAttempts"]) or item["MaxAttempts"] < 0):
        out.schema("MaxAttempts must be a non-negative integer", f"{at}/MaxAttempts")
    if "BackoffRate" in item and (not _is_number(item["BackoffRate"]) or item["BackoffRate"] < 1.0):
        out.schema("BackoffRate must be a number greater than or equal to 1.0",
                   f"{at}/BackoffRate")  # fmt: skip
    if "MaxDelaySeconds" in item and (
        not _is_int(item["MaxDelaySeconds"]) or item["MaxDelaySeconds"] < 1
    ):
        out.schema("MaxDelaySeconds must be a positive integer", f"{at}/MaxDelaySeconds")
    if item.get("JitterStrategy", "NONE") not in ("FULL", "NONE"):
        out.schema("JitterStrategy must be one of [FULL, NONE]", f"{at}/JitterStrategy")


def _check_task(graph, name, state, at, language, out) -> None:
    resource = state.get("Resource")
    if resource is None:
        out.schema("These fields are required: [Resource]", at)
    elif not isinstance(resource, str) or not resource.startswith("arn:"):
        out.error("INVALID_RESOURCE", f"Value is not a valid resource ARN: {resource}",
                  f"{at}/Resource")  # fmt: skip
    for field in ("TimeoutSeconds", "HeartbeatSeconds"):
        value = state.get(field)
        if value is None or jsonata_support.is_expression(value):
            continue
        if not _is_int(value) or value < 1:
            out.schema(f"{field} must be a positive integer", f"{at}/{field}")
    timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
    if _is_int(timeout) and _is_int(heartbeat) and heartbeat >= timeout:
        out.schema("HeartbeatSeconds must be smaller than TimeoutSeconds",
                   f"{at}/HeartbeatSeconds")  # fmt: skip
    for a, b in (("TimeoutSeconds", "TimeoutSecondsPath"),
                 ("HeartbeatSeconds", "HeartbeatSecondsPath")):  # fmt: skip
        if a in state and b in state:
            out.schema(f"The fields {a} and {b} cannot both be set", at)


def _check_choice(graph, name, state, at, language, out) -> None:
    choices = state.get("Choices")
    if not isinstance(choices, list) or not choices:
        out.schema("These fields are required: [Choices]" if choices is None
                   else "Choices must be a non-empty array", at)  # fmt: skip
        return
    for i, rule in enumerate(choices):
        _check_rule(rule, f"{at}/Choices[{i}]", language, out, top=True)


def _check_rule(rule: Any, at: str, language: str, out: _Diagnostics, top: bool) -> None:
    if not isinstance(rule, dict):
        out.schema("A Choice Rule must be a JSON object", at)
        return
    if top and "Next" not in rule:
        out.schema("These fields are required: [Next]", at)
    if not top and "Next" in rule:
        out.schema('The field "Next" is only allowed in a top-level Choice Rule', at)
    if language == JSONATA:
        for key in rule:
            if key not in ("Condition", "Next", "Comment", "Output", "Assign"):
                out.schema(_only_in(JSONPATH, key) if key in COMPARISONS or key == "Variable"
                           else f"Field '{key}' is not supported", at)  # fmt: skip
        if "Condition" not in rule:
            out.schema("These fields are required: [Condition]", at)
        else:
            _check_jsonata_value(rule["Condition"], f"{at}/Condition", out)
        if "Assign" in rule:
            _check_assign(rule["Assign"], language, f"{at}/Assign", out)
        if "Output" in rule:
            _check_jsonata_value(rule["Output"], f"{at}/Output", out)
        return
    operators = [k for k in rule if k in ("And", "Or", "Not")]
    comparisons = [k for k in rule if k in COMPARISONS]
    for key in rule:
        if key not in COMPARISONS and key not in ("And", "Or", "Not", "Variable", "Next",
                                                  "Comment", "Assign"):  # fmt: skip
            out.schema(f"Field '{key}' is not supported", at)
    if "Assign" in rule:
        _check_assign(rule["Assign"], language, f"{at}/Assign", out)
    if len(operators) + len(comparisons) != 1:
        out.schema("A Choice Rule must have exactly one comparison operator or And/Or/Not", at)
        return
    if operators:
        op = operators[0]
        value = rule[op]
        if op == "Not":
            _check_rule(value, f"{at}/Not", language, out, top=False)
        elif not isinstance(value, list) or not value:
            out.schema(f"{op} must be a non-empty array of Choice Rules", f"{at}/{op}")
        else:
            for i, sub in enumerate(value):
                _check_rule(sub, f"{at}/{op}[{i}]", language, out, top=False)
        return
    if "Variable" not in rule:
        out.schema("These fields are required: [Variable]", at)
    else:
        _check_path(rule["Variable"], "Variable", at, out)
    op = comparisons[0]
    expected, value = COMPARISONS[op], rule[op]
    ok = (
        _check_path_ok(value)
        if expected == "path"
        else isinstance(value, bool)
        if expected is bool
        else _is_number(value)
        if expected is float
        else isinstance(value, str)
    )
    if not ok:
        out.schema(f"The value of {op} is not valid", f"{at}/{op}")


def _check_path_ok(value: Any) -> bool:
    try:
        _compile_any(value)
        return True
    except PathError:
        return False


def _check_wait(graph, name, state, at, language, out) -> None:
    given = [f for f in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if f in state]
    if len(given) != 1:
        out.schema(
            "A Wait state must have exactly one of Seconds, Timestamp, SecondsPath or "
            "TimestampPath",
            at,
        )
        return
    value = state[given[0]]
    if language == JSONATA and jsonata_support.is_expression(value):
        return
    if given[0] == "Seconds" and (not _is_int(value) or value < 0):
        out.schema("Seconds must be a non-negative integer", f"{at}/Seconds")
    if given[0] == "Timestamp" and parse_timestamp(value) is None:
        out.schema("Timestamp must be an ISO-8601 timestamp", f"{at}/Timestamp")


def _check_fail(graph, name, state, at, language, out) -> None:
    for a, b in (("Error", "ErrorPath"), ("Cause", "CausePath")):
        if a in state and b in state:
            out.schema(f"The fields {a} and {b} cannot both be set", at)
        if language == JSONPATH and a in state and not isinstance(state[a], str):
            out.schema(f"{a} must be a string", f"{at}/{a}")


def _check_parallel(graph, name, state, at, language, out) -> None:
    branches = state.get("Branches")
    if not isinstance(branches, list) or not branches:
        out.schema("These fields are required: [Branches]" if branches is None
                   else "Branches must be a non-empty array", at)  # fmt: skip
        return
    graphs = []
    for i, branch in enumerate(branches):
        where = f"{at}/Branches[{i}]"
        if not isinstance(branch, dict):
            out.schema("A branch must be a JSON object", where)
            continue
        sub = Graph(branch, graph.machine_language, where)
        _check_graph(sub, out)
        graphs.append(sub)
    graph.branches[name] = graphs


def _check_map(graph, name, state, at, language, out) -> None:
    field = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
    processor = state.get(field)
    if "ItemProcessor" in state and "Iterator" in state:
        out.schema("The fields ItemProcessor and Iterator cannot both be set", at)
    if not isinstance(processor, dict):
        out.schema("These fields are required: [ItemProcessor]", at)
        return
    if "Parameters" in state and "ItemSelector" in state:
        out.schema("The fields Parameters and ItemSelector cannot both be set", at)
    config = processor.get("ProcessorConfig") or {}
    if config.get("Mode", "INLINE") not in ("INLINE", "DISTRIBUTED"):
        out.schema("ProcessorConfig Mode must be one of [INLINE, DISTRIBUTED]",
                   f"{at}/{field}/ProcessorConfig/Mode")  # fmt: skip
    for key in ("MaxConcurrency", "ToleratedFailureCount"):
        value = state.get(key)
        if (
            value is not None
            and not jsonata_support.is_expression(value)
            and (not _is_int(value) or value < 0)
        ):
            out.schema(f"{key} must be a non-negative integer", f"{at}/{key}")
    value = state.get("ToleratedFailurePercentage")
    if (
        value is not None
        and not jsonata_support.is_expression(value)
        and (not _is_number(value) or not 0 <= value <= 100)
    ):
        out.schema("ToleratedFailurePercentage must be a number from 0 to 100",
                   f"{at}/ToleratedFailurePercentage")  # fmt: skip
    reader = state.get("ItemReader")
    settings = reader.get("ReaderConfig") if isinstance(reader, dict) else None
    for key, allowed in _READER_ENUMS.items():
        if isinstance(settings, dict) and key in settings and settings[key] not in allowed:
            out.schema(f"{key} must be one of [{', '.join(allowed)}]",
                       f"{at}/ItemReader/ReaderConfig/{key}")  # fmt: skip
    if isinstance(settings, dict):  # AWS's combinations ("ItemReader (Map)")
        where = f"{at}/ItemReader/ReaderConfig"
        if settings.get("Transformation") == "LOAD_AND_FLATTEN" and "InputType" not in settings:
            out.schema("InputType is required when Transformation is LOAD_AND_FLATTEN", where)
        if settings.get("ManifestType") == "S3_INVENTORY" and "InputType" in settings:
            out.schema("InputType must not be set when ManifestType is S3_INVENTORY", where)
    if "ResultWriter" in state:
        _check_result_writer(state["ResultWriter"], f"{at}/ResultWriter", language, out)
    body = {k: v for k, v in processor.items() if k != "ProcessorConfig"}
    if "QueryLanguage" in processor:
        out.schema("Field 'QueryLanguage' is not supported", f"{at}/{field}")
    sub = Graph(body, graph.machine_language, f"{at}/{field}")
    _check_graph(sub, out)
    graph.processors[name] = sub


_READER_ENUMS = {"InputType": ("CSV", "JSON", "JSONL", "PARQUET", "MANIFEST"),
                 "Transformation": ("NONE", "LOAD_AND_FLATTEN"),
                 "ManifestType": ("ATHENA_DATA", "S3_INVENTORY"),
                 "CSVDelimiter": ("COMMA", "PIPE", "SEMICOLON", "SPACE", "TAB"),
                 "CSVHeaderLocation": ("FIRST_ROW", "GIVEN")}  # fmt: skip
_WRITER_ENUMS = {"Transformation": ("NONE", "COMPACT", "FLATTEN"), "OutputType": ("JSON", "JSONL")}


def _check_result_writer(writer: Any, at: str, language: str, out: _Diagnostics) -> None:
    """A Distributed Map's ResultWriter: a WriterConfig, a Resource with its
    Parameters (JSONata: Arguments), or all three, as AWS's schema has it. (An empty
    one AWS accepts here and fails at run time.)"""
    if not isinstance(writer, dict):
        out.schema("ResultWriter must be a JSON object", at)
        return
    template = "Arguments" if language == JSONATA else "Parameters"
    for field in writer:
        if field not in ("Resource", "Parameters", "Arguments", "WriterConfig"):
            out.schema(f"Field '{field}' is not supported", at)
        elif field in ("Parameters", "Arguments") and field != template:
            out.schema(_only_in(JSONATA if field == "Arguments" else JSONPATH, field), at)
    if "Resource" in writer:
        if writer["Resource"] != "arn:aws:states:::s3:putObject":
            out.error("INVALID_RESOURCE", "Value is not a valid resource ARN: "
                      f"{writer['Resource']}", f"{at}/Resource")  # fmt: skip
        if template not in writer:
            out.schema(f"These fields are required: [{template}]", at)
    elif template in writer:
        out.schema("These fields are required: [Resource]", at)
    if "WriterConfig" not in writer:
        return
    config = writer["WriterConfig"]
    if not isinstance(config, dict):
        out.schema("WriterConfig must be a JSON object", f"{at}/WriterConfig")
        return
    for field, value in config.items():
        allowed = _WRITER_ENUMS.get(field)
        if allowed is None:
            out.schema(f"Field '{field}' is not supported", f"{at}/WriterConfig")
        elif value not in allowed:
            out.schema(f"{field} must be one of [{', '.join(allowed)}]",
                       f"{at}/WriterConfig/{field}")  # fmt: skip


_KIND_CHECKS = {
    "Task": _check_task,
    "Choice": _check_choice,
    "Wait": _check_wait,
    "Fail": _check_fail,
    "Parallel": _check_parallel,
    "Map": _check_map,
}


def parse_timestamp(value: Any):
    """An RFC 3339 timestamp as AWS accepts it (`2016-03-14T01:59:00Z`), or None."""
    from datetime import datetime

    if not isinstance(value, str) or "T" not in value:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
