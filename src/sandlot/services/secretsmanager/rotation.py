"""Rotation: RotateSecret and CancelRotateSecret, the four steps AWS runs by invoking the
rotation function (createSecret, setSecret, testSecret, finishSecret) as
``secretsmanager.amazonaws.com`` through the internal client (so the function's
resource policy must allow it, as in AWS), and the schedule.

The schedule is durable data: each configured secret's ``next_rotation`` row. One
scheduler task (``start``) sleeps on ``Wakeups`` until the earliest due time or until
RotateSecret changes the schedule, so rotations that came due while the server was
down run when it is back.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import logging
import re
import time
import uuid

from sandlot.events.wakeup import Wakeups
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.secretsmanager.base import (
    CURRENT,
    DAY_S,
    PENDING,
    Row,
    SecretsBase,
    invalid_parameter,
    invalid_request,
    stages_of,
)
from sandlot.services.secretsmanager.schema import ROTATIONS, SECRETS

log = logging.getLogger("sandlot.secretsmanager")
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
SERVICE = "secretsmanager.amazonaws.com"
_WAKE_KEY = "secretsmanager-rotations"
_IDLE_S = 300.0
_RATE = re.compile(r"^rate\((\d+) (hours?|days?)\)$")


class RotationOperations(SecretsBase):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        self.rotation_wakeups = Wakeups()
        self._rotating: dict[str, asyncio.Task] = {}  # ARN -> its steps, in this process

    async def rotate_secret(self, ctx: RequestContext, params: dict) -> dict:
        row = self.secret(ctx, params["SecretId"])
        token = params.get("ClientRequestToken")
        if not token:
            raise invalid_request(
                "You must provide a ClientRequestToken value. We recommend a UUID-type value."
            )
        config = self.store.get(ROTATIONS, row["arn"]) or {"arn": row["arn"], "last_rotated": None}
        lambda_arn = params.get("RotationLambdaARN") or config.get("lambda_arn")
        if not lambda_arn:
            raise invalid_request("No Lambda rotation function ARN is associated with this secret.")
        rules = params.get("RotationRules")
        if rules is not None:
            days, schedule = rules.get("AutomaticallyAfterDays"), rules.get("ScheduleExpression")
            if days is not None and schedule is not None:
                raise invalid_parameter(
                    "You cannot specify both rotation frequency and schedule expression together."
                )
            if schedule is not None:
                _next_time(schedule, self.clock())  # validates
            config.update(after_days=days, schedule=schedule, duration=rules.get("Duration"))
        config.update(lambda_arn=lambda_arn, enabled=1)
        pending = self.version_with(row["arn"], PENDING)
        if (
            pending is not None
            and CURRENT not in stages_of(pending)
            and (pending["version_id"] != token)
        ):
            raise invalid_request(
                "A previous rotation isn't complete. That rotation will be reattempted."
            )
        immediately = params.get("RotateImmediately", True)
        if immediately and not self._may_invoke(row, lambda_arn):
            # AWS refuses at once when the function's policy does not let it invoke.
            raise ServiceError(
                "AccessDeniedException",
                "Secrets Manager cannot invoke the specified Lambda function. Ensure that the "
                "function policy grants access to the principal secretsmanager.amazonaws.com.",
            )
        config["next_rotation"] = self._next_rotation(config, self.clock())
        self.store.put(ROTATIONS, config)
        if immediately:
            self._start_rotation(row, token)
        self.rotation_wakeups.notify(_WAKE_KEY)
        return {"ARN": row["arn"], "Name": row["name"], "VersionId": token}

    def _may_invoke(self, row: Row, function: str) -> bool:
        return self.platform.authorizer.permits(
            Principal.service(SERVICE, row["account_id"]),
            "lambda",
            "Invoke",
            {"FunctionName": function},
            _region_of(function, row),
            context=_source(row),
        )

    def cancel_rotate_secret(self, ctx: RequestContext, params: dict) -> dict:
        row = self.secret(ctx, params["SecretId"])
        config = self.store.get(ROTATIONS, row["arn"])
        out = {"ARN": row["arn"], "Name": row["name"]}
        if config is not None:
            self.store.put(ROTATIONS, {**config, "enabled": 0, "next_rotation": None})
        pending = self.version_with(row["arn"], PENDING)
        if pending is not None and CURRENT not in stages_of(pending):
            out["VersionId"] = pending["version_id"]
        return out

    def rotation_fields(self, arn: str) -> dict:
        """DescribeSecret's and ListSecrets' rotation members."""
        config = self.store.get(ROTATIONS, arn)
        if config is None:
            return {}
        out: dict = {"RotationEnabled": bool(config["enabled"])}
        if config["lambda_arn"]:
            out["RotationLambdaARN"] = config["lambda_arn"]
        rules = {}
        if config["after_days"] is not None:
            rules["AutomaticallyAfterDays"] = config["after_days"]
        if config["schedule"] is not None:
            rules["ScheduleExpression"] = config["schedule"]
        if config["duration"] is not None:
            rules["Duration"] = config["duration"]
        if rules:
            out["RotationRules"] = rules
        if config["last_rotated"] is not None:
            out["LastRotatedDate"] = config["last_rotated"]
        if config["enabled"] and config["next_rotation"] is not None:
            out["NextRotationDate"] = config["next_rotation"]
        return out

    def _next_rotation(self, config: Row, now: float) -> float | None:
        if config.get("schedule"):
            return _next_time(config["schedule"], now)
        if config.get("after_days"):
            return now + config["after_days"] * DAY_S
        return None

    # -- running the steps --------------------------------------------------------------

    def _start_rotation(self, row: Row, token: str) -> None:
        if row["arn"] in self._rotating:
            return
        # Held here until done (the loop keeps only a weak reference to a task).
        task = self._rotating[row["arn"]] = asyncio.create_task(self._rotate(row, token))
        task.add_done_callback(lambda _: self._rotating.pop(row["arn"], None))

    async def _rotate(self, row: Row, token: str) -> None:
        """The four steps, each a synchronous invocation of the rotation function; a
        step that fails ends the rotation (AWSPENDING stays, as in AWS)."""
        config = self.store.get(ROTATIONS, row["arn"])
        if config is None:
            return
        function = config["lambda_arn"]
        for step in STEPS:
            event = {"Step": step, "SecretId": row["arn"], "ClientRequestToken": token,
                     "RotationToken": str(uuid.uuid4())}  # fmt: skip
            try:
                out = await self.platform.call(
                    "lambda",
                    "Invoke",
                    {"FunctionName": function, "Payload": json.dumps(event).encode()},
                    principal=Principal.service(SERVICE, row["account_id"]),
                    region=_region_of(function, row),
                    context=_source(row),
                )
            except ServiceError as error:
                log.warning("rotation of %s: %s failed: %s", row["arn"], step, error)
                return
            if out.get("FunctionError"):
                log.warning("rotation of %s: %s failed in the function", row["arn"], step)
                return
        current = self.version_with(row["arn"], CURRENT)
        if current is None or current["version_id"] != token:
            log.warning(
                "rotation of %s: finishSecret did not make %s AWSCURRENT", row["arn"], token
            )
            return
        now = self.clock()
        config = self.store.get(ROTATIONS, row["arn"]) or config
        config["last_rotated"] = now
        if config["enabled"]:
            config["next_rotation"] = self._next_rotation(config, now)
        self.store.put(ROTATIONS, config)
        self.rotation_wakeups.notify(_WAKE_KEY)

    async def start(self) -> asyncio.Task:
        """The scheduler task (the platform cancels it on stop)."""
        return asyncio.create_task(self._schedule())

    async def _schedule(self) -> None:
        try:
            await self._schedule_forever()
        finally:  # the platform stops: so do running rotations (like a failed step)
            for task in list(self._rotating.values()):
                task.cancel()

    async def _schedule_forever(self) -> None:
        while True:
            now = time.time()
            try:
                for config in self.store.select(ROTATIONS, bounds={"next_rotation": (0, now)}):
                    row = self.store.get(SECRETS, config["arn"])
                    if row is None or not config["enabled"] or row["deleted"] is not None:
                        continue
                    # Due: the next due time moves on now, so a failing function is not
                    # invoked in a loop (AWS retries at the next scheduled time too).
                    config["next_rotation"] = self._next_rotation(config, now)
                    self.store.put(ROTATIONS, config)
                    self._start_rotation(row, str(uuid.uuid4()))
                upcoming = self.store.select(
                    ROTATIONS, bounds={"next_rotation": (now, None)}, order_by=("next_rotation",),
                    limit=1,
                )  # fmt: skip
            except Exception:
                log.exception("secret rotation scheduler failed")
                upcoming = []
            until = now + _IDLE_S
            if upcoming:
                until = min(until, upcoming[0]["next_rotation"])
            await self.rotation_wakeups.wait(_WAKE_KEY, until)


def _region_of(function: str, row: Row) -> str:
    return function.split(":")[3] if function.startswith("arn:") else row["region"]


def _source(row: Row) -> dict[str, object]:
    """The condition keys of Secrets Manager's call, as a function policy sees them."""
    return {"aws:SourceAccount": row["account_id"], "aws:SourceArn": row["arn"]}


