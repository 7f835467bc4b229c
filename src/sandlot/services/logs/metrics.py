"""Log events that become CloudWatch metrics, as CloudWatch Logs makes them on ingestion:
the embedded metric format (EMF: a JSON event with an ``_aws.CloudWatchMetrics``
directive) and the log group's metric filters. Both publish through
``platform.metrics`` (``sandlot/metrics.py``); an event that is not valid EMF stays a
plain log event, as in AWS."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

from sandlot.metrics import UNITS

Emit = Callable[[str, str, tuple, float, str, float], None]  # ns, name, dims, value, unit, ts

MAX_EMF_DIMENSIONS = 30
MAX_EMF_VALUES = 100


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def emf(message: str, timestamp_ms: int, emit: Emit) -> int:
    """Publish the metrics of one EMF event; how many values (0: not EMF, or invalid)."""
    if not message.startswith("{") or '"_aws"' not in message:
        return 0
    try:
        doc = json.loads(message)
        directives = doc["_aws"]["CloudWatchMetrics"]
        stamp = float(doc["_aws"].get("Timestamp", timestamp_ms)) / 1000
    except (ValueError, KeyError, TypeError, AttributeError):
        return 0
    if not isinstance(directives, list):
        return 0
    sent = 0
    for directive in directives:
        try:
            namespace = directive["Namespace"]
            dimension_sets = directive.get("Dimensions") or [[]]
            metrics = directive["Metrics"]
        except (KeyError, TypeError, AttributeError):
            continue
        if not isinstance(namespace, str) or not namespace or namespace.startswith("AWS/"):
            continue
        for names in dimension_sets:
            if not isinstance(names, list) or len(names) > MAX_EMF_DIMENSIONS:
                continue
            values = [doc.get(n) for n in names]
            if not all(isinstance(v, str) for v in values):
                continue  # a dimension without a string value at the root: not published
            dims = tuple(sorted(zip(names, values, strict=True)))
            for metric in metrics if isinstance(metrics, list) else ():
                name = metric.get("Name") if isinstance(metric, dict) else None
                unit = metric.get("Unit", "None") if isinstance(metric, dict) else "None"
                if not isinstance(name, str) or unit not in UNITS:
                    continue
                raw = doc.get(name)
                items = raw[:MAX_EMF_VALUES] if isinstance(raw, list) else [raw]
                for item in items:
                    value = _number(item)
                    if value is not None:
                        emit(namespace, name, dims, value, unit, stamp)
                        sent += 1
    return sent


def _select(doc: Any, selector: str) -> Any:
    """``$.a.b`` in a JSON event; None when absent."""
    for part in selector[2:].split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def filter_values(transformation: dict, message: str) -> tuple[float, tuple] | None:
    """(value, dimensions) a metric filter's transformation makes of one matching event,
    or None when the event lacks a field it names."""
    text = transformation["metricValue"]
    needs_json = text.startswith("$.") or any(
        v.startswith("$.") for v in (transformation.get("dimensions") or {}).values()
    )
    doc = None
    if needs_json:
        try:
            doc = json.loads(message)
        except ValueError:
            return None
    if text.startswith("$."):
        value = _number(_select(doc, text))
    else:
        try:
            value = float(text)
        except ValueError:
            return None  # a space-delimited field ($name): not extracted
    if value is None:
        return None
    dims = []
    for name, selector in (transformation.get("dimensions") or {}).items():
        found = _select(doc, selector) if selector.startswith("$.") else None
        if found is None or isinstance(found, dict | list):
            return None
        dims.append((name, str(found)))
    return value, tuple(sorted(dims))


def metric_filters(
    filters: Iterable[tuple[Any, list[dict]]], events: list[dict], emit: Emit
) -> int:
    """Publish what each (compiled pattern, transformations) makes of ``events`` (stored
    rows with ``message`` and ``ts``): the value for a match, ``defaultValue`` (when
    set) for an event that does not match. How many values."""
    sent = 0
    for pattern, transformations in filters:
        for event in events:
            matched = pattern.matches(event["message"])
            for t in transformations:
                unit = t.get("unit") or "None"
                stamp = event["ts"] / 1000
                if matched:
                    found = filter_values(t, event["message"])
                    if found is not None:
                        emit(t["metricNamespace"], t["metricName"], found[1], found[0], unit, stamp)
                        sent += 1
                elif t.get("defaultValue") is not None:
                    emit(t["metricNamespace"], t["metricName"], (), t["defaultValue"], unit, stamp)
                    sent += 1
    return sent
