"""Intrinsic functions (`"x.$": "States.Format('{}', $.a)"`) in JSONPath states.

`parse_call` turns the text into a tree once (a definition error if it does not parse);
`evaluate` runs it with a resolver for path arguments. Argument errors raise StatesError
"States.IntrinsicFailure" (AWS's error name for an intrinsic that fails at run time).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import uuid
from functools import lru_cache
from typing import Any

from .errors import StatesError

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<func>States\.[A-Za-z0-9]+)\s*\(
    | (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<const>true|false|null)(?![\w.$])
    | (?P<path>\$[^,()\s]*)
    | (?P<close>\))
    | (?P<comma>,)
    )""",
    re.X,
)

FUNCTIONS = {
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.Array",
    "States.ArrayPartition",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.ArrayGetItem",
    "States.ArrayLength",
    "States.ArrayUnique",
    "States.Base64Encode",
    "States.Base64Decode",
    "States.Hash",
    "States.JsonMerge",
    "States.MathRandom",
    "States.MathAdd",
    "States.StringSplit",
    "States.UUID",
}


class IntrinsicSyntaxError(ValueError):
    pass


def is_call(text: Any) -> bool:
    return isinstance(text, str) and text.lstrip().startswith("States.")


@lru_cache(maxsize=2048)
def parse_call(text: str):
    """('call', name, [args]) where an arg is ('lit', v), ('path', text) or a call."""
    tree, pos = _parse(text, 0)
    if tree[0] != "call" or text[pos:].strip():
        raise IntrinsicSyntaxError(text)
    return tree


def _parse(text: str, pos: int):
    m = _TOKEN.match(text, pos)
    if not m:
        raise IntrinsicSyntaxError(text)
    kind = m.lastgroup
    if kind == "func":
        name = m.group("func")
        if name not in FUNCTIONS:
            raise IntrinsicSyntaxError(f"unknown function {name}")
        args: list = []
        pos = m.end()
        close = _TOKEN.match(text, pos)
        if close and close.lastgroup == "close":
            return ("call", name, args), close.end()
        while True:
            arg, pos = _parse(text, pos)
            args.append(arg)
            sep = _TOKEN.match(text, pos)
            if not sep or sep.lastgroup not in ("comma", "close"):
                raise IntrinsicSyntaxError(text)
            pos = sep.end()
            if sep.lastgroup == "close":
                return ("call", name, args), pos
    if kind == "string":
        raw = m.group("string")[1:-1]
        # \' and \\ unescape here; \{ \} stay escaped for States.Format to see.
        return ("lit", re.sub(r"\\(['\\])", r"\1", raw)), m.end()
    if kind == "number":
        v = m.group("number")
        return ("lit", float(v) if any(c in v for c in ".eE") else int(v)), m.end()
    if kind == "const":
        return ("lit", json.loads(m.group("const"))), m.end()
    if kind == "path":
        return ("path", m.group("path")), m.end()
    raise IntrinsicSyntaxError(text)


def evaluate(tree, resolve) -> Any:
    """Evaluate a parsed call; `resolve(path_text)` gives a path argument's value."""
    kind = tree[0]
    if kind == "lit":
        return tree[1]
    if kind == "path":
        return resolve(tree[1])
    _, name, arg_trees = tree
    args = [evaluate(a, resolve) for a in arg_trees]
    return _IMPLS[name](name, args)


def _fail(message: str) -> StatesError:
    return StatesError("States.IntrinsicFailure", message)