def _next_time(expression: str, now: float) -> float:
    """The first time after ``now`` that ``rate(N hours|days)`` or a six-field
    ``cron(minutes hours day-of-month month day-of-week year)`` (UTC) names."""
    match = _RATE.match(expression)
    if match:
        n, unit = int(match.group(1)), match.group(2)
        hours = n * (24 if unit.startswith("day") else 1)
        if n < 1 or (unit.startswith("hour") and not 4 <= n <= 23) or hours > 1000 * 24:
            raise _bad_schedule(expression)
        return now + hours * 3600
    if expression.startswith("cron(") and expression.endswith(")"):
        fields = expression[5:-1].split()
        if len(fields) != 6:
            raise _bad_schedule(expression)
        minutes, hours, dom, month, dow, year = (
            _values(fields[0], 0, 59, expression), _values(fields[1], 0, 23, expression),
            _values(fields[2], 1, 31, expression), _values(fields[3], 1, 12, expression),
            _values(fields[4], 1, 7, expression), _values(fields[5], 1970, 2199, expression),
        )  # fmt: skip
        day = int(now // DAY_S)
        for offset in range(366 * 5):
            t = time.gmtime((day + offset) * DAY_S)
            aws_dow = (t.tm_wday + 1) % 7 + 1  # AWS: 1 = Sunday
            if t.tm_mday in dom and t.tm_mon in month and aws_dow in dow and t.tm_year in year:
                start = calendar.timegm(t[:3] + (0, 0, 0))
                for h in sorted(hours):
                    for m in sorted(minutes):
                        when = start + h * 3600 + m * 60
                        if when > now:
                            return float(when)
        raise _bad_schedule(expression)
    raise _bad_schedule(expression)


def _values(field: str, low: int, high: int, expression: str) -> set[int]:
    if field in ("*", "?"):
        return set(range(low, high + 1))
    out: set[int] = set()
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _int(a, expression), _int(b, expression)
        else:
            start = _int(base, expression)
            end = high if step else start
        if not low <= start <= end <= high:
            raise _bad_schedule(expression)
        out.update(range(start, end + 1, _int(step, expression) if step else 1))
    return out


def _int(text: str, expression: str) -> int:
    if not text.isdigit():
        raise _bad_schedule(expression)
    return int(text)


def _bad_schedule(expression: str) -> ServiceError:
    return invalid_parameter(f"Invalid ScheduleExpression: {expression}")
