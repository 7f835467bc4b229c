"""CloudWatch metric alarms: PutMetricAlarm (static thresholds on one metric),
DescribeAlarms, DeleteAlarms, SetAlarmState, DescribeAlarmHistory and
Enable/DisableAlarmActions, evaluated every ``EVALUATION_INTERVAL_S`` in rounds driven
by one durable timer (``ALARM_TIMER``, pending while any alarm exists: a round that came
due while sandlot was down runs right after it starts, which creates this provider
even if nothing else uses CloudWatch); a state change writes AWS's history item and,
with actions enabled, publishes AWS's alarm notification JSON to each SNS topic of the
new state's actions through the delivery path. Metric math and composite alarms answer
an AWS-shaped error (not served yet).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from typing import Any

from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.services.cloudwatch.storage import Scope, dimensions_key
from sandlot.store import Migration, Table

EVALUATION_INTERVAL_S = 10.0
ALARM_TIMER, ROUNDS = "cloudwatch:alarms", "rounds"  # the timer (kind, key) of the rounds
STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": (">=", lambda v, t: v >= t),
    "GreaterThanThreshold": (">", lambda v, t: v > t),
    "LessThanThreshold": ("<", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("<=", lambda v, t: v <= t),
}
MISSING = ("breaching", "notBreaching", "ignore", "missing")
HISTORY_DAYS = 30

ALARMS = Table(
    "cloudwatch_alarms",
    columns={
        "account_id": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "config": "TEXT",  # JSON: the PutMetricAlarm parameters
        "state": "TEXT",
        "reason": "TEXT",
        "reason_data": "TEXT",
        "state_updated": "REAL",
        "config_updated": "REAL",
        "actions_enabled": "INTEGER",
    },
    key=("account_id", "region", "name"),
)
HISTORY = Table(
    "cloudwatch_alarm_history",
    columns={
        "account_id": "TEXT",
        "region": "TEXT",
        "name": "TEXT",
        "ts": "REAL",
        "kind": "TEXT",  # ConfigurationUpdate | StateUpdate | Action
        "summary": "TEXT",
        "data": "TEXT",
    },
    key=("account_id", "region", "name", "ts"),
)
ALARM_MIGRATIONS = [Migration(1, create=ALARMS), Migration(2, create=HISTORY)]


def _iso(seconds: float) -> str:
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValue", message)


class AlarmOperations:
    """The alarm operations of CloudWatch's provider; see the module docstring."""

    def _alarm_arn(self, account: str, region: str, name: str) -> str:
        return f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"

    def put_metric_alarm(self, ctx, params: dict) -> dict:
        math_alarm = bool(params.get("Metrics"))
        if math_alarm:
            self._check_math_alarm(params)
        else:
            for member in ("MetricName", "Namespace", "Period"):
                if params.get(member) is None:
                    raise ServiceError("ValidationError", f"{member} must be specified.")
            if (params.get("Statistic") is None) == (params.get("ExtendedStatistic") is None):
                raise ServiceError(
                    "ValidationError", "Exactly one of Statistic and ExtendedStatistic must be set."
                )
            if params.get("ExtendedStatistic") is not None:
                raise ServiceError("ValidationError", "Percentile alarms are not supported yet.")
        if params["ComparisonOperator"] not in COMPARISONS:
            raise ServiceError(
                "ValidationError",
                f"Comparison operator {params['ComparisonOperator']} requires an anomaly "
                "detection band, which sandlot does not serve yet.",
            )
        if params.get("Threshold") is None:
            raise ServiceError("ValidationError", "Threshold must be specified.")
        period, evaluations = _alarm_period(params), params["EvaluationPeriods"]
        if (
            period < 10
            or (period >= 60 and period % 60)
            or (period < 60 and period not in (10, 30))
        ):
            raise _invalid("The parameter Period must be 10, 30 or a multiple of 60.")
        if period * evaluations > 86400:
            raise _invalid("The evaluation interval (Period × EvaluationPeriods) exceeds 1 day.")
        to_alarm = params.get("DatapointsToAlarm") or evaluations
        if not 1 <= to_alarm <= evaluations:
            raise ServiceError(
                "ValidationError",
                "DatapointsToAlarm must be between 1 and EvaluationPeriods.",
            )
        treat = params.get("TreatMissingData") or "missing"
        if treat not in MISSING:
            raise _invalid(f"The value {treat} for parameter TreatMissingData is not valid.")
        _check_actions(params)
        config = {k: v for k, v in params.items() if k != "Tags"}
        config["DatapointsToAlarm"] = to_alarm
        config["TreatMissingData"] = treat
        return self._save(ctx, config)

    def _check_math_alarm(self, params: dict) -> None:
        """A metric math alarm: Metrics instead of the single-metric members, exactly
        one query returning data, every MetricStat with a period (AWS's rules)."""
        single = [k for k in ("MetricName", "Namespace", "Statistic", "ExtendedStatistic",
                              "Dimensions", "Period", "Unit") if params.get(k) is not None]  # fmt: skip
        if single:
            raise ServiceError(
                "ValidationError",
                f"The parameter {single[0]} cannot be specified together with Metrics.",
            )
        queries = params["Metrics"]
        returned = [q for q in queries if q.get("ReturnData", True)]
        if len(returned) != 1:
            raise ServiceError(
                "ValidationError", "Exactly one element of the metrics list should return data."
            )
        for query in queries:
            if (query.get("MetricStat") is None) == (query.get("Expression") is None):
                raise ServiceError(
                    "ValidationError",
                    "Exactly one of MetricStat and Expression must be set in each metric.",
                )
        self._order(queries)  # unknown ids and cycles answer ValidationError now

    def _history(self, row: dict, now: float, kind: str, summary: str, data: Any) -> None:
        self.store.put(
            HISTORY,
            {
                "account_id": row["account_id"],
                "region": row["region"],
                "name": row["name"],
                "ts": now,
                "kind": kind,
                "summary": summary,
                "data": json.dumps(data) if data is not None else None,
            },
        )
        cutoff = now - HISTORY_DAYS * 86400  # AWS keeps alarm history for 30 days
        self.store.delete_where(
            HISTORY,
            {"account_id": row["account_id"], "region": row["region"], "name": row["name"]},
            bounds={"ts": (None, cutoff)},
        )

    def _describe(self, row: dict) -> dict:
        config = json.loads(row["config"])
        out = {
            "AlarmName": row["name"],
            "AlarmArn": self._alarm_arn(row["account_id"], row["region"], row["name"]),
            "ActionsEnabled": bool(row["actions_enabled"]),
            "OKActions": config.get("OKActions") or [],
            "AlarmActions": config.get("AlarmActions") or [],
            "InsufficientDataActions": config.get("InsufficientDataActions") or [],
            "StateValue": row["state"],
            "StateReason": row["reason"],
            "StateUpdatedTimestamp": row["state_updated"],
            "StateTransitionedTimestamp": row["state_updated"],
            "AlarmConfigurationUpdatedTimestamp": row["config_updated"],
            "EvaluationPeriods": config["EvaluationPeriods"],
            "DatapointsToAlarm": config["DatapointsToAlarm"],
            "Threshold": config["Threshold"],
            "ComparisonOperator": config["ComparisonOperator"],
            "TreatMissingData": config["TreatMissingData"],
        }
        if config.get("Metrics"):
            out["Metrics"] = config["Metrics"]
        else:
            out.update(
                MetricName=config["MetricName"],
                Namespace=config["Namespace"],
                Statistic=config["Statistic"],
                Dimensions=config.get("Dimensions") or [],
                Period=config["Period"],
            )
        for optional in ("AlarmDescription", "Unit"):
            if config.get(optional) is not None:
                out[optional] = config[optional]
        if row["reason_data"]:
            out["StateReasonData"] = row["reason_data"]
        return out

    def _alarm_rows(self, ctx) -> list[dict]:
        where = {"account_id": ctx.account_id, "region": ctx.region}
        return self.store.select(ALARMS, where, order_by=("name",))

    def describe_alarms(self, ctx, params: dict) -> dict:
        names = params.get("AlarmNames")
        prefix = params.get("AlarmNamePrefix")
        if names and prefix:
            raise ServiceError(
                "InvalidParameterCombination",
                "AlarmNamePrefix and AlarmNames cannot be specified together.",
            )
        state = params.get("StateValue")
        types = params.get("AlarmTypes") or ["MetricAlarm"]
        rows = [
            r for r in self._alarm_rows(ctx)
            if (not names or r["name"] in names)
            and (not prefix or r["name"].startswith(prefix))
            and (state is None or r["state"] == state)
        ]  # fmt: skip
        metric = [
            self._describe(r) for r in rows if '"AlarmRule"' not in r["config"]
        ] if "MetricAlarm" in types else []  # fmt: skip
        composite = [
            self._describe_composite(r) for r in rows if '"AlarmRule"' in r["config"]
        ] if "CompositeAlarm" in types else []  # fmt: skip
        return {"MetricAlarms": metric, "CompositeAlarms": composite}

    def put_composite_alarm(self, ctx, params: dict) -> dict:
        rule = params["AlarmRule"]
        try:
            names = rule_alarms(rule)
        except ValueError as error:
            raise ServiceError("ValidationError", f"Error in alarm rule: {error}") from None
        for target in names:
            if self.store.get(ALARMS, ctx.account_id, ctx.region, _name_of(target)) is None:
                raise ServiceError(
                    "ValidationError", f"Alarm rule references a non-existent alarm: {target}"
                )
        if _name_of(params["AlarmName"]) in {_name_of(n) for n in names}:
            raise ServiceError("ValidationError", "An alarm rule cannot reference its own alarm.")
        _check_actions(params)
        return self._save(ctx, {k: v for k, v in params.items() if k != "Tags"})

    def _save(self, ctx, config: dict) -> dict:
        """Create or update an alarm (metric or composite) from its ``config``; its state
        and history carry over an update."""
        now = time.time()
        name = config["AlarmName"]
        existing = self.store.get(ALARMS, ctx.account_id, ctx.region, name)
        row = {
            "account_id": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "config": json.dumps(config, default=str),
            "state": existing["state"] if existing else "INSUFFICIENT_DATA",
            "reason": existing["reason"] if existing else "Unchecked: Initial alarm creation",
            "reason_data": existing["reason_data"] if existing else None,
            "state_updated": existing["state_updated"] if existing else now,
            "config_updated": now,
            "actions_enabled": int(config.get("ActionsEnabled", True)),
        }
        verb = "updated" if existing else "created"
        with self.store.transaction():
            self.store.put(ALARMS, row)
            self._history(row, now, "ConfigurationUpdate", f'Alarm "{name}" {verb}', None)
            self.schedule_rounds(now)
        return {}

    def schedule_rounds(self, now: float) -> None:
        """Arm the evaluation rounds' timer unless it is pending (a put never postpones
        a round that is due)."""
        timers = self.platform.timers
        if timers.get(ALARM_TIMER, ROUNDS) is None:
            timers.arm(ALARM_TIMER, ROUNDS, now + EVALUATION_INTERVAL_S)

    def alarm_round(self, timer) -> None:
        """The timer's handler (inside the transaction that retires it): evaluate every
        alarm, and arm the next round while any alarm is left — on the schedule, or
        from now when the rounds fell behind (after a restart)."""
        now = time.time()
        self.evaluate_alarms(now)
        if self.store.select(ALARMS, limit=1):
            due = timer.due + EVALUATION_INTERVAL_S
            self.platform.timers.arm(
                ALARM_TIMER, ROUNDS, due if due > now else now + EVALUATION_INTERVAL_S
            )

    def _describe_composite(self, row: dict) -> dict:
        config = json.loads(row["config"])
        out = {
            "AlarmName": row["name"],
            "AlarmArn": self._alarm_arn(row["account_id"], row["region"], row["name"]),
            "AlarmRule": config["AlarmRule"],
            "ActionsEnabled": bool(row["actions_enabled"]),
            "OKActions": config.get("OKActions") or [],
            "AlarmActions": config.get("AlarmActions") or [],
            "InsufficientDataActions": config.get("InsufficientDataActions") or [],
            "StateValue": row["state"],
            "StateReason": row["reason"],
            "StateUpdatedTimestamp": row["state_updated"],
            "StateTransitionedTimestamp": row["state_updated"],
            "AlarmConfigurationUpdatedTimestamp": row["config_updated"],
        }
        if config.get("AlarmDescription") is not None:
            out["AlarmDescription"] = config["AlarmDescription"]
        if row["reason_data"]:
            out["StateReasonData"] = row["reason_data"]
        return out

    def describe_alarms_for_metric(self, ctx, params: dict) -> dict:
        wanted = dimensions_key(params.get("Dimensions"))
        found = []
        for row in self._alarm_rows(ctx):
            config = json.loads(row["config"])
            if (
                not config.get("Metrics")
                and "AlarmRule" not in config
                and config["MetricName"] == params["MetricName"]
                and config["Namespace"] == params["Namespace"]
                and (
                    not params.get("Dimensions")
                    or dimensions_key(config.get("Dimensions")) == wanted
                )
                and params.get("Statistic") in (None, config["Statistic"])
                and params.get("Period") in (None, config["Period"])
            ):
                found.append(self._describe(row))
        return {"MetricAlarms": found}

    def delete_alarms(self, ctx, params: dict) -> dict:
        names = params["AlarmNames"]
        missing = [
            n for n in names if self.store.get(ALARMS, ctx.account_id, ctx.region, n) is None
        ]
        if missing:
            raise ServiceError(
                "ResourceNotFound", f"The following alarms were not found: {missing}", 404
            )
        with self.store.transaction():
            for name in names:
                self.store.delete(ALARMS, ctx.account_id, ctx.region, name)
        return {}

    def _set_actions(self, ctx, params: dict, enabled: bool) -> dict:
        with self.store.transaction():
            for name in params["AlarmNames"]:
                row = self.store.get(ALARMS, ctx.account_id, ctx.region, name)
                if row is not None:
                    row["actions_enabled"] = int(enabled)
                    self.store.put(ALARMS, row)
        return {}

    def enable_alarm_actions(self, ctx, params: dict) -> dict:
        return self._set_actions(ctx, params, True)

    def disable_alarm_actions(self, ctx, params: dict) -> dict:
        return self._set_actions(ctx, params, False)

    def set_alarm_state(self, ctx, params: dict) -> dict:
        row = self.store.get(ALARMS, ctx.account_id, ctx.region, params["AlarmName"])
        if row is None:
            raise ServiceError("ResourceNotFound", f"Alarm {params['AlarmName']} not found", 404)
        data = params.get("StateReasonData")
        if data is not None:
            try:
                json.loads(data)
            except ValueError:
                raise ServiceError("InvalidFormat", "StateReasonData must be valid JSON.") from None
        self._transition(row, params["StateValue"], params["StateReason"], data, time.time())
        return {}

    def describe_alarm_history(self, ctx, params: dict) -> dict:
        where: dict[str, Any] = {"account_id": ctx.account_id, "region": ctx.region}
        if params.get("AlarmName"):
            where["name"] = params["AlarmName"]
        if params.get("HistoryItemType"):
            where["kind"] = params["HistoryItemType"]
        descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        rows = self.store.select(HISTORY, where, order_by=("ts",), descending=descending)
        start = params.get("StartDate")
        end = params.get("EndDate")
        items = []
        for row in rows:
            if start is not None and row["ts"] < _epoch(start):
                continue
            if end is not None and row["ts"] > _epoch(end):
                continue
            item = {
                "AlarmName": row["name"],
                "AlarmType": "MetricAlarm",
                "Timestamp": row["ts"],
                "HistoryItemType": row["kind"],
                "HistorySummary": row["summary"],
            }
            if row["data"] is not None:
                item["HistoryData"] = row["data"]  # AWS's JSON, as text
            items.append(item)
        limit = params.get("MaxRecords") or 100
        return {"AlarmHistoryItems": items[:limit]}

    # -- evaluation -----------------------------------------------------------------------------

    def evaluate_alarms(self, now: float | None = None) -> int:
        """Evaluate every alarm once; how many changed state."""
        now = time.time() if now is None else now
        changed = 0
        composites = []
        for row in self.store.select(ALARMS):
            config = json.loads(row["config"])
            if "AlarmRule" in config:
                composites.append((row, config))
                continue
            state, reason, data = self._evaluate(row, config, now)
            if state != row["state"]:
                self._transition(row, state, reason, json.dumps(data), now)
                changed += 1
        # Composite alarms after the metric alarms they read (a composite of composites
        # sees its children's state of this round once they come first by name).
        for row, config in composites:
            states = {
                r["name"]: r["state"]
                for r in self.store.select(
                    ALARMS, {"account_id": row["account_id"], "region": row["region"]}
                )
            }
            try:
                firing = evaluate_rule(config["AlarmRule"], lambda n, s=states: s.get(_name_of(n)))
            except ValueError:
                continue
            state = "ALARM" if firing else "OK"
            if state != row["state"]:
                reason = f"{'Alarm rule became true' if firing else 'Alarm rule became false'}"
                self._transition(row, state, reason, None, now)
                changed += 1
        return changed

    def _evaluate(self, row: dict, config: dict, now: float) -> tuple[str, str, dict]:
        period, count = _alarm_period(config), config["EvaluationPeriods"]
        # The last `count` periods: the current one while it has data, else the `count`
        # before it — so a datapoint is seen in its own period and in the next one's
        # evaluations (AWS evaluates a period once it has closed), whenever it came.
        end = int(math.ceil(now / period) * period)
        timestamps = list(range(end - (count + 1) * period, end, period))
        if config.get("Metrics"):
            values = self._math_values(row, config, timestamps, end, period)
        else:
            key = (
                row["account_id"], row["region"], config["Namespace"], config["MetricName"],
                dimensions_key(config.get("Dimensions")),
            )  # fmt: skip
            values = self._values_of(
                self.metrics.get(key), config["Statistic"], period, config.get("Unit"),
                timestamps, end,
            )  # fmt: skip
        if values[-1] == values[-1]:
            timestamps, values = timestamps[1:], values[1:]
        else:
            timestamps, values = timestamps[:-1], values[:-1]
        symbol, breaches = COMPARISONS[config["ComparisonOperator"]]
        threshold, needed = config["Threshold"], config["DatapointsToAlarm"]
        treat = config["TreatMissingData"]
        present = [(t, v) for t, v in zip(timestamps, values, strict=True) if v == v]
        breaching = sum(1 for _, v in present if breaches(v, threshold))
        missing = count - len(present)
        if treat == "breaching":
            breaching += missing
        data = {
            "version": "1.0",
            "queryDate": _iso(now),
            "startDate": _iso(timestamps[0]),
            **({} if config.get("Metrics") else {"statistic": config["Statistic"]}),
            "period": period,
            "recentDatapoints": [v for _, v in present],
            "threshold": threshold,
            "evaluatedDatapoints": [
                {"timestamp": _iso(t), "sampleCount": 1.0, "value": v} for t, v in present
            ],
        }
        if breaching >= needed:
            shown = ", ".join(f"{v}" for _, v in present[-needed:]) or "no datapoints"
            return (
                "ALARM",
                (
                    f"Threshold Crossed: {breaching} out of the last {count} datapoints "
                    f"[{shown}] were {_words(symbol)} the threshold ({threshold}) "
                    f"(minimum {needed} datapoint{'s' if needed > 1 else ''} for OK -> ALARM "
                    "transition)."
                ),
                data,
            )
        if not present and treat == "missing":
            return (
                "INSUFFICIENT_DATA",
                (
                    f"Insufficient Data: {count} datapoint{'s were' if count > 1 else ' was'} unknown."
                ),
                data,
            )
        if not present and treat == "ignore":
            return row["state"], row["reason"], data
        return (
            "OK",
            (
                f"Threshold Crossed: no datapoints were {_words(symbol)} the threshold "
                f"({threshold}) in the last {count} period{'s' if count > 1 else ''}."
            ),
            data,
        )

    def _math_values(
        self, row: dict, config: dict, timestamps: list[int], end: int, period: int
    ) -> list[float]:
        """The values of the one query that returns data; a scalar fills the periods,
        an array of several series is not an alarm's input (missing data)."""
        scope = Scope(row["account_id"], row["region"])
        try:
            results, _ = self.run_queries(scope, config["Metrics"], timestamps, end, period)
        except ServiceError:
            return [math.nan] * len(timestamps)
        [returned] = [q for q in config["Metrics"] if q.get("ReturnData", True)]
        value = results[returned["Id"]]
        if isinstance(value, float):
            return [value] * len(timestamps)
        if value and isinstance(value[0], tuple):
            return value[0][1] if len(value) == 1 else [math.nan] * len(timestamps)
        return value

    def _transition(self, row: dict, state: str, reason: str, data: str | None, now: float):
        old = row["state"]
        config = json.loads(row["config"])
        row.update(state=state, reason=reason, reason_data=data, state_updated=now)
        history = {
            "version": "1.0",
            "oldState": {"stateValue": old, "stateReason": "previous state"},
            "newState": {"stateValue": state, "stateReason": reason},
        }
        if data:
            history["newState"]["stateReasonData"] = json.loads(data)
        with self.store.transaction():
            self.store.put(ALARMS, row)
            self._history(
                row, now, "StateUpdate",
                f"Alarm updated from {old} to {state}", history,
            )  # fmt: skip
            if row["actions_enabled"]:
                actions = {
                    "ALARM": "AlarmActions", "OK": "OKActions",
                    "INSUFFICIENT_DATA": "InsufficientDataActions",
                }[state]  # fmt: skip
                for target in config.get(actions) or []:
                    self._notify(row, config, old, target, now)

    def _notify(self, row: dict, config: dict, old: str, target: str, now: float) -> None:
        """AWS's alarm notification to one SNS topic, on the delivery path."""
        account, region = row["account_id"], row["region"]
        message = {
            "AlarmName": row["name"],
            "AlarmDescription": config.get("AlarmDescription"),
            "AWSAccountId": account,
            "AlarmConfigurationUpdatedTimestamp": _iso(row["config_updated"]),
            "NewStateValue": row["state"],
            "NewStateReason": row["reason"],
            "StateChangeTime": _iso(now),
            "Region": _REGION_NAMES.get(region, region),
            "AlarmArn": self._alarm_arn(account, region, row["name"]),
            "OldStateValue": old,
            "OKActions": config.get("OKActions") or [],
            "AlarmActions": config.get("AlarmActions") or [],
            "InsufficientDataActions": config.get("InsufficientDataActions") or [],
        }
        if "AlarmRule" in config:
            message["AlarmRule"] = config["AlarmRule"]
        else:
            message["Trigger"] = {
                **_trigger_metric(config),
                "EvaluationPeriods": config["EvaluationPeriods"],
                "DatapointsToAlarm": config["DatapointsToAlarm"],
                "ComparisonOperator": config["ComparisonOperator"],
                "Threshold": config["Threshold"],
                "TreatMissingData": config["TreatMissingData"],
                "EvaluateLowSampleCountPercentile": "",
            }
        subject = f'{row["state"]}: "{row["name"]}" in {message["Region"]}'
        self.platform.deliveries.stage(
            target,
            json.dumps(message),
            principal=Principal.root(account),
            options={"Subject": subject[:100]},
            region=region,
        )


_REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
}


def _words(symbol: str) -> str:
    return {
        ">=": "greater than or equal to",
        ">": "greater than",
        "<": "less than",
        "<=": "less than or equal to",
    }[symbol]


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=dt.UTC).timestamp()
    return float(value)


def _alarm_period(config: dict) -> int:
    """An alarm's period: its own, or that of the metric math query returning data."""
    if not config.get("Metrics"):
        return config["Period"]
    periods = [q["MetricStat"]["Period"] for q in config["Metrics"] if q.get("MetricStat")]
    periods += [q["Period"] for q in config["Metrics"] if q.get("Period")]
    return min(periods) if periods else 60


def _trigger_metric(config: dict) -> dict:
    """The notification's Trigger members naming what the alarm watches."""
    if config.get("Metrics"):
        return {"Metrics": config["Metrics"], "Period": _alarm_period(config)}
    return {
        "MetricName": config["MetricName"],
        "Namespace": config["Namespace"],
        "StatisticType": "Statistic",
        "Statistic": config["Statistic"].upper(),
        "Unit": config.get("Unit"),
        "Dimensions": [
            {"value": d["Value"], "name": d["Name"]} for d in config.get("Dimensions") or []
        ],
        "Period": config["Period"],
    }


# -- composite alarm rules -------------------------------------------------------------------

