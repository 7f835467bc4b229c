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

from .errors import StatesError

QUERY_ERROR = "States.QueryEvaluationError"


class JsonataSyntaxError(ValueError):
    pass


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> jsonata.Jsonata:
    body = text[2:-2].strip()
    if not body:
        raise JsonataSyntaxError("empty expression")
    try:
        return jsonata.Jsonata(body)
    except Exception as e:  # the library raises JException (a RuntimeError) on bad syntax
        raise JsonataSyntaxError(str(e)) from None


def evaluate_template(value: Any, bindings: dict) -> Any:
    """`value` with every `{% %}` string replaced by its result (recursively)."""
    if isinstance(value, str):
        if is_expression(value):
            return evaluate_expression(value, bindings)
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            result = evaluate_template(v, bindings)
            if result is not _UNDEFINED:
                out[k] = result
        return out
    if isinstance(value, list):
        return [v for v in (evaluate_template(v, bindings) for v in value) if v is not _UNDEFINED]
    return value


_UNDEFINED = object()


def evaluate_expression(text: str, bindings: dict) -> Any:
    expression = compile_expression(text)
    try:
        result = expression.evaluate(None, {**_FUNCTIONS, **bindings})
    except StatesError:
        raise
    except Exception as e:
        raise StatesError(
            QUERY_ERROR, f"An error occurred while evaluating the expression '{text}': {e}"
        ) from None
    return _plain(result)


def _plain(value: Any) -> Any:
    """jsonata-python returns its sequence type for arrays; the engine wants lists, and
    floats that are whole numbers come back as JSON integers the way AWS prints them."""
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
