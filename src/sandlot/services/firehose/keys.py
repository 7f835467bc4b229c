"""The S3 object keys Firehose writes, as AWS names them.

Default: ``<prefix>YYYY/MM/DD/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>`` (UTC,
from the arrival of the object's first record); a prefix without expressions gets the
``YYYY/MM/DD/HH/`` namespace appended, one with ``!{timestamp:…}``/``!{firehose:…}``
expressions is evaluated instead. GZIP objects end in ``.gz``.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

_EXPRESSION = re.compile(r"!\{([a-zA-Z-]+):([^}]*)\}")
# Java DateTimeFormatter letters AWS documents for !{timestamp:…}, as strftime.
_JAVA_TIME = [("yyyy", "%Y"), ("yy", "%y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"),
              ("mm", "%M"), ("ss", "%S")]  # fmt: skip


def _java_time(pattern: str, moment: datetime) -> str:
    out = pattern
    for java, c in _JAVA_TIME:
        out = out.replace(java, c)
    return moment.strftime(out)


def has_expressions(prefix: str | None) -> bool:
    return bool(prefix and _EXPRESSION.search(prefix))


def expand(
    prefix: str,
    moment: datetime,
    error_type: str | None = None,
    partitions: dict[str, str] | None = None,
) -> str:
    """A prefix with its expressions evaluated (unknown namespaces are refused on create);
    ``partitions``: the dynamic partitioning keys of the object's records, None when the
    stream does not partition (then ``partitionKeyFrom…`` expressions are refused)."""

    def value(match: re.Match) -> str:
        namespace, key = match.group(1), match.group(2)
        if namespace == "timestamp":
            return _java_time(key, moment)
        if namespace in ("partitionKeyFromQuery", "partitionKeyFromLambda"):
            if partitions is None or key not in partitions:
                raise ValueError(f"{namespace}:{key}")
            return partitions[key]
        if key == "random-string":
            return uuid.uuid4().hex[:11]
        if key == "error-output-type":
            return error_type or "processing-failed"
        raise ValueError(f"{namespace}:{key}")

    return _EXPRESSION.sub(value, prefix)


def object_key(
    prefix: str | None,
    stream: str,
    version: int,
    first_arrival: float,
    gzip: bool,
    error_type: str | None = None,
    partitions: dict[str, str] | None = None,
) -> str:
    moment = datetime.fromtimestamp(first_arrival, UTC)
    prefix = prefix or ""
    if has_expressions(prefix):
        head = expand(prefix, moment, error_type, partitions)
    else:
        head = prefix + (f"{error_type}/" if error_type else "") + moment.strftime("%Y/%m/%d/%H/")
    name = f"{stream}-{version}-{moment.strftime('%Y-%m-%d-%H-%M-%S')}-{uuid.uuid4()}"
    return head + name + (".gz" if gzip else "")


# The MetadataExtractionQuery sandlot evaluates: a JQ object of plain paths,
# ``{customer: .customer_id, year: .date.year}``.
_QUERY = re.compile(r"\{\s*(\w+\s*:\s*\.[\w.]+\s*(?:,\s*\w+\s*:\s*\.[\w.]+\s*)*)\}")


def compile_query(query: str) -> list[tuple[str, list[str]]]:
    """(key, path) pairs of a simple JQ query, or ValueError."""
    match = _QUERY.fullmatch(query.strip())
    if match is None:
        raise ValueError(query)
    pairs = []
    for item in match.group(1).split(","):
        key, _, path = item.partition(":")
        pairs.append((key.strip(), path.strip()[1:].split(".")))
    return pairs


def extract(pairs: list[tuple[str, list[str]]], document: object) -> dict[str, str] | None:
    """The partition keys of a parsed record, None when a path leads to no scalar."""
    keys = {}
    for key, path in pairs:
        value = document
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        if value is None or isinstance(value, dict | list):
            return None
        keys[key] = json.dumps(value) if isinstance(value, bool) else str(value)
    return keys
