"""API Gateway's Velocity (VTL) mapping templates on the ``airspeed`` engine.

``check`` parses a template (PutIntegration/PutIntegrationResponse refuse a bad one
with BadRequestException, so nothing fails at request time for a syntax error);
``render`` merges it with API Gateway's variables:

- ``$input``: ``body``, ``json(path)``, ``path(path)`` (a JSONPath on the JSON body),
  ``params()`` (``{"path","querystring","header"}``) and ``params(name)`` (path, then
  query string, then header, as AWS searches);
- ``$util``: ``escapeJavaScript``, ``parseJson``, ``urlEncode``, ``urlDecode``,
  ``base64Encode``, ``base64Decode``;
- ``$context``: what the caller passes (requestId, identity, authorizer, stage, …) plus
  ``requestOverride``/``responseOverride`` maps a template may ``#set``;
- ``$stageVariables``.

Velocity renders Java values: maps as ``{a=1}``, lists as ``[1, 2]``, booleans as
``true``; JSON values are converted so templates print what AWS prints. airspeed
resolves ``$x.name`` with Python ``getattr``: names starting with ``_`` are refused at
``check`` so a template cannot reach Python internals (``$x.__class__``).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import airspeed


class TemplateError(Exception):
    """A template that does not parse, or fails while rendering."""


# -- Java-like values ------------------------------------------------------------------------


def _java(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


class JMap(dict):
    """A JSON object as Velocity sees it (a ``java.util.Map``)."""

    def __str__(self) -> str:
        return "{" + ", ".join(f"{k}={_java(v)}" for k, v in self.items()) + "}"

    def size(self) -> int:
        return len(self)

    def isEmpty(self) -> bool:  # noqa: N802 - Java's name
        return not self

    def keySet(self) -> list:  # noqa: N802
        return JList(self.keys())

    def containsKey(self, key) -> bool:  # noqa: N802
        return key in self

    def put(self, key, value) -> None:
        self[key] = value

    def entrySet(self) -> list:  # noqa: N802
        return JList(JMap(key=k, value=v) for k, v in self.items())


class JList(list):
    """A JSON array as Velocity sees it (a ``java.util.List``)."""

    def __str__(self) -> str:
        return "[" + ", ".join(_java(v) for v in self) + "]"

    def size(self) -> int:
        return len(self)

    def isEmpty(self) -> bool:  # noqa: N802
        return not self

    def contains(self, value) -> bool:
        return value in self

    def get(self, index: int):
        return self[int(index)]

    def add(self, value) -> bool:
        self.append(value)
        return True


class JBool:
    """``true``/``false`` as Velocity prints them, truthy as Python expects."""

    def __init__(self, value: bool) -> None:
        self.value = value

    def __bool__(self) -> bool:
        return self.value

    def __eq__(self, other) -> bool:
        return self.value == (other.value if isinstance(other, JBool) else other)

    def __hash__(self) -> int:
        return hash(self.value)

    def __str__(self) -> str:
        return "true" if self.value else "false"


def velocity(value: Any) -> Any:
    """A JSON value (parsed by ``json``) as Velocity values."""
    if isinstance(value, dict):
        return JMap((k, velocity(v)) for k, v in value.items())
    if isinstance(value, list):
        return JList(velocity(v) for v in value)
    if isinstance(value, bool):
        return JBool(value)
    return value


def _plain(value: Any) -> Any:
    """Velocity values back to JSON-serialisable ones."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, JBool):
        return value.value
    return value


# -- JSONPath --------------------------------------------------------------------------------

_STEP = re.compile(
    r"\.\.|\.\*|\.([A-Za-z_$@][\w$@-]*)|\[\s*\*\s*\]|\[\s*(-?\d+)\s*\]"
    r"|\[\s*'((?:[^'\\]|\\.)*)'\s*\]|\[\s*\"((?:[^\"\\]|\\.)*)\"\s*\]"
)


