"""State machines: create (definition checked by the engine's parser), describe, list,
update, delete, published versions and aliases, tags (also on activities), and
ValidateStateMachineDefinition."""

from __future__ import annotations

import json

from sandlot.services.provider import RequestContext
from sandlot.services.stepfunctions.base import (
    Row,
    StepFunctionsBase,
    check_name,
    engine,
    error,
    invalid_arn,
    machine_missing,
    merged_tags,
    new_revision,
    parse_arn,
    tags_out,
)
from sandlot.services.stepfunctions.paging import page
from sandlot.services.stepfunctions.schema import ACTIVITIES, ALIASES, MACHINES, VERSIONS

LOGGING_OFF = {"level": "OFF", "includeExecutionData": False}
_LEVELS = ("ALL", "ERROR", "FATAL", "OFF")
MAX_VERSIONS = 1000
MAX_ALIASES = 100


def _definition(text: str) -> None:
    """AWS's InvalidDefinition for a definition the engine refuses."""
    try:
        engine().parse(text)
    except engine().InvalidDefinition as e:
        raise error("InvalidDefinition", e.message) from None


def express_refusals(text: str) -> list[tuple[str, str]]:
    """Express workflows support only Request Response: AWS refuses ``.sync``,
    ``.waitForTaskToken`` and activities in them (also inside Parallel and Map).
    (location, message) of each, for CreateStateMachine and ValidateStateMachineDefinition."""

    def tasks(states: dict, path: str):
        for name, state in (states or {}).items():
            if not isinstance(state, dict):
                continue
            if state.get("Type") == "Task" and isinstance(state.get("Resource"), str):
                yield f"{path}/{name}/Resource", state["Resource"]
            for i, branch in enumerate(state.get("Branches") or []):
                if isinstance(branch, dict):
                    yield from tasks(branch.get("States"), f"{path}/{name}/Branches[{i}]/States")
            for key in ("ItemProcessor", "Iterator"):
                if isinstance(state.get(key), dict):
                    yield from tasks(state[key].get("States"), f"{path}/{name}/{key}/States")

    try:
        document = json.loads(text)
    except (TypeError, ValueError):
        return []  # the definition's own diagnostics say so
    found = []
    states = document.get("States") if isinstance(document, dict) else None
    for location, resource in tasks(states if isinstance(states, dict) else {}, "/States"):
        if ":activity:" in resource:
            kind = "Activity"
        elif resource.endswith((".sync", ".sync:2")):
            kind = "'.sync' service integration"
        elif resource.endswith(".waitForTaskToken"):
            kind = "'.waitForTaskToken' service integration"
        else:
            continue
        found.append((location, f"Express state machine does not support {kind}"))
    return found


def _express_patterns(text: str) -> None:
    for location, message in express_refusals(text)[:1]:
        raise error(
            "InvalidDefinition",
            f"Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: {message} at "
            f"{location}'",
        )


def _logging(config: dict | None) -> dict:
    """The logging configuration as AWS stores it; InvalidLoggingConfiguration otherwise."""
    if not config:
        return dict(LOGGING_OFF)
    level = config.get("level", "OFF")
    if level not in _LEVELS:
        raise error("InvalidLoggingConfiguration", f"Invalid Logging Configuration: level {level}")
    destinations = config.get("destinations") or []
    if level != "OFF" and len(destinations) != 1:
        raise error(
            "InvalidLoggingConfiguration",
            "Invalid Logging Configuration: Must specify exactly one Log Destination.",
        )
    for d in destinations:
        arn = (d.get("cloudWatchLogsLogGroup") or {}).get("logGroupArn", "")
        if (
            not arn.startswith("arn:aws:logs:")
            or ":log-group:" not in arn
            or not arn.endswith(":*")
        ):
            raise error(
                "InvalidLoggingConfiguration",
                f"Invalid Logging Configuration: The CloudWatch Logs Resource Policy size was "
                f"exceeded or the log group ARN is invalid: '{arn}'",
            )
    out = {"level": level, "includeExecutionData": bool(config.get("includeExecutionData"))}
    if destinations:
        out["destinations"] = destinations
    return out


