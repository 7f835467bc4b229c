"""A Distributed Map's ItemReader datasets, as AWS's "ItemReader (Map)" describes them:
the items of an S3 object (``s3:getObject``: JSON — an array, or the one ``ItemsPointer``
points at —, JSON Lines, text-delimited with ``CSVDelimiter``/``CSVHeaderLocation``, an S3
inventory manifest, an Athena UNLOAD manifest) or of an S3 listing (``s3:listObjectsV2``:
the objects' metadata, or with ``Transformation: LOAD_AND_FLATTEN`` the items of every
object listed). Objects whose key ends in ``.gz`` are GZIP-decompressed.

Pure: S3 is read through the ``fetch`` the engine passes (the runtime's
``aws-sdk:s3:*`` integration, as the machine's role). A dataset that cannot be read fails
with ``States.ItemReaderFailed``.
"""

from __future__ import annotations

import base64
import binascii
import csv
import gzip
import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import StatesError

Fetch = Callable[[str, dict], Awaitable[dict]]
GET = "arn:aws:states:::aws-sdk:s3:getObject"
LIST = "arn:aws:states:::aws-sdk:s3:listObjectsV2"
# ReaderConfig CSVDelimiter (AWS's names; COMMA by default).
CSV_DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}


def failed(message: str) -> StatesError:
    return StatesError("States.ItemReaderFailed", message)


async def read(resource: str, arguments: dict, config: dict, fetch: Fetch, limit: int) -> list:
    """The dataset's items (at most ``limit`` when it is not 0)."""
    if resource == "arn:aws:states:::s3:listObjectsV2":
        return await _listing(arguments, config, fetch, limit)
    if resource != "arn:aws:states:::s3:getObject":
        raise failed(f"The ItemReader Resource '{resource}' is not supported: use "
                     "arn:aws:states:::s3:getObject or arn:aws:states:::s3:listObjectsV2")  # fmt: skip
    body = await _get(fetch, arguments)
    key = str(arguments.get("Key", ""))
    manifest = config.get("ManifestType")
    if config.get("InputType") == "MANIFEST" or manifest == "S3_INVENTORY":
        return await _inventory(body, key, config, fetch, limit)
    if manifest == "ATHENA_DATA":
        items: list = []
        for line in _text(body, key).splitlines():
            if line.strip() and (not limit or len(items) < limit):
                bucket, _, data_key = line.strip().removeprefix("s3://").partition("/")
                data = await _get(fetch, {"Bucket": bucket, "Key": data_key})
                items.extend(parse(data, data_key, config))
        return items
    return parse(body, key, config)


async def _get(fetch: Fetch, request: dict) -> Any:
    return (await fetch(GET, request)).get("Body", "")


async def _listing(arguments: dict, config: dict, fetch: Fetch, limit: int) -> list:
    listed: list = []
    request = dict(arguments)
    flatten = config.get("Transformation") == "LOAD_AND_FLATTEN"
    while True:
        page = await fetch(LIST, request)
        listed.extend(page.get("Contents") or [])
        if not page.get("IsTruncated") or (limit and not flatten and len(listed) >= limit):
            break
        request["ContinuationToken"] = page["NextContinuationToken"]
    if not flatten:
        return listed
    items: list = []  # each object's own items, in the listing's order
    for entry in listed:
        if limit and len(items) >= limit:
            break
        body = await _get(fetch, {"Bucket": arguments.get("Bucket"), "Key": entry["Key"]})
        items.extend(parse(body, entry["Key"], config))
    return items


async def _inventory(body: Any, key: str, config: dict, fetch: Fetch, limit: int) -> list:
    """An S3 inventory report's objects: its manifest.json names CSV data files (GZIP)
    in the destination bucket, whose columns ``fileSchema`` lists."""
    try:
        manifest = json.loads(_text(body, key))
        bucket = manifest["destinationBucket"].rsplit(":", 1)[-1]
        headers = [h.strip() for h in manifest["fileSchema"].split(",")]
        files = [f["key"] for f in manifest["files"]]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise failed(f"The ItemReader could not read the S3 inventory manifest: {e}") from None
    if manifest.get("fileFormat", "CSV") != "CSV":
        raise failed("The S3 inventory report's fileFormat must be CSV")
    given = {**config, "InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": headers}
    items: list = []
    for data_key in files:
        if limit and len(items) >= limit:
            break
        items.extend(parse(await _get(fetch, {"Bucket": bucket, "Key": data_key}), data_key, given))
    return items


def _bytes(body: Any, key: str) -> bytes:
    """An object's bytes, decompressed by its key's extension. The runtime hands a
    blob over as text, or base64 when it is not UTF-8 (as a compressed object is)."""
    compressed = key.endswith(".gz")
    if key.endswith((".zst", ".zstd")):
        raise failed("The ItemReader cannot read ZSTD-compressed objects in sandlot (GZIP only)")
    if isinstance(body, str):
        if compressed:
            try:
                body = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                body = body.encode()
        else:
            body = body.encode()
    if compressed:
        try:
            return gzip.decompress(body)
        except (OSError, EOFError) as e:
            raise failed(f"The ItemReader could not decompress {key}: {e}") from None
    return body


def _text(body: Any, key: str) -> str:
    return _bytes(body, key).decode("utf-8", errors="replace")


def parse(body: Any, key: str, config: dict) -> list:
    """An object's items: a JSON array (or the one ItemsPointer names), JSON Lines, or
    text-delimited rows as objects of strings (AWS's rules: a short row gets empty
    strings, a long one loses its extra fields; a backslash escapes)."""
    text = _text(body, key)
    kind = config.get("InputType", "JSON")
    try:
        if kind == "JSON":
            items = _pointed(json.loads(text), config.get("ItemsPointer"))
            if not isinstance(items, list):
                raise ValueError("the JSON document is not an array")
            return items
        if kind == "JSONL":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        if kind == "CSV":
            delimiter = CSV_DELIMITERS.get(config.get("CSVDelimiter", "COMMA"), ",")
            rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter,
                                          escapechar="\\") if r]  # fmt: skip
            if config.get("CSVHeaderLocation", "FIRST_ROW") == "GIVEN":
                headers = config.get("CSVHeaders") or []
            else:
                headers, rows = (rows[0], rows[1:]) if rows else ([], [])
            return [{h: row[i] if i < len(row) else "" for i, h in enumerate(headers)}
                    for row in rows]  # fmt: skip
    except (ValueError, csv.Error) as e:
        raise failed(f"The ItemReader could not parse the {kind} object: {e}") from None
    raise failed(f"The ItemReader InputType {kind} is not supported")


def _pointed(document: Any, pointer: str | None) -> Any:
    """The value an RFC 6901 JSON Pointer (``/inventory/products``) names."""
    if not pointer:
        return document
    value = document
    for token in pointer.lstrip("/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            raise ValueError(f"ItemsPointer {pointer} names nothing in the document")
    return value