def jsonpath(document: Any, path: str) -> Any:
    """The value at ``path`` (``$``, ``.name``, ``['name']``, ``[n]``, ``[*]``, ``.*``,
    ``..name``): one value, or a list for wildcards and deep scans; None when absent."""
    # `..name` / `..*` as the deep scan then the `.name` / `.*` step.
    path = re.sub(r"\.\.(?=[A-Za-z_$@*])", "...", path.strip())
    if not path.startswith("$"):
        raise TemplateError(f"Invalid JSONPath: {path}")
    values, many, position, deep = [document], False, 1, False
    while position < len(path):
        step = _STEP.match(path, position)
        if step is None:
            raise TemplateError(f"Invalid JSONPath: {path}")
        position = step.end()
        text = step[0]
        if text == "..":
            deep, many = True, True
            continue
        if deep:
            values = [d for v in values for d in _descendants(v)]
            deep = False
        if text == ".*" or text.replace(" ", "") == "[*]":
            many = True
            values = [
                c for v in values
                for c in (v.values() if isinstance(v, dict) else v if isinstance(v, list) else [])
            ]  # fmt: skip
        elif step[2] is not None:
            index = int(step[2])
            values = [v[index] for v in values if isinstance(v, list) and -len(v) <= index < len(v)]
        else:
            name = next(g for g in (step[1], step[3], step[4]) if g is not None)
            values = [v[name] for v in values if isinstance(v, dict) and name in v]
    if deep:
        raise TemplateError(f"Invalid JSONPath: {path}")
    if many:
        return values
    return values[0] if values else None


def _descendants(value: Any) -> list:
    found = [value]
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    )
    for child in children:
        found.extend(_descendants(child))
    return found


# -- the variables ---------------------------------------------------------------------------


class Input:
    """``$input``."""

    def __init__(self, body: str, params: dict[str, dict[str, str]]) -> None:
        self.body = body
        self._params = params
        self._parsed: Any = ...

    def _document(self) -> Any:
        if self._parsed is ...:
            try:
                self._parsed = json.loads(self.body) if self.body.strip() else {}
            except ValueError:
                # AWS answers this when a template reads a body that is not JSON.
                raise TemplateError("Unable to parse the request body as JSON") from None
        return self._parsed

    def json(self, path: str = "$") -> str:
        return json.dumps(_plain(jsonpath(self._document(), str(path))), separators=(",", ":"))

    def path(self, path: str = "$") -> Any:
        return velocity(jsonpath(self._document(), str(path)))

    def params(self, name: str | None = None) -> Any:
        if name is None:
            return JMap((kind, JMap(values)) for kind, values in self._params.items())
        for kind in ("path", "querystring", "header"):
            values = self._params.get(kind, {})
            if kind == "header":
                lowered = {k.lower(): v for k, v in values.items()}
                if str(name).lower() in lowered:
                    return lowered[str(name).lower()]
            elif name in values:
                return values[name]
        return ""


_JS_ESCAPES = {'"': '\\"', "\\": "\\\\", "'": "\\'", "/": "\\/", "\b": "\\b",
               "\n": "\\n", "\t": "\\t", "\f": "\\f", "\r": "\\r"}  # fmt: skip


class Util:
    """``$util``."""

    @staticmethod
    def escapeJavaScript(text: Any) -> str:  # noqa: N802 - AWS's name
        # Java's StringEscapeUtils.escapeJavaScript, which API Gateway uses: `'` and `/`
        # escaped too, other characters outside printable ASCII as upper-case \uXXXX.
        return "".join(_JS_ESCAPES.get(c) or (c if " " <= c <= "~" else f"\\u{ord(c):04X}")
                       for c in str(text))  # fmt: skip

    @staticmethod
    def parseJson(text: Any) -> Any:  # noqa: N802
        try:
            return velocity(json.loads(str(text)))
        except ValueError:
            raise TemplateError("Invalid JSON in $util.parseJson") from None

    @staticmethod
    def urlEncode(text: Any) -> str:  # noqa: N802
        return quote_plus(str(text))

    @staticmethod
    def urlDecode(text: Any) -> str:  # noqa: N802
        return unquote_plus(str(text))

    @staticmethod
    def base64Encode(text: Any) -> str:  # noqa: N802
        return base64.b64encode(str(text).encode()).decode()

    @staticmethod
    def base64Decode(text: Any) -> str:  # noqa: N802
        return base64.b64decode(str(text)).decode("utf-8", "replace")


