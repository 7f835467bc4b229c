"""Rotation schedules: rate() and six-field cron() expressions, in UTC, as AWS reads them."""

from __future__ import annotations

import calendar

import pytest

from sandlot.protocol import ServiceError
from sandlot.services.secretsmanager.provider import random_password
from sandlot.services.secretsmanager.rotation import _next_time

NOW = calendar.timegm((2026, 12, 3, 13, 30, 0))  # a Thursday


def utc(*fields: int) -> float:
    return float(calendar.timegm((*fields, 0)[:6]))


def test_rate() -> None:
    assert _next_time("rate(10 days)", NOW) == NOW + 10 * 86400
    assert _next_time("rate(4 hours)", NOW) == NOW + 4 * 3600
    for bad in ("rate(2 hours)", "rate(0 days)", "rate(1001 days)", "rate(ten days)"):
        with pytest.raises(ServiceError) as caught:
            _next_time(bad, NOW)
        assert caught.value.code == "InvalidParameterException"


def test_cron() -> None:
    # 16:00 on the 1st and 15th of each month.
    assert _next_time("cron(0 16 1,15 * ? *)", NOW) == utc(2026, 12, 15, 16, 0)
    # Later the same day.
    assert _next_time("cron(0 14 * * ? *)", NOW) == utc(2026, 12, 3, 14, 0)
    # Every 4 hours from midnight: the next is 16:00.
    assert _next_time("cron(0 0/4 * * ? *)", NOW) == utc(2026, 12, 3, 16, 0)
    # Sundays (1) at 08:30.
    assert _next_time("cron(30 8 ? * 1 *)", NOW) == utc(2026, 12, 6, 8, 30)
    # Monday to Friday (2-6) at 09:00: Friday the 4th.
    assert _next_time("cron(0 9 ? * 2-6 *)", NOW) == utc(2026, 12, 4, 9, 0)
    for bad in ("cron(0 16 * *)", "cron(61 * * * ? *)", "cron(0 16 L * ? *)", "weekly"):
        with pytest.raises(ServiceError):
            _next_time(bad, NOW)


def test_random_password_required_types() -> None:
    for _ in range(50):
        p = random_password({"PasswordLength": 4})
        assert any(c.islower() for c in p) and any(c.isupper() for c in p)
        assert any(c.isdigit() for c in p) and any(not c.isalnum() for c in p)
    with pytest.raises(ServiceError):
        random_password({"PasswordLength": 3})
    assert len(random_password({"PasswordLength": 3, "RequireEachIncludedType": False})) == 3