def version_number(arn: str) -> int:
    return int(arn.rsplit(":", 1)[1])


class MachineOperations(StepFunctionsBase):
    # -- state machines -----------------------------------------------------------------

    def create_state_machine(self, ctx: RequestContext, params: dict) -> dict:
        name = params["name"]
        check_name(name)
        kind = params.get("type", "STANDARD")
        _definition(params["definition"])
        if kind == "EXPRESS":
            _express_patterns(params["definition"])
        self._check_role(ctx, params["roleArn"])
        logging_config = _logging(params.get("loggingConfiguration"))
        tracing = params.get("tracingConfiguration") or {"enabled": False}
        encryption = params.get("encryptionConfiguration") or {"type": "AWS_OWNED_KEY"}
        arn = self.machine_arn(ctx, name)
        existing = self.store.get(MACHINES, arn)
        if existing is not None:
            # AWS answers a repeated identical create with the existing machine.
            same = (
                existing["definition"] == params["definition"]
                and existing["role_arn"] == params["roleArn"]
                and existing["type"] == kind
                and json.loads(existing["logging"]) == logging_config
            )
            if not same:
                raise error("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
            out = {"stateMachineArn": arn, "creationDate": existing["created"]}
            if params.get("publish"):
                out["stateMachineVersionArn"] = self._publish(existing, None)["arn"]
            return out
        tags = merged_tags([], params.get("tags") or [])
        row = {
            "arn": arn,
            "account_id": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "type": kind,
            "definition": params["definition"],
            "role_arn": params["roleArn"],
            "description": None,
            "logging": json.dumps(logging_config),
            "tracing": json.dumps(tracing),
            "encryption": json.dumps(encryption),
            "created": self.clock(),
            "revision_id": new_revision(),
            "next_version": 1,
            "tags": json.dumps(tags),
        }
        with self.store.transaction():
            self.store.put(MACHINES, row)
            out = {"stateMachineArn": arn, "creationDate": row["created"]}
            if params.get("publish"):
                version = self._publish(row, params.get("versionDescription"))
                out["stateMachineVersionArn"] = version["arn"]
        return out

    def describe_state_machine(self, ctx: RequestContext, params: dict) -> dict:
        arn = params["stateMachineArn"]
        machine, version, alias = self.resolve(arn)
        if alias is not None:
            raise invalid_arn(arn)
        return describe(machine, version)

    def list_state_machines(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(
            MACHINES, {"account_id": ctx.account_id, "region": ctx.region}, order_by=("name",)
        )
        items, token = page(rows, params, key="name")
        return {
            "stateMachines": [
                {
                    "stateMachineArn": r["arn"],
                    "name": r["name"],
                    "type": r["type"],
                    "creationDate": r["created"],
                }
                for r in items
            ],
            **token,
        }

    def update_state_machine(self, ctx: RequestContext, params: dict) -> dict:
        machine = self.machine(params["stateMachineArn"])
        changes = ("definition", "roleArn", "loggingConfiguration", "tracingConfiguration",
                   "encryptionConfiguration")  # fmt: skip
        if not any(params.get(k) is not None for k in changes) and not params.get("publish"):
            raise error(
                "MissingRequiredParameter",
                "Either the definition, the role ARN, the LoggingConfiguration, the "
                "EncryptionConfiguration or the TracingConfiguration must be specified",
            )
        row = dict(machine)
        if params.get("definition") is not None:
            _definition(params["definition"])
            if machine["type"] == "EXPRESS":
                _express_patterns(params["definition"])
            row["definition"] = params["definition"]
        if params.get("roleArn") is not None:
            self._check_role(ctx, params["roleArn"])
            row["role_arn"] = params["roleArn"]
        if params.get("loggingConfiguration") is not None:
            row["logging"] = json.dumps(_logging(params["loggingConfiguration"]))
        if params.get("tracingConfiguration") is not None:
            row["tracing"] = json.dumps(params["tracingConfiguration"])
        if params.get("encryptionConfiguration") is not None:
            row["encryption"] = json.dumps(params["encryptionConfiguration"])
        changed = any(row[k] != machine[k] for k in ("definition", "role_arn", "logging",
                                                      "tracing", "encryption"))  # fmt: skip
        if changed:
            row["revision_id"] = new_revision()
        now = self.clock()
        with self.store.transaction():
            self.store.put(MACHINES, row)
            out = {"updateDate": now, "revisionId": row["revision_id"]}
            if params.get("publish"):
                out["stateMachineVersionArn"] = self._publish(
                    row, params.get("versionDescription")
                )["arn"]
        return out

    def delete_state_machine(self, ctx: RequestContext, params: dict) -> dict:
        arn = params["stateMachineArn"]
        parsed = parse_arn(arn)
        if parsed is None or parsed[2] != "stateMachine":
            raise invalid_arn(arn)
        if len(parsed[3]) == 2:  # a version or an alias: deleted as such
            if parsed[3][1].isdigit():
                return self.delete_state_machine_version(ctx, {"stateMachineVersionArn": arn})
            return self.delete_state_machine_alias(ctx, {"stateMachineAliasArn": arn})
        with self.store.transaction():
            self.store.delete_where(VERSIONS, {"machine_arn": arn})
            self.store.delete_where(ALIASES, {"machine_arn": arn})
            self.store.delete(MACHINES, arn)  # deleting a missing machine succeeds, as AWS
        return {}

    # -- versions -----------------------------------------------------------------------

    def _publish(self, machine: Row, description: str | None) -> Row:
        """A version of the machine as it is now; the latest version again if nothing
        changed since it was published (AWS does not publish duplicates)."""
        latest = self.store.select(
            VERSIONS, {"machine_arn": machine["arn"]}, order_by=("version",), descending=True,
            limit=1,
        )  # fmt: skip
        if latest and latest[0]["revision_id"] == machine["revision_id"]:
            return latest[0]
        if self.store.count(VERSIONS, {"machine_arn": machine["arn"]}) >= MAX_VERSIONS:
            raise error(
                "ServiceQuotaExceededException",
                f"Maximum number of versions ({MAX_VERSIONS}) reached for state machine.",
            )
        number = machine["next_version"]
        version = {
            "arn": f"{machine['arn']}:{number}",
            "machine_arn": machine["arn"],
            "version": number,
            "definition": machine["definition"],
            "role_arn": machine["role_arn"],
            "type": machine["type"],
            "logging": machine["logging"],
            "tracing": machine["tracing"],
            "encryption": machine["encryption"],
            "description": description,
            "revision_id": machine["revision_id"],
            "created": self.clock(),
        }
        with self.store.transaction():
            self.store.put(VERSIONS, version)
            self.store.put(MACHINES, {**machine, "next_version": number + 1})
        return version

    def publish_state_machine_version(self, ctx: RequestContext, params: dict) -> dict:
        machine = self.machine(params["stateMachineArn"])
        revision = params.get("revisionId")
        if revision is not None and revision != machine["revision_id"]:
            raise error(
                "ConflictException",
                f"Failed to publish the State Machine version for revision {revision}. "
                f"The current State Machine revision is {machine['revision_id']}.",
            )
        version = self._publish(machine, params.get("description"))
        return {"creationDate": version["created"], "stateMachineVersionArn": version["arn"]}

    def list_state_machine_versions(self, ctx: RequestContext, params: dict) -> dict:
        machine = self.machine(params["stateMachineArn"])
        rows = self.store.select(
            VERSIONS, {"machine_arn": machine["arn"]}, order_by=("version",), descending=True
        )
        items, token = page(rows, params, key="version")
        return {
            "stateMachineVersions": [
                {"stateMachineVersionArn": r["arn"], "creationDate": r["created"]} for r in items
            ],
            **token,
        }

    def delete_state_machine_version(self, ctx: RequestContext, params: dict) -> dict:
        arn = params["stateMachineVersionArn"]
        parsed = parse_arn(arn)
        if parsed is None or parsed[2] != "stateMachine" or len(parsed[3]) != 2:
            raise invalid_arn(arn)
        if not parsed[3][1].isdigit():
            raise invalid_arn(arn)
        for alias in self.store.select(ALIASES, {"machine_arn": arn.rsplit(":", 1)[0]}):
            if any(r["stateMachineVersionArn"] == arn for r in json.loads(alias["routing"])):
                raise error(
                    "ConflictException",
                    f"Version to be deleted must not be referenced by an alias. Current list "
                    f"of aliases referencing this version: [{alias['name']}]",
                )
        self.store.delete(VERSIONS, arn)
        return {}

    # -- aliases ------------------------------------------------------------------------

    def _routing(self, routing: list[dict]) -> str:
        """AWS's rules: one or two distinct versions of one machine, weights summing to 100."""
        arns = [r["stateMachineVersionArn"] for r in routing]
        if not 1 <= len(routing) <= 2 or len(set(arns)) != len(arns):
            raise error(
                "ValidationException",
                "Routing configuration must contain one or two unique version ARNs.",
            )
        if sum(r["weight"] for r in routing) != 100:
            raise error(
                "ValidationException",
                "Sum of routing configuration weights must be equal to 100.",
            )
        machines = {a.rsplit(":", 1)[0] for a in arns}
        if len(machines) != 1:
            raise error(
                "ValidationException",
                "Routing configuration must contain state machine versions of the same state "
                "machine.",
            )
        for arn in arns:
            parsed = parse_arn(arn)
            if parsed is None or len(parsed[3]) != 2 or not parsed[3][1].isdigit():
                raise invalid_arn(arn)
            if self.store.get(VERSIONS, arn) is None:
                raise error("ResourceNotFound", f"Resource not found: '{arn}'")
        return json.dumps([{"stateMachineVersionArn": r["stateMachineVersionArn"],
                            "weight": r["weight"]} for r in routing])  # fmt: skip

    def create_state_machine_alias(self, ctx: RequestContext, params: dict) -> dict:
        name = params["name"]
        check_name(name)
        if name.isdigit():
            raise error("InvalidName", f"Invalid Name: '{name}'")
        routing = self._routing(params["routingConfiguration"])
        machine_arn = json.loads(routing)[0]["stateMachineVersionArn"].rsplit(":", 1)[0]
        if self.store.get(MACHINES, machine_arn) is None:
            raise machine_missing(machine_arn)
        arn = f"{machine_arn}:{name}"
        existing = self.store.get(ALIASES, arn)
        if existing is not None:
            if existing["routing"] == routing and existing["description"] == params.get(
                "description"
            ):
                return {"stateMachineAliasArn": arn, "creationDate": existing["created"]}
            raise error(
                "ConflictException",
                f"Failed to create alias because an alias with the same name and a different "
                f"routing configuration already exists: '{arn}'",
            )
        if self.store.count(ALIASES, {"machine_arn": machine_arn}) >= MAX_ALIASES:
            raise error("ServiceQuotaExceededException", "Maximum number of aliases reached.")
        now = self.clock()
        self.store.put(
            ALIASES,
            {"arn": arn, "machine_arn": machine_arn, "name": name,
             "description": params.get("description"), "routing": routing, "created": now,
             "updated": now},
        )  # fmt: skip
        return {"stateMachineAliasArn": arn, "creationDate": now}

    def _alias(self, arn: str) -> Row:
        parsed = parse_arn(arn)
        if parsed is None or parsed[2] != "stateMachine" or len(parsed[3]) != 2:
            raise invalid_arn(arn)
        if parsed[3][1].isdigit():
            raise invalid_arn(arn)
        row = self.store.get(ALIASES, arn)
        if row is None:
            raise error("ResourceNotFound", f"Resource not found: '{arn}'")
        return row

    def describe_state_machine_alias(self, ctx: RequestContext, params: dict) -> dict:
        row = self._alias(params["stateMachineAliasArn"])
        out = {
            "stateMachineAliasArn": row["arn"],
            "name": row["name"],
            "routingConfiguration": json.loads(row["routing"]),
            "creationDate": row["created"],
            "updateDate": row["updated"],
        }
        if row["description"] is not None:
            out["description"] = row["description"]
        return out

    def update_state_machine_alias(self, ctx: RequestContext, params: dict) -> dict:
        row = dict(self._alias(params["stateMachineAliasArn"]))
        if params.get("description") is None and params.get("routingConfiguration") is None:
            raise error(
                "ValidationException",
                "Either the description or the RoutingConfiguration must be specified",
            )
        if params.get("routingConfiguration") is not None:
            row["routing"] = self._routing(params["routingConfiguration"])
        if params.get("description") is not None:
            row["description"] = params["description"]
        row["updated"] = self.clock()
        self.store.put(ALIASES, row)
        return {"updateDate": row["updated"]}

    def delete_state_machine_alias(self, ctx: RequestContext, params: dict) -> dict:
        row = self._alias(params["stateMachineAliasArn"])
        self.store.delete(ALIASES, row["arn"])
        return {}

    def list_state_machine_aliases(self, ctx: RequestContext, params: dict) -> dict:
        machine = self.machine(params["stateMachineArn"])
        rows = self.store.select(ALIASES, {"machine_arn": machine["arn"]}, order_by=("name",))
        items, token = page(rows, params, key="name")
        return {
            "stateMachineAliases": [
                {"stateMachineAliasArn": r["arn"], "creationDate": r["created"]} for r in items
            ],
            **token,
        }

    # -- tags (state machines and activities) -------------------------------------------

    def _taggable(self, arn: str) -> tuple:
        parsed = parse_arn(arn)
        if parsed is not None and parsed[2] == "stateMachine" and len(parsed[3]) == 1:
            table = MACHINES
        elif parsed is not None and parsed[2] == "activity":
            table = ACTIVITIES
        else:
            raise invalid_arn(arn)
        row = self.store.get(table, arn)
        if row is None:
            raise error("ResourceNotFound", f"Resource not found: '{arn}'")
        return table, row

    def tag_resource(self, ctx: RequestContext, params: dict) -> dict:
        table, row = self._taggable(params["resourceArn"])
        tags = merged_tags(tags_out(row), params["tags"])
        self.store.put(table, {**row, "tags": json.dumps(tags)})
        return {}

    def untag_resource(self, ctx: RequestContext, params: dict) -> dict:
        table, row = self._taggable(params["resourceArn"])
        gone = set(params["tagKeys"])
        tags = [t for t in tags_out(row) if t["key"] not in gone]
        self.store.put(table, {**row, "tags": json.dumps(tags)})
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: dict) -> dict:
        _, row = self._taggable(params["resourceArn"])
        return {"tags": tags_out(row)}

    # -- validation ---------------------------------------------------------------------

    def validate_state_machine_definition(self, ctx: RequestContext, params: dict) -> dict:
        found = engine().diagnostics(params["definition"])
        if params.get("type") == "EXPRESS":  # what only an Express machine refuses
            found += [{"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED",
                       "message": message, "location": location}
                      for location, message in express_refusals(params["definition"])]  # fmt: skip
            found.sort(key=lambda d: d["severity"] != "ERROR")  # errors first, as AWS
        order = {"ERROR": 0, "WARNING": 1}
        wanted = params.get("severity", "ERROR")
        found = [d for d in found if order.get(d["severity"], 0) <= order[wanted]]
        limit = params.get("maxResults") or 100
        result = "FAIL" if any(d["severity"] == "ERROR" for d in found) else "OK"
        return {
            "result": result,
            "diagnostics": found[:limit],
            "truncated": len(found) > limit,
        }


def describe(machine: Row, version: Row | None = None) -> dict:
    """DescribeStateMachine's answer for the machine, or one of its versions."""
    source = version or machine
    out = {
        "stateMachineArn": source["arn"],
        "name": machine["name"],
        "status": "ACTIVE",
        "definition": source["definition"],
        "roleArn": source["role_arn"],
        "type": source["type"],
        "creationDate": source["created"],
        "loggingConfiguration": json.loads(source["logging"]),
        "tracingConfiguration": json.loads(source["tracing"]),
        "encryptionConfiguration": json.loads(source["encryption"]),
        "revisionId": source["revision_id"],
    }
    if version is not None and version["description"]:
        out["description"] = version["description"]
    return out