# -- parse and render ------------------------------------------------------------------------

_COMPILED: dict[str, airspeed.Template] = {}


def _compile(template: str) -> airspeed.Template:
    found = _COMPILED.get(template)
    if found is None:
        found = airspeed.Template(template)
        try:
            found.ensure_compiled()
        except airspeed.TemplateSyntaxError as error:
            raise TemplateError(str(error)) from None
        for name in _names(found.root_element):
            if name.startswith("_"):
                raise TemplateError(f"Invalid reference name: {name}")
        _limit_loops(found.root_element, set())
        if len(_COMPILED) > 512:
            _COMPILED.clear()
        _COMPILED[template] = found
    return found


def _names(element: Any, seen: set[int] | None = None) -> list[str]:
    """Every name a parsed template looks up (its elements' ``name``/``terms``)."""
    seen = seen if seen is not None else set()
    if id(element) in seen or not hasattr(element, "__dict__"):
        return []
    seen.add(id(element))
    names = []
    for key, value in vars(element).items():
        if key in ("name", "loop_var_name") and isinstance(value, str):
            names.append(value)
        elif key == "terms" and isinstance(value, list):
            names.extend(t for t in value if isinstance(t, str))
        elif isinstance(value, list):
            for item in value:
                names.extend(_names(item, seen))
        elif isinstance(value, airspeed._Element):
            names.extend(_names(value, seen))
    return names


# AWS's quota: a #foreach runs at most 1,000 times; sandlot also bounds a whole render
# (nested loops) so a template cannot hold the event loop.
FOREACH_LIMIT = 1000
RENDER_ITERATIONS = 100_000


class _Limited:
    """A #foreach's value, counted against the loop's and the render's budgets."""

    def __init__(self, value) -> None:
        self.value = value

    def calculate(self, namespace, loader):
        iterable = self.value.calculate(namespace, loader)
        try:
            size = len(iterable)
        except TypeError:
            return iterable  # airspeed reports what is not iterable
        if size > FOREACH_LIMIT:
            raise TemplateError(f"#foreach over {size} items: the limit is {FOREACH_LIMIT}")
        budget = namespace["_budget"]
        budget[0] -= size
        if budget[0] < 0:
            raise TemplateError(f"the template ran more than {RENDER_ITERATIONS} iterations")
        return iterable


def _limit_loops(element: Any, seen: set[int]) -> None:
    if id(element) in seen or not hasattr(element, "__dict__"):
        return
    seen.add(id(element))
    if isinstance(element, airspeed.ForeachDirective) and not isinstance(element.value, _Limited):
        element.value = _Limited(element.value)
    for value in vars(element).values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, airspeed._Element):
                _limit_loops(item, seen)


def check(template: str) -> str | None:
    """Why ``template`` is not a valid mapping template, or None."""
    try:
        _compile(template)
    except TemplateError as error:
        return str(error)
    return None


def render(
    template: str,
    *,
    body: str,
    params: dict[str, dict[str, str]],
    context: dict,
    stage_variables: dict[str, str],
) -> tuple[str, dict]:
    """(the output, ``$context`` after the template: its ``requestOverride`` /
    ``responseOverride`` as set). Raises TemplateError."""
    ctx = velocity(context)
    ctx.setdefault("requestOverride", JMap(header=JMap(), querystring=JMap(), path=JMap()))
    ctx.setdefault("responseOverride", JMap(header=JMap(), status=None))
    namespace = {
        "input": Input(body, params),
        "util": Util(),
        "context": ctx,
        "stageVariables": JMap(stage_variables),
        "_budget": [RENDER_ITERATIONS],  # templates cannot name it (no `_` names)
    }
    try:
        output = _compile(template).merge(namespace)
    except TemplateError:
        raise
    except airspeed.TemplateExecutionError as error:
        cause = error.__cause__
        raise TemplateError(str(cause if isinstance(cause, TemplateError) else error)) from None
    except Exception as error:  # noqa: BLE001 - a template's runtime error is the user's
        raise TemplateError(str(error)) from None
    return output, ctx
