"""Schedule expressions of EventBridge rules and EventBridge Scheduler: ``rate(value
unit)``, AWS's six-field ``cron(minutes hours day-of-month month day-of-week year)`` and
(Scheduler only) ``at(yyyy-mm-ddThh:mm:ss)``. A pure engine: ``parse`` validates
(``ScheduleError`` carries AWS's message) and returns a ``Schedule`` whose
``next_after(t, start, tz)`` is the first firing strictly after epoch second ``t``.
``cron`` and ``at`` read wall-clock time in ``tz`` (UTC for rules; a schedule's
``ScheduleExpressionTimezone``), so a daily 09:00 stays 09:00 across DST changes.

Written here rather than taken from a library: AWS's cron is not Unix cron (a year
field, ``?``, ``L``, ``W``, ``#``, day-of-week 1 = Sunday, day-of-month and
day-of-week exclusive), and the maintained Python cron libraries implement the Unix or
Quartz dialects, each differing from AWS's in one of those.

Fields (AWS's "Cron expressions reference"): minutes 0-59, hours 0-23, day-of-month
1-31 (``L`` last day, ``nW`` nearest weekday), month 1-12 or JAN-DEC, day-of-week 1-7
or SUN-SAT (``nL`` last such weekday of the month, ``n#k`` k-th one), year 1970-2199;
``,`` ``-`` ``*`` ``/`` everywhere; one of day-of-month and day-of-week must be ``?``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

INVALID = "Parameter ScheduleExpression is not valid."

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)\Z")
_CRON = re.compile(r"cron\((.*)\)\Z")
_AT = re.compile(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)\Z")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}  # fmt: skip
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
MAX_YEAR = 2199


class ScheduleError(ValueError):
    """An invalid expression; ``message`` is AWS's ValidationException text."""

    def __init__(self, message: str = INVALID) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Rate:
    seconds: float

    def next_after(self, t: float, start: float, tz: dt.tzinfo = dt.UTC) -> float:
        """The first ``start + n * seconds`` (n >= 1) after ``t``."""
        return start + max(1, int((t - start) // self.seconds) + 1) * self.seconds


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: str  # the day-of-month field, evaluated per month (L and W depend on it)
    months: frozenset[int]
    weekdays: str  # the day-of-week field
    years: frozenset[int]

    def next_after(self, t: float, start: float = 0.0, tz: dt.tzinfo = dt.UTC) -> float | None:
        """The first matching minute after ``t`` (None: the schedule has ended)."""
        moment = dt.datetime.fromtimestamp(int(t // 60) * 60 + 60, tz)
        day = moment.date()
        while day.year <= MAX_YEAR:
            if day.year not in self.years:
                day = dt.date(day.year + 1, 1, 1)
                continue
            if day.month not in self.months:
                day = _first_of_next_month(day)
                continue
            if self._day_matches(day):
                earliest = (moment.hour, moment.minute) if day == moment.date() else (0, 0)
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        if (hour, minute) >= earliest:
                            at = dt.datetime(
                                day.year, day.month, day.day, hour, minute, tzinfo=tz
                            ).timestamp()
                            if at > t:  # (a wall time a DST change skipped maps later)
                                return at
            day += dt.timedelta(days=1)
        return None

    def _day_matches(self, day: dt.date) -> bool:
        if self.days != "?":
            return _dom_matches(self.days, day)
        return _dow_matches(self.weekdays, day)


@dataclass(frozen=True)
class At:
    """A one-time schedule: ``at`` is a wall-clock time, read in the schedule's zone."""

    at: dt.datetime  # naive

    def next_after(self, t: float, start: float = 0.0, tz: dt.tzinfo = dt.UTC) -> float | None:
        when = self.at.replace(tzinfo=tz).timestamp()
        return when if when > t else None


Schedule = Rate | Cron | At


def parse(expression: str, *, allow_at: bool = False, message: str = INVALID) -> Schedule:
    """The schedule of ``rate(…)``, ``cron(…)`` or (``allow_at``) ``at(…)``;
    ``ScheduleError(message)`` if invalid."""
    try:
        return _parse(expression, allow_at)
    except ScheduleError:
        raise ScheduleError(message) from None


def _parse(expression: str, allow_at: bool) -> Schedule:
    if not isinstance(expression, str):
        raise ScheduleError()
    at = _AT.match(expression) if allow_at else None
    if at:
        try:
            return At(dt.datetime.strptime(at[1], "%Y-%m-%dT%H:%M:%S"))
        except ValueError:
            raise ScheduleError() from None
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate[1]), rate[2]
        # AWS: a value of 1 takes the singular unit, larger values the plural.
        if value <= 0 or (value == 1) != (not unit.endswith("s")):
            raise ScheduleError()
        return Rate(value * _UNITS[unit.rstrip("s")])
    cron = _CRON.match(expression)
    if not cron:
        raise ScheduleError()
    fields = cron[1].split()
    if len(fields) != 6:
        raise ScheduleError()
    minutes, hours, days, months, weekdays, years = fields
    if (days == "?") == (weekdays == "?"):
        raise ScheduleError()  # exactly one of them must be "?"
    schedule = Cron(
        _values(minutes, 0, 59),
        _values(hours, 0, 23),
        days,
        _values(months, 1, 12, _MONTHS),
        weekdays,
        _values(years, 1970, MAX_YEAR),
    )
    if days != "?":
        _check_dom(days)
    if weekdays != "?":
        _check_dow(weekdays)
    return schedule


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    out: set[int] = set()
    for part in field.split(","):
        out |= _part(part, low, high, names)
    return frozenset(out)


def _number(text: str, low: int, high: int, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ScheduleError()
    value = int(text)
    if not low <= value <= high:
        raise ScheduleError()
    return value


def _part(part: str, low: int, high: int, names: dict[str, int] | None) -> set[int]:
    step = 1
    if "/" in part:
        part, _, step_text = part.partition("/")
        if not step_text.isdigit() or int(step_text) == 0:
            raise ScheduleError()
        step = int(step_text)
    if part == "*":
        first, last = low, high
    elif "-" in part:
        a, _, b = part.partition("-")
        first, last = _number(a, low, high, names), _number(b, low, high, names)
        if first > last:
            raise ScheduleError()
    else:
        first = _number(part, low, high, names)
        last = high if step > 1 else first  # "5/15": from 5, every 15
    return set(range(first, last + 1, step))


def _check_dom(field: str) -> None:
    for part in field.split(","):
        if part in ("L", "LW"):
            continue
        if part.endswith("W"):
            _number(part[:-1], 1, 31, None)
        else:
            _part(part, 1, 31, None)


def _check_dow(field: str) -> None:
    for part in field.split(","):
        if part == "L":
            continue
        if part.endswith("L"):
            _number(part[:-1], 1, 7, _DAYS)
        elif "#" in part:
            day, _, nth = part.partition("#")
            _number(day, 1, 7, _DAYS)
            _number(nth, 1, 5, None)
        else:
            _part(part, 1, 7, _DAYS)


def _first_of_next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def _last_day(day: dt.date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _weekday(day: dt.date) -> int:
    """AWS's numbering: 1 = Sunday ... 7 = Saturday."""
    return (day.isoweekday() % 7) + 1


def _nearest_weekday(day: dt.date, target: int) -> int:
    """The weekday of ``day``'s month nearest to day ``target`` (never leaving the month)."""
    last = _last_day(day)
    target = min(target, last)
    candidate = dt.date(day.year, day.month, target)
    if candidate.weekday() == 5:  # Saturday: Friday, or Monday if that leaves the month
        return target - 1 if target > 1 else target + 2
    if candidate.weekday() == 6:  # Sunday: Monday, or Friday at the month's end
        return target + 1 if target < last else target - 2
    return target


def _dom_matches(field: str, day: dt.date) -> bool:
    for part in field.split(","):
        if part == "L":
            hit = day.day == _last_day(day)
        elif part == "LW":
            hit = day.day == _nearest_weekday(day, _last_day(day))
        elif part.endswith("W"):
            hit = day.day == _nearest_weekday(day, int(part[:-1]))
        else:
            hit = day.day in _part(part, 1, 31, None)
        if hit:
            return True
    return False


def _dow_matches(field: str, day: dt.date) -> bool:
    weekday = _weekday(day)
    for part in field.split(","):
        if part == "L":
            hit = weekday == 7
        elif part.endswith("L"):
            hit = weekday == _number(part[:-1], 1, 7, _DAYS) and day.day + 7 > _last_day(day)
        elif "#" in part:
            name, _, nth = part.partition("#")
            hit = weekday == _number(name, 1, 7, _DAYS) and (day.day - 1) // 7 + 1 == int(nth)
        else:
            hit = weekday in _part(part, 1, 7, _DAYS)
        if hit:
            return True
    return False