def _arity(name: str, args: list, low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not low <= len(args) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise _fail(f"Function {name} expects {expected} arguments, got {len(args)}")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "array" if isinstance(value, list) else "object"


def _need(name: str, value: Any, kind: str, position: int) -> None:
    if _kind(value) != kind and not (kind == "integer" and _is_int(value)):
        raise _fail(
            f"Function {name} expects argument {position} to be of type {kind}, got {_kind(value)}"
        )


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _format(name, args):
    if not args:
        raise _fail(f"Function {name} expects at least 1 argument, got 0")
    template, values = args[0], args[1:]
    _need(name, template, "string", 1)
    out, i, used = [], 0, 0
    while i < len(template):
        c = template[i]
        if c == "\\" and i + 1 < len(template):
            out.append(template[i + 1])
            i += 2
            continue
        if template.startswith("{}", i):
            if used >= len(values):
                raise _fail(f"Function {name} has more placeholders than arguments ({len(values)})")
            v = values[used]
            if isinstance(v, list | dict):
                raise _fail(f"Function {name} does not accept {_kind(v)} arguments")
            out.append(v if isinstance(v, str) else json.dumps(v))
            used += 1
            i += 2
            continue
        out.append(c)
        i += 1
    if used != len(values):
        raise _fail(
            f"Function {name} got {len(values)} arguments for {used} placeholders in its template"
        )
    return "".join(out)


def _string_to_json(name, args):
    _arity(name, args, 1)
    _need(name, args[0], "string", 1)
    if not args[0].strip():
        return None
    try:
        return json.loads(args[0])
    except ValueError:
        raise _fail(f"Function {name} could not parse the string as JSON: {args[0]}") from None


def _json_to_string(name, args):
    _arity(name, args, 1)
    return json.dumps(args[0], separators=(",", ":"), ensure_ascii=False)


def _array(name, args):
    return list(args)


def _array_partition(name, args):
    _arity(name, args, 2)
    array, size = args
    _need(name, array, "array", 1)
    _need(name, size, "integer", 2)
    size = int(size)
    if size <= 0:
        raise _fail(f"Function {name} expects a chunk size greater than 0, got {size}")
    return [array[i : i + size] for i in range(0, len(array), size)]


def _array_contains(name, args):
    from .paths import json_equal

    _arity(name, args, 2)
    _need(name, args[0], "array", 1)
    return any(json_equal(item, args[1]) for item in args[0])


def _array_range(name, args):
    _arity(name, args, 3)
    for i, v in enumerate(args, 1):
        _need(name, v, "integer", i)
    start, end, step = (int(v) for v in args)
    if step == 0:
        raise _fail(f"Function {name} expects a non-zero step")
    values = list(range(start, end + (1 if step > 0 else -1), step))
    if len(values) > 1000:
        raise _fail(f"Function {name} would return more than 1000 items ({len(values)})")
    return values


def _array_get_item(name, args):
    _arity(name, args, 2)
    _need(name, args[0], "array", 1)
    _need(name, args[1], "integer", 2)
    index = int(args[1])
    if not 0 <= index < len(args[0]):
        raise _fail(f"Function {name} index {index} is out of bounds (length {len(args[0])})")
    return args[0][index]


def _array_length(name, args):
    _arity(name, args, 1)
    _need(name, args[0], "array", 1)
    return len(args[0])


def _array_unique(name, args):
    from .paths import json_equal

    _arity(name, args, 1)
    _need(name, args[0], "array", 1)
    out: list = []
    for item in args[0]:
        if not any(json_equal(item, seen) for seen in out):
            out.append(item)
    return out


def _base64_encode(name, args):
    _arity(name, args, 1)
    _need(name, args[0], "string", 1)
    if len(args[0]) > 10000:
        raise _fail(f"Function {name} input exceeds 10000 characters")
    return base64.b64encode(args[0].encode()).decode()


def _base64_decode(name, args):
    _arity(name, args, 1)
    _need(name, args[0], "string", 1)
    if len(args[0]) > 10000:
        raise _fail(f"Function {name} input exceeds 10000 characters")
    try:
        return base64.b64decode(args[0], validate=True).decode()
    except ValueError:
        raise _fail(f"Function {name} input is not valid Base64: {args[0]}") from None


_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(name, args):
    _arity(name, args, 2)
    data, algorithm = args
    if data is None:
        raise _fail(f"Function {name} expects a non-null input")
    if not isinstance(data, str):
        data = json.dumps(data, separators=(",", ":"))
    _need(name, algorithm, "string", 2)
    if algorithm not in _HASHES:
        raise _fail(
            f"Function {name} does not support the algorithm {algorithm}: "
            f"use one of {', '.join(_HASHES)}"
        )
    if len(data) > 10000:
        raise _fail(f"Function {name} input exceeds 10000 characters")
    return hashlib.new(_HASHES[algorithm], data.encode()).hexdigest()


def _json_merge(name, args):
    _arity(name, args, 3)
    _need(name, args[0], "object", 1)
    _need(name, args[1], "object", 2)
    _need(name, args[2], "boolean", 3)
    if args[2]:
        raise _fail(f"Function {name} supports only a shallow merge (third argument false)")
    return {**args[0], **args[1]}


def _math_random(name, args):
    _arity(name, args, 2, 3)
    for i, v in enumerate(args, 1):
        _need(name, v, "integer", i)
    start, end = int(args[0]), int(args[1])
    if start >= end:
        raise _fail(f"Function {name} expects start < end, got {start} and {end}")
    rng = random.Random(int(args[2])) if len(args) == 3 else random
    return rng.randrange(start, end)


def _math_add(name, args):
    _arity(name, args, 2)
    for i, v in enumerate(args, 1):
        _need(name, v, "integer", i)
        if not -(2**31) <= v <= 2**31 - 1:
            raise _fail(f"Function {name} argument {i} is outside the 32-bit integer range")
    return int(args[0]) + int(args[1])


def _string_split(name, args):
    _arity(name, args, 2)
    _need(name, args[0], "string", 1)
    _need(name, args[1], "string", 2)
    if not args[1]:
        return [args[0]]
    parts = re.split("[" + re.escape(args[1]) + "]", args[0])
    return [p for p in parts if p]


def _uuid(name, args):
    _arity(name, args, 0)
    return str(uuid.uuid4())


_IMPLS = {
    "States.Format": _format,
    "States.StringToJson": _string_to_json,
    "States.JsonToString": _json_to_string,
    "States.Array": _array,
    "States.ArrayPartition": _array_partition,
    "States.ArrayContains": _array_contains,
    "States.ArrayRange": _array_range,
    "States.ArrayGetItem": _array_get_item,
    "States.ArrayLength": _array_length,
    "States.ArrayUnique": _array_unique,
    "States.Base64Encode": _base64_encode,
    "States.Base64Decode": _base64_decode,
    "States.Hash": _hash,
    "States.JsonMerge": _json_merge,
    "States.MathRandom": _math_random,
    "States.MathAdd": _math_add,
    "States.StringSplit": _string_split,
    "States.UUID": _uuid,
}
