"""Running a parsed Logs Insights query over log events (pure: events in, rows out).

An event is a dict of fields: the system fields (``@timestamp`` in ms, ``@message``,
``@logStream``, ``@log``, ``@ingestionTime``, ``@ptr``) plus, for a JSON message, its
keys flattened with dots (``a.b``, ``list.0``), as Insights discovers them. Commands run
in order over the stream of events; ``stats`` turns it into one row per group.
Missing fields are null: comparisons with null are false, arithmetic gives null.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
import statistics
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sandlot.services.logs.insights.parser import Command, Query, QueryError

MAX_FLATTEN_FIELDS = 1000
AGGREGATES = frozenset(
    {"count", "count_distinct", "sum", "avg", "min", "max", "pct", "stddev", "earliest",
     "latest", "sortsfirst", "sortslast"}
)  # fmt: skip

Row = dict[str, Any]


def discover(event: Row, message: str) -> Row:
    """``event`` with the fields Insights discovers in a JSON ``message``."""
    text = message.lstrip()
    if not text.startswith("{"):
        return event
    try:
        data = json.loads(text)
    except ValueError:
        return event
    if isinstance(data, dict):
        _flatten(data, "", event)
    return event


def _flatten(value: Any, prefix: str, out: Row) -> None:
    if len(out) > MAX_FLATTEN_FIELDS:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}{key}.", out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _flatten(item, f"{prefix}{i}.", out)
    else:
        out.setdefault(prefix[:-1], value)


# -- values ------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, tuple) and value[0] == "duration":
        return value[1] * 1000  # durations compare with @timestamp in ms
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    a, b = _number(left), _number(right)
    if a is None or b is None:  # compared as text when either is not a number
        a, b = _text(left), _text(right)
    return {
        "=": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]


def _arith(op: str, left: Any, right: Any) -> Any:
    a, b = _number(left), _number(right)
    if a is None or b is None:
        return None
    try:
        value = {"+": a + b, "-": a - b, "*": a * b}.get(op)
        if value is None:
            value = {"/": lambda: a / b, "%": lambda: a % b, "^": lambda: a**b}[op]()
    except (ZeroDivisionError, OverflowError, ValueError):
        return None
    return int(value) if isinstance(value, float) and value.is_integer() and op != "/" else value


def _truthy(value: Any) -> bool:
    return value is not None and value is not False and value != ""


# -- scalar functions --------------------------------------------------------------


def _bin(row: Row, period: Any) -> Any:
    seconds = period[1] if isinstance(period, tuple) else _number(period)
    ts = row.get("@timestamp")
    if not seconds or ts is None:
        return None
    ms = seconds * 1000
    return int(ts // ms * ms)


def _datefloor(value: Any, period: Any) -> Any:
    seconds = period[1] if isinstance(period, tuple) else _number(period)
    ts = _number(value)
    if not seconds or ts is None:
        return None
    ms = seconds * 1000
    return int(ts // ms * ms)


def _in_subnet(address: Any, subnet: Any) -> bool:
    try:
        return ipaddress.ip_address(str(address)) in ipaddress.ip_network(str(subnet), strict=False)
    except ValueError:
        return False


def _valid_ip(value: Any, version: int | None = None) -> bool:
    try:
        parsed = ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return version is None or parsed.version == version


def _substr(value: Any, start: Any, length: Any = None) -> Any:
    text = _text(value)
    if text is None:
        return None
    begin = int(_number(start) or 0)
    return text[begin:] if length is None else text[begin : begin + int(_number(length) or 0)]


SCALARS: dict[str, Callable[..., Any]] = {
    "abs": lambda x: None if _number(x) is None else abs(_number(x)),
    "ceil": lambda x: None if _number(x) is None else math.ceil(_number(x)),
    "floor": lambda x: None if _number(x) is None else math.floor(_number(x)),
    "log": lambda x: math.log(_number(x)) if (_number(x) or 0) > 0 else None,
    "sqrt": lambda x: math.sqrt(_number(x)) if (_number(x) or -1) >= 0 else None,
    "greatest": lambda *xs: max((n for x in xs if (n := _number(x)) is not None), default=None),
    "least": lambda *xs: min((n for x in xs if (n := _number(x)) is not None), default=None),
    "strlen": lambda x: None if _text(x) is None else len(_text(x)),
    "toupper": lambda x: None if _text(x) is None else _text(x).upper(),
    "tolower": lambda x: None if _text(x) is None else _text(x).lower(),
    "trim": lambda x: None if _text(x) is None else _text(x).strip(),
    "ltrim": lambda x: None if _text(x) is None else _text(x).lstrip(),
    "rtrim": lambda x: None if _text(x) is None else _text(x).rstrip(),
    "concat": lambda *xs: "".join(_text(x) or "" for x in xs),
    "substr": _substr,
    "replace": lambda x, a, b: None if _text(x) is None else _text(x).replace(_text(a) or "", _text(b) or ""),
    "strcontains": lambda x, a: int((_text(a) or "") in (_text(x) or "")),
    "isempty": lambda x: x is None or x == "",
    "isblank": lambda x: x is None or str(x).strip() == "",
    "ispresent": lambda x: x is not None,
    "coalesce": lambda *xs: next((x for x in xs if x is not None), None),
    "datefloor": _datefloor,
    "dateceil": lambda v, p: None if (f := _datefloor(v, p)) is None else (
        f if f == _number(v) else f + int((p[1] if isinstance(p, tuple) else _number(p)) * 1000)),
    "frommillis": lambda x: None if _number(x) is None else int(_number(x)),
    "tomillis": lambda x: None if _number(x) is None else int(_number(x)),
    "isvalidip": lambda x: _valid_ip(x),
    "isvalidipv4": lambda x: _valid_ip(x, 4),
    "isvalidipv6": lambda x: _valid_ip(x, 6),
    "isipinsubnet": _in_subnet,
    "isipv4insubnet": lambda x, s: _valid_ip(x, 4) and _in_subnet(x, s),
    "isipv6insubnet": lambda x, s: _valid_ip(x, 6) and _in_subnet(x, s),
}  # fmt: skip


def evaluate(expr: tuple, row: Row) -> Any:
    kind = expr[0]
    if kind == "lit":
        return expr[1]
    if kind == "field":
        return row.get(expr[1])
    if kind == "op":
        op = expr[1]
        if op == "and":
            return _truthy(evaluate(expr[2], row)) and _truthy(evaluate(expr[3], row))
        if op == "or":
            return _truthy(evaluate(expr[2], row)) or _truthy(evaluate(expr[3], row))
        left, right = evaluate(expr[2], row), evaluate(expr[3], row)
        if op in ("=", "!=", "<", "<=", ">", ">="):
            return _compare(op, left, right)
        return _arith(op, left, right)
    if kind == "not":
        return not _truthy(evaluate(expr[1], row))
    if kind == "neg":
        value = _number(evaluate(expr[1], row))
        return None if value is None else -value
    if kind == "in":
        value = evaluate(expr[1], row)
        found = any(_compare("=", value, evaluate(v, row)) for v in expr[2])
        return found != expr[3]
    if kind == "like":
        text = _text(evaluate(expr[1], row))
        pattern = expr[2]
        if text is None:
            matched = False
        elif pattern[0] == "regex":
            matched = pattern[1].search(text) is not None
        else:
            matched = pattern[1] in text
        return matched != expr[3]
    if kind == "call":
        name = expr[1]
        if name == "bin":
            return _bin(row, evaluate(expr[2][0], row)) if expr[2] else None
        return SCALARS[name](*(evaluate(arg, row) for arg in expr[2]))
    raise QueryError("'*' is only allowed in count(*)", 0, 0)


def check(query: Query) -> None:
    """Refuse unknown functions and misplaced aggregates before running anything."""
    for command in query.commands:
        for expr, in_stats in _expressions(command):
            _check_expr(expr, in_stats, command.start)


def _expressions(command: Command) -> Iterator[tuple[tuple, bool]]:
    args = command.args
    if command.name in ("fields", "display"):
        yield from ((expr, False) for expr, _ in args)
    elif command.name == "filter":
        yield args, False
    elif command.name == "sort":
        yield from ((expr, False) for expr, _ in args)
    elif command.name == "stats":
        aggregates, groups = args
        for expr, _ in aggregates:
            if expr[0] != "call" or expr[1] not in AGGREGATES:
                raise QueryError("stats needs aggregation functions", command.start, command.start)
            yield expr, True
        yield from ((expr, False) for expr, _ in groups)
    elif command.name == "parse":
        yield args[0], False


def _check_expr(expr: tuple, top_aggregate: bool, where: int) -> None:
    if expr[0] == "call":
        name = expr[1]
        if name in AGGREGATES:
            if not top_aggregate:
                raise QueryError(f"{name} can only be used in stats", where, where)
            for arg in expr[2]:
                if arg != ("star",):
                    _check_expr(arg, False, where)
            return
        if name != "bin" and name not in SCALARS:
            raise QueryError(f"unknown function {name}", where, where)
        for arg in expr[2]:
            _check_expr(arg, False, where)
    elif expr[0] == "op":
        _check_expr(expr[2], False, where)
        _check_expr(expr[3], False, where)
    elif expr[0] in ("not", "neg") or expr[0] == "in" or expr[0] == "like":
        _check_expr(expr[1], False, where)
    elif expr[0] == "star":
        raise QueryError("'*' is only allowed in count(*)", where, where)


# -- running -----------------------------------------------------------------------


def name_of(expr: tuple, alias: str | None) -> str:
    """The column name of an unaliased expression, as Insights shows it."""
    if alias:
        return alias
    if expr[0] == "field":
        return expr[1]
    return _source(expr)


def _source(expr: tuple) -> str:
    kind = expr[0]
    if kind == "field":
        return expr[1]
    if kind == "lit":
        value = expr[1]
        return f"{value[1]:g}s" if isinstance(value, tuple) else json.dumps(value)
    if kind == "star":
        return "*"
    if kind == "call":
        return f"{expr[1]}({','.join(_source(a) for a in expr[2])})"
    if kind == "op":
        return f"{_source(expr[2])}{expr[1]}{_source(expr[3])}"
    if kind == "neg":
        return f"-{_source(expr[1])}"
    return "expression"


def run(query: Query, events: Iterable[Row], limit: int | None) -> tuple[list[Row], list[str]]:
    """The rows the query returns and the columns they show, in order."""
    rows: Iterable[Row] = events
    columns: list[str] | None = None
    stop = limit
    aggregated = False
    for command in query.commands:
        args = command.args
        if command.name == "fields":
            rows = _project(rows, args)
            columns = (columns or []) + [
                name_of(e, a) for e, a in args if name_of(e, a) not in (columns or [])
            ]
        elif command.name == "display":
            rows = _project(rows, args)
            columns = [name_of(e, a) for e, a in args]
        elif command.name == "filter":
            rows = _filter(rows, args)
        elif command.name == "parse":
            rows = _parse(rows, *args)
        elif command.name == "stats":
            rows, names = _stats(rows, *args)
            columns = names
            aggregated = True
        elif command.name == "sort":
            rows = _sort(list(rows), args)
        elif command.name == "limit":
            stop = args if stop is None else min(stop, args)
            rows = _take(rows, args)
        elif command.name == "dedup":
            rows = _dedup(rows, args)
    out = list(_take(rows, stop) if stop else rows)
    if columns is None:
        columns = ["@timestamp", "@message"]
    if not aggregated and "@ptr" not in columns:
        columns = [*columns, "@ptr"]
    return out, columns


def _filter(rows: Iterable[Row], condition: tuple) -> Iterator[Row]:
    # A function, not a generator expression in ``run``'s loop: that would see the
    # loop variable of a later command when it is finally consumed.
    return (row for row in rows if _truthy(evaluate(condition, row)))


def _take(rows: Iterable[Row], n: int) -> Iterator[Row]:
    for i, row in enumerate(rows):
        if i >= n:
            return
        yield row


def _project(rows: Iterable[Row], args: list) -> Iterator[Row]:
    for row in rows:
        row = dict(row)
        for expr, alias in args:
            if expr[0] != "field" or alias:
                row[name_of(expr, alias)] = evaluate(expr, row)
        yield row


def _parse(rows: Iterable[Row], source: tuple, pattern: tuple, names: list[str]) -> Iterator[Row]:
    for row in rows:
        text = _text(evaluate(source, row))
        row = dict(row)
        match = pattern[1].search(text) if text is not None else None
        if pattern[0] == "glob":
            values = match.groups() if match else [None] * len(names)
            row.update(zip(names, values, strict=True))
        else:
            for name in names:
                row[name] = match.group(name) if match else None
        yield row


def _sort(rows: list[Row], keys: list) -> list[Row]:
    for expr, descending in reversed(keys):
        present = [r for r in rows if evaluate(expr, r) is not None]
        absent = [r for r in rows if evaluate(expr, r) is None]

        def key(row: Row, expr=expr) -> tuple:
            value = evaluate(expr, row)
            number = _number(value)
            return (0, number, "") if number is not None else (1, 0, _text(value))

        present.sort(key=key, reverse=descending)
        rows = present + absent  # nulls last either way
    return rows


def _dedup(rows: Iterable[Row], names: list[str]) -> Iterator[Row]:
    seen = set()
    for row in rows:
        values = tuple(row.get(n) for n in names)
        if any(v is None for v in values):
            yield row  # rows with a null in a dedup field are kept
            continue
        if values in seen:
            continue
        seen.add(values)
        yield row


def _stats(rows: Iterable[Row], aggregates: list, groups: list) -> tuple[Iterator[Row], list[str]]:
    buckets: dict[tuple, list[Row]] = {}
    for row in rows:
        key = tuple(_hashable(evaluate(expr, row)) for expr, _ in groups)
        buckets.setdefault(key, []).append(row)
    if not groups and not buckets:
        buckets[()] = []
    group_names = [name_of(e, a) for e, a in groups]
    agg_names = [name_of(e, a) for e, a in aggregates]
    out = []
    for key, members in buckets.items():
        result = dict(zip(group_names, key, strict=True))
        for (expr, _), name in zip(aggregates, agg_names, strict=True):
            result[name] = _aggregate(expr, members)
        out.append(result)
    return iter(out), group_names + agg_names


def _hashable(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


def _aggregate(expr: tuple, rows: list[Row]) -> Any:
    name, args = expr[1], expr[2]
    if name == "count":
        if not args or args[0] == ("star",):
            return len(rows)
        return sum(1 for r in rows if evaluate(args[0], r) is not None)
    values = [evaluate(args[0], r) for r in rows] if args else []
    present = [v for v in values if v is not None]
    if name == "count_distinct":
        return len({_hashable(v) for v in present})
    if name in ("earliest", "latest", "sortsfirst", "sortslast"):
        ordered = sorted(
            (r for r in rows if evaluate(args[0], r) is not None),
            key=lambda r: r.get("@timestamp") or 0,
        )
        if not ordered:
            return None
        pick = ordered[0] if name in ("earliest", "sortsfirst") else ordered[-1]
        return evaluate(args[0], pick)
    numbers = [n for v in present if (n := _number(v)) is not None]
    if not numbers:
        return None
    if name == "sum":
        return sum(numbers)
    if name == "avg":
        return sum(numbers) / len(numbers)
    if name == "min":
        return min(numbers)
    if name == "max":
        return max(numbers)
    if name == "stddev":
        return statistics.pstdev(numbers) if len(numbers) > 1 else 0.0
    if name == "pct":
        p = _number(evaluate(args[1], {})) if len(args) > 1 else 50
        ordered = sorted(numbers)
        index = min(len(ordered) - 1, max(0, math.ceil((p or 0) / 100 * len(ordered)) - 1))
        return ordered[index]
    raise QueryError(f"unknown function {name}", 0, 0)


def format_value(name: str, value: Any) -> str:
    """A result cell as GetQueryResults shows it: timestamps as UTC text."""
    timestamp = name in ("@timestamp", "@ingestionTime") or name.startswith("bin(")
    if timestamp and isinstance(value, int | float) and not isinstance(value, bool):
        moment = dt.datetime.fromtimestamp(value / 1000, dt.UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)
