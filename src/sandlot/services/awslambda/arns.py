"""Lambda's names and ARNs: building them exactly as AWS does, and reading what callers send.

A function may be named as ``my-function``, ``my-function:qualifier``,
``123456789012:function:my-function[:qualifier]`` (a partial ARN) or the full
``arn:aws:lambda:<region>:<account>:function:my-function[:qualifier]``. Layers as a
name or ``arn:aws:lambda:<region>:<account>:layer:<name>``, layer versions by
``…:layer:<name>:<version>``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

LATEST = "$LATEST"

_NAME = r"[a-zA-Z0-9_-]+"
_QUALIFIER = r"\$LATEST|[a-zA-Z0-9_-]+"
_REGION = r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d"
_FULL = re.compile(
    rf"^arn:aws[a-zA-Z-]*:lambda:({_REGION}):(\d{{12}}):function:({_NAME})(?::({_QUALIFIER}))?$"
)
_PARTIAL = re.compile(rf"^(\d{{12}}):function:({_NAME})(?::({_QUALIFIER}))?$")
_PLAIN = re.compile(rf"^({_NAME})(?::({_QUALIFIER}))?$")
_LAYER = re.compile(rf"^arn:aws[a-zA-Z-]*:lambda:({_REGION}):(\d{{12}}):layer:({_NAME})$")
_LAYER_VERSION = re.compile(
    rf"^arn:aws[a-zA-Z-]*:lambda:({_REGION}):(\d{{12}}):layer:({_NAME}):([0-9]+)$"
)
ALIAS_NAME = re.compile(r"^(?!\d+$)[a-zA-Z0-9_-]{1,128}$")
VERSION_NUMBER = re.compile(r"^[0-9]+$")


@dataclass(frozen=True, slots=True)
class FunctionRef:
    """A function as a caller named it; ``account``/``region`` only when an ARN said so."""

    name: str
    qualifier: str | None = None
    account: str | None = None
    region: str | None = None


def parse_function_name(value: str) -> FunctionRef | None:
    """Read a FunctionName in any of the forms AWS accepts; None if it is none of them."""
    if match := _FULL.match(value):
        region, account, name, qualifier = match.groups()
        return FunctionRef(name, qualifier, account, region)
    if match := _PARTIAL.match(value):
        account, name, qualifier = match.groups()
        return FunctionRef(name, qualifier, account)
    if match := _PLAIN.match(value):
        name, qualifier = match.groups()
        return FunctionRef(name, qualifier)
    return None


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def layer_arn(region: str, account: str, name: str, version: int | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:layer:{name}"
    return f"{arn}:{version}" if version is not None else arn


@dataclass(frozen=True, slots=True)
class LayerRef:
    """A layer (``version`` None) or one layer version, with the ARN's account/region."""

    name: str
    version: int | None
    account: str | None = None
    region: str | None = None


def parse_layer_name(value: str) -> LayerRef | None:
    """A LayerName parameter: a plain name or a layer ARN (without version)."""
    if match := _LAYER.match(value):
        region, account, name = match.groups()
        return LayerRef(name, None, account, region)
    if re.fullmatch(_NAME, value):
        return LayerRef(value, None)
    return None


def parse_layer_version_arn(value: str) -> LayerRef | None:
    """A LayerVersionArn; None when it is not one."""
    match = _LAYER_VERSION.match(value)
    if match is None:
        return None
    region, account, name, version = match.groups()
    return LayerRef(name, int(version), account, region)


def version_key(version: str) -> int:
    """The sort key of a version: 0 for $LATEST, else its number."""
    return 0 if version == LATEST else int(version)


def version_name(version_num: int) -> str:
    return LATEST if version_num == 0 else str(version_num)


def timestamp(seconds: float) -> str:
    """AWS Lambda's time format: ``2024-01-01T00:00:00.000+0000``."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