_RULE_TOKEN = re.compile(
    r'\s*(?:(?P<fn>ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(?P<arg>"[^"]*"|[^()\s]+)\s*\)'
    r"|(?P<word>AND|OR|NOT|TRUE|FALSE)\b|(?P<paren>[()]))"
)


def _rule_tokens(rule: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    rule = rule.strip()
    while pos < len(rule):
        match = _RULE_TOKEN.match(rule, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"unexpected text at position {pos}")
        if match.group("fn"):
            out.append((match.group("fn"), match.group("arg").strip('"')))
        elif match.group("word"):
            out.append(("word", match.group("word")))
        else:
            out.append(("paren", match.group("paren")))
        pos = match.end()
    return out


def _parse_rule(tokens: list[tuple[str, str]], lookup) -> bool:
    """Recursive descent: OR of ANDs of [NOT] terms; ``lookup(name)`` is a state."""
    pos = 0

    def term() -> bool:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError("unexpected end of rule")
        kind, value = tokens[pos]
        pos += 1
        if kind == "word" and value == "NOT":
            return not term()
        if kind == "word" and value in ("TRUE", "FALSE"):
            return value == "TRUE"
        if kind == "paren" and value == "(":
            inner = disjunction()
            if pos >= len(tokens) or tokens[pos] != ("paren", ")"):
                raise ValueError("missing )")
            pos += 1
            return inner
        if kind in ("ALARM", "OK", "INSUFFICIENT_DATA"):
            return lookup(value) == kind
        raise ValueError(f"unexpected {value}")

    def conjunction() -> bool:
        nonlocal pos
        value = term()
        while pos < len(tokens) and tokens[pos] == ("word", "AND"):
            pos += 1
            value = term() and value
        return value

    def disjunction() -> bool:
        nonlocal pos
        value = conjunction()
        while pos < len(tokens) and tokens[pos] == ("word", "OR"):
            pos += 1
            value = conjunction() or value
        return value

    result = disjunction()
    if pos != len(tokens):
        raise ValueError(f"unexpected {tokens[pos][1]}")
    return result


def rule_alarms(rule: str) -> list[str]:
    """The alarms (names or ARNs) an AlarmRule reads; ValueError when it is malformed."""
    tokens = _rule_tokens(rule)
    _parse_rule(tokens, lambda _name: None)  # syntax only
    return [value for kind, value in tokens if kind in ("ALARM", "OK", "INSUFFICIENT_DATA")]


def evaluate_rule(rule: str, lookup) -> bool:
    return _parse_rule(_rule_tokens(rule), lookup)


def _name_of(ref: str) -> str:
    """An alarm's name from its name or ARN."""
    return ref.split(":alarm:", 1)[1] if ":alarm:" in ref else ref


def _check_actions(params: dict) -> None:
    """Alarm actions must be SNS topics here (sandlot has no Auto Scaling or EC2)."""
    for action in (
        (params.get("AlarmActions") or [])
        + (params.get("OKActions") or [])
        + (params.get("InsufficientDataActions") or [])
    ):
        if not action.startswith("arn:aws:sns:"):
            raise _invalid(f"Invalid arn syntax or unsupported action: {action}")
