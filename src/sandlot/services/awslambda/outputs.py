"""Stored rows → the model's output shapes (FunctionConfiguration, AliasConfiguration,
LayerVersion), with AWS's defaults and member choices."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from sandlot.services.awslambda.arns import function_arn, layer_arn, version_name

# Configuration members copied to the output as given (no behaviour behind them here).
PASSTHROUGH = ("DeadLetterConfig", "KMSKeyArn", "VpcConfig", "FileSystemConfigs")


def code_sha256(hex_digest: str) -> str:
    """CodeSha256 as AWS reports it: the base64 of the zip's SHA-256."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def runtime_version_arn(region: str, runtime: str) -> str:
    """A stable runtime version ARN per runtime (sandlot runs one version of each)."""
    digest = hashlib.sha256(f"sandlot:{runtime}".encode()).hexdigest()
    return f"arn:aws:lambda:{region}::runtime:{digest}"


def configuration(
    row: dict[str, Any],
    qualifier: str | None = None,
    snapshot_state: str | None = None,
    snapshot_failure: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A version row as FunctionConfiguration; ``qualifier`` qualifies FunctionArn;
    ``snapshot_state``: a SnapStart version's State while its snapshot is made, and
    ``snapshot_failure`` the (StateReasonCode, StateReason) of a Failed one."""
    config = json.loads(row["config"])
    account, region, name = row["account"], row["region"], row["name"]
    # SnapStart applies to published versions only, never to $LATEST (as in AWS).
    apply_on = config.get("SnapStart", "None")
    snapped = apply_on == "PublishedVersions" and row["version_num"] > 0
    optimization = "On" if snapped else "Off"
    out: dict[str, Any] = {
        "FunctionName": name,
        "FunctionArn": function_arn(region, account, name, qualifier),
        "Role": config["Role"],
        "CodeSize": config["CodeSize"],
        "Description": config.get("Description", ""),
        "Timeout": config["Timeout"],
        "MemorySize": config["MemorySize"],
        "LastModified": row["last_modified"],
        "CodeSha256": code_sha256(config["CodeSha"]),
        "Version": version_name(row["version_num"]),
        "TracingConfig": {"Mode": config.get("TracingMode", "PassThrough")},
        "RevisionId": row["revision_id"],
        "State": row["state"],
        "PackageType": config.get("PackageType", "Zip"),
        "Architectures": config["Architectures"],
        "EphemeralStorage": {"Size": config["EphemeralStorage"]},
        "SnapStart": {"ApplyOn": apply_on, "OptimizationStatus": optimization},
        "LoggingConfig": config["LoggingConfig"],
    }
    if config.get("Runtime"):
        out["Runtime"] = config["Runtime"]
        out["RuntimeVersionConfig"] = {
            "RuntimeVersionArn": runtime_version_arn(region, config["Runtime"])
        }
    if config.get("Handler"):
        out["Handler"] = config["Handler"]
    if config.get("Environment") is not None:
        out["Environment"] = {"Variables": config["Environment"]}
    if config.get("ImageConfig"):
        out["ImageConfigResponse"] = {"ImageConfig": config["ImageConfig"]}
    if config.get("Layers"):
        out["Layers"] = [{"Arn": la["Arn"], "CodeSize": la["CodeSize"]} for la in config["Layers"]]
    for member in PASSTHROUGH:
        if config.get(member) is not None:
            out[member] = config[member]
    _status(row, out)
    if snapped and snapshot_state and row["state"] == "Active":
        out["State"] = snapshot_state
        if snapshot_state == "Failed":
            code, reason = snapshot_failure or (
                "FunctionError",
                "The function's INIT failed while its snapshot was made.",
            )
            out["StateReasonCode"], out["StateReason"] = code, reason
    return out


def _status(row: dict[str, Any], out: dict[str, Any]) -> None:
    for column, member in (
        ("state_reason", "StateReason"),
        ("state_reason_code", "StateReasonCode"),
        ("update_status", "LastUpdateStatus"),
        ("update_reason", "LastUpdateStatusReason"),
        ("update_reason_code", "LastUpdateStatusReasonCode"),
    ):
        if row.get(column):
            out[member] = row[column]


def alias(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "AliasArn": function_arn(row["region"], row["account"], row["function"], row["name"]),
        "Name": row["name"],
        "FunctionVersion": row["function_version"],
        "Description": row["description"] or "",
        "RevisionId": row["revision_id"],
    }
    if row["routing"]:
        out["RoutingConfig"] = {"AdditionalVersionWeights": json.loads(row["routing"])}
    return out


def layer_version(row: dict[str, Any], *, listing: bool = False) -> dict[str, Any]:
    """GetLayerVersion's output, or (``listing``) a LayerVersionsListItem."""
    out: dict[str, Any] = {
        "LayerVersionArn": layer_arn(row["region"], row["account"], row["name"], row["version"]),
        "Version": row["version"],
        "Description": row["description"] or "",
        "CreatedDate": row["created_date"],
    }
    for column, member in (
        ("compatible_runtimes", "CompatibleRuntimes"),
        ("compatible_architectures", "CompatibleArchitectures"),
    ):
        if row[column]:
            out[member] = json.loads(row[column])
    if row["license_info"]:
        out["LicenseInfo"] = row["license_info"]
    if not listing:
        out["LayerArn"] = layer_arn(row["region"], row["account"], row["name"])
        out["Content"] = {"CodeSha256": code_sha256(row["code_sha"]), "CodeSize": row["code_size"]}
    return out
