"""JSONata in ASL: `{% expr %}` strings, evaluated with jsonata-python.

A field value is an expression when it is a string that starts with `{%` and ends with
`%}`; inside objects and arrays each such string is evaluated in place. Expressions see
`$states` (input, result, errorOutput, context) and the workflow variables, plus the
functions AWS adds to JSONata ($partition, $range, $hash, $random, $uuid, $parse).
Compiled expressions are cached by text.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from functools import lru_cache
from typing import Any

import jsonata
from jsonata import utils

from .errors import StatesError

QUERY_ERROR = "States.QueryEvaluationError"
_NULL = utils.Utils.NULL_VALUE


class JsonataSyntaxError(ValueError):
    pass


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> jsonata.Jsonata:
    body = text[2:-2].strip()
    if not body:
        raise JsonataSyntaxError("Unexpected end of expression")
    try:
        expression = jsonata.Jsonata(body)
    except Exception as e:  # the library raises JException (a RuntimeError) on bad syntax
        raise JsonataSyntaxError(str(e)) from None
    # Keep JSON null (NULL_VALUE) apart from "undefined" (None): AWS fails a field whose
    # expression returns nothing, while null is a value.
    expression.set_output_convert_nulls(False)
    return expression


@lru_cache(maxsize=4096)
def top_level_references(text: str) -> tuple[str, ...]:
    """Field names an expression reads with no context item (`phone`, `a.b`).

    ASL evaluates JSONata with no input document, so AWS refuses such references at
    definition time; inside a path's later steps, predicates and lambdas a context exists.
    """
    found: list[str] = []

    def walk(node) -> None:
        if node is None:
            return
        if isinstance(node, list | tuple):
            for item in node:
                walk(item)
            return
        kind = getattr(node, "type", None)
        if kind is None or kind == "lambda":
            return
        if kind == "name":
            if node.value not in found:
                found.append(node.value)
            return
        if kind == "path":
            walk(node.steps[0] if node.steps else None)
            return
        for attr in ("lhs", "rhs", "condition", "then", "_else", "expressions", "arguments",
                     "lhs_object", "expression"):  # fmt: skip
            walk(getattr(node, attr, None))

    walk(compile_expression(text).ast)
    return tuple(found)


def evaluate_template(value: Any, bindings: dict, field: str = "") -> Any:
    """`value` with every `{% %}` string replaced by its result (recursively).

    `field` names the position for errors the way AWS does: `Output/values[0]`.
    """
    if isinstance(value, str):
        if is_expression(value):
            return evaluate_expression(value, bindings, field)
        return value
    if isinstance(value, dict):
        return {
            k: evaluate_template(v, bindings, f"{field}/{k}" if field else k)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [evaluate_template(v, bindings, f"{field}[{i}]") for i, v in enumerate(value)]
    return value


def evaluate_expression(text: str, bindings: dict, field: str = "") -> Any:
    expression = compile_expression(text)
    try:
        # A variable holding JSON null must read as null, not as an unbound name.
        values = {k: _NULL if v is None else v for k, v in bindings.items()}
        result = expression.evaluate(None, {**_FUNCTIONS, **values})
    except StatesError:
        raise
    except Exception as e:
        # AWS: "… threw an error during evaluation. T0410: <message>" (": <message>" uncoded)
        code = getattr(e, "error", None)
        tail = f". {code}: {e}" if isinstance(code, str) and code else f": {e}"
        raise StatesError(
            QUERY_ERROR,
            f"The JSONata expression '{text[2:-2].strip()}' specified for the field '{field}' "
            f"threw an error during evaluation{tail}",
        ) from None
    if result is None:
        raise StatesError(
            QUERY_ERROR,
            f"The JSONata expression '{text[2:-2].strip()}' specified for the field "
            f"'{field}' returned nothing (undefined).",
        )
    return _plain(result)


def _plain(value: Any) -> Any:
    """jsonata-python's values as plain JSON: its null marker becomes None, its sequences
    lists, and whole-number floats JSON integers (as AWS prints them)."""
    if value is utils.Utils.NULL_VALUE:
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _partition(array, size):
    if not isinstance(array, list) or not isinstance(size, int | float) or size <= 0:
        raise StatesError(QUERY_ERROR, "$partition expects an array and a positive chunk size")
    size = int(size)
    return [array[i : i + size] for i in range(0, len(array), size)]


def _range(start, end, step):
    start, end, step = int(start), int(end), int(step)
    if step == 0:
        raise StatesError(QUERY_ERROR, "$range expects a non-zero step")
    values = list(range(start, end + (1 if step > 0 else -1), step))
    if len(values) > 1000:
        raise StatesError(QUERY_ERROR, "$range would return more than 1000 items")
    return values


_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(data, algorithm):
    if algorithm not in _HASHES:
        raise StatesError(QUERY_ERROR, f"$hash does not support the algorithm {algorithm}")
    if not isinstance(data, str):
        data = json.dumps(data, separators=(",", ":"))
    return hashlib.new(_HASHES[algorithm], data.encode()).hexdigest()


def _random(seed=None):
    return random.Random(seed).random() if seed is not None else random.random()


def _parse(text):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise StatesError(
            QUERY_ERROR, f"$parse could not parse the string as JSON: {text}"
        ) from None


def _no_eval(*_):
    # AWS: "$eval is not available; use $parse instead".
    raise StatesError(QUERY_ERROR, "The function $eval is not supported: use $parse")


_FUNCTIONS = {
    "eval": jsonata.Jsonata.JLambda(_no_eval),
    "partition": jsonata.Jsonata.JLambda(_partition),
    "range": jsonata.Jsonata.JLambda(_range),
    "hash": jsonata.Jsonata.JLambda(_hash),
    "random": jsonata.Jsonata.JLambda(_random),
    "uuid": jsonata.Jsonata.JLambda(lambda: str(uuid.uuid4())),
    "parse": jsonata.Jsonata.JLambda(_parse),
}
