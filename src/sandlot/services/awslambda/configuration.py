"""A function version's configuration: AWS's defaults, applying parameters, its rows.

The stored configuration is a JSON object with the API's member names where they
exist (Runtime, Handler, Role, Timeout, MemorySize, …) and a few flattened ones:
``Environment`` (the variables), ``TracingMode``, ``EphemeralStorage`` (MB),
``SnapStart`` (ApplyOn), ``Layers`` (ARN, size, package digest, unzipped size each),
``CodeSha`` (hex), ``CodeSize``, ``UnzippedSize``, and on published versions
``PublishedFrom`` (the fingerprint of the $LATEST they were published from).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sandlot.services.awslambda.arns import parse_layer_version_arn, timestamp
from sandlot.services.awslambda.records import Package, Records
from sandlot.services.awslambda.validation import (
    UNZIPPED_MAX,
    check_environment,
    check_layer_count,
    check_memory,
    check_runtime,
    check_timeout,
    invalid,
)

# Members that are simply replaced when given.
_SCALARS = ("Runtime", "Handler", "Role", "Description", "Timeout", "MemorySize", "KMSKeyArn")
_PASSTHROUGH = ("DeadLetterConfig", "VpcConfig", "FileSystemConfigs")

# Members that change how a version runs: they (with code and layers) make its digest.
EXECUTION_MEMBERS = (
    "Runtime",
    "Handler",
    "MemorySize",
    "Timeout",
    "EphemeralStorage",
    "Environment",
    "Role",
    "Architectures",
    "ImageConfig",  # an image function's EntryPoint, Command, WorkingDirectory
    "LoggingConfig",
    "TracingMode",
)


def defaults(name: str) -> dict[str, Any]:
    """A new function's configuration before its parameters apply: AWS's defaults."""
    return {
        "Runtime": None,
        "Handler": None,
        "Role": None,
        "Description": "",
        "Timeout": 3,
        "MemorySize": 128,
        "Environment": None,
        "TracingMode": "PassThrough",
        "Architectures": ["x86_64"],
        "EphemeralStorage": 512,
        "SnapStart": "None",
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
        "Layers": [],
    }


def configure(
    params: dict[str, Any], base: dict[str, Any], layers: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """``base`` with the members ``params`` set (``layers`` already resolved), checked."""
    config = dict(base)
    for member in (*_SCALARS, *_PASSTHROUGH):
        if member in params:
            config[member] = params[member]
    if "Environment" in params:
        config["Environment"] = (params["Environment"] or {}).get("Variables") or None
    if "TracingConfig" in params:
        config["TracingMode"] = params["TracingConfig"].get("Mode") or "PassThrough"
    if "EphemeralStorage" in params:
        config["EphemeralStorage"] = params["EphemeralStorage"]["Size"]
    if params.get("Architectures"):
        config["Architectures"] = params["Architectures"]
    if "SnapStart" in params:
        config["SnapStart"] = params["SnapStart"].get("ApplyOn") or "None"
    if "LoggingConfig" in params:
        config["LoggingConfig"] = logging_config(config["LoggingConfig"], params["LoggingConfig"])
    if layers is not None:
        config["Layers"] = layers
    if "ImageConfig" in params:
        config["ImageConfig"] = params["ImageConfig"] or None
    image = config.get("PackageType") == "Image"
    if not image and (not config.get("Runtime") or not config.get("Handler")):
        raise invalid(
            "Runtime and Handler are mandatory parameters for functions created with "
            "deployment packages."
        )
    check_runtime(params.get("Runtime"))
    check_memory(config["MemorySize"])
    check_timeout(config["Timeout"])
    check_environment(config.get("Environment"))
    if "CodeSha" in config and not image:
        check_unzipped(config)
    return config


def logging_config(current: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """LoggingConfig after an update: log levels exist only with the JSON format."""
    log_format = given.get("LogFormat") or current.get("LogFormat", "Text")
    result = {"LogFormat": log_format, "LogGroup": given.get("LogGroup") or current["LogGroup"]}
    if log_format == "JSON":
        for level in ("ApplicationLogLevel", "SystemLogLevel"):
            result[level] = given.get(level) or current.get(level) or "INFO"
    elif given.get("ApplicationLogLevel") or given.get("SystemLogLevel"):
        raise invalid(
            'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel '
            'from your request or change the LogFormat to "Json" and try again.'
        )
    return result


def resolve_layers(
    records: Records, account: str, region: str, arns: list[str]
) -> list[dict[str, Any]]:
    """The Layers parameter as stored: each version must exist in this region (another
    account's only gets here when its policy let IAM allow lambda:GetLayerVersion), at
    most five, and at most one version of each layer."""
    check_layer_count(arns)
    layers: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for arn in arns:
        ref = parse_layer_version_arn(arn)
        row = None
        if ref and ref.region == region:
            row = records.layer(ref.account, region, ref.name, ref.version)
        if row is None:
            raise invalid(f"Layer version {arn} does not exist.")
        if ref.name in seen:
            raise invalid(
                "Two different versions of the same layer are not allowed to be referenced "
                f"in the same function. {seen[ref.name]} and {arn}"
            )
        seen[ref.name] = arn
        package = records.package(row["code_sha"])
        layers.append(
            {
                "Arn": arn,
                "CodeSize": row["code_size"],
                "Sha": row["code_sha"],
                "UnzippedSize": package["unzipped_size"] if package else 0,
            }
        )
    return layers


def attach_package(config: dict[str, Any], package: Package) -> None:
    """Point the configuration at a received package (checking the unzipped total)."""
    config["CodeSha"] = package.sha
    config["CodeSize"] = package.size
    config["UnzippedSize"] = package.unzipped_size
    check_unzipped(config)


def check_unzipped(config: dict[str, Any]) -> None:
    """Function and layers together must stay under 250 MB unzipped."""
    total = config.get("UnzippedSize", 0)
    total += sum(layer.get("UnzippedSize", 0) for layer in config["Layers"])
    if total > UNZIPPED_MAX:
        raise invalid(f"Unzipped size must be smaller than {UNZIPPED_MAX} bytes")


def fingerprint(config: dict[str, Any]) -> str:
    """What PublishVersion compares: the code and configuration of $LATEST."""
    relevant = {k: v for k, v in config.items() if k != "PublishedFrom"}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def execution_digest(config: dict[str, Any], version: str) -> str:
    """Identifies what runs: equal digests may share execution environments."""
    source = {
        "version": version,
        "code": config["CodeSha"],
        "layers": [layer["Sha"] for layer in config["Layers"]],
        **{member: config.get(member) for member in EXECUTION_MEMBERS},
    }
    return hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()


def new_revision() -> str:
    return str(uuid.uuid4())


def new_version_row(
    account: str,
    region: str,
    name: str,
    number: int,
    config: dict[str, Any],
    now: float,
    *,
    active: bool,
) -> dict[str, Any]:
    """A new version row: ``active`` (its packages are already extracted) or Pending."""
    row = {
        "account": account,
        "region": region,
        "name": name,
        "version_num": number,
        "config": json.dumps(config),
        "active_config": None,
        "code_sha": config["CodeSha"],
        "code_size": config["CodeSize"],
        "state": "Pending",
        "state_reason": "The function is being created.",
        "state_reason_code": "Creating",
        "update_status": None,
        "update_reason": None,
        "update_reason_code": None,
        "revision_id": new_revision(),
        "last_modified": timestamp(now),
    }
    if active:
        row.update(
            state="Active",
            state_reason=None,
            state_reason_code=None,
            update_status="Successful",
            active_config=row["config"],
        )
    return row
