"""Lambda's runtime deprecation calendar: which runtimes may still be created or updated.

AWS deprecates a runtime in steps, each on a published date (UTC): *deprecation* (no
more patches; nothing changes in the API), *block function create* (CreateFunction
refused) and *block function update* (UpdateFunctionCode and UpdateFunctionConfiguration
refused for functions on it, and moving a function onto it). Invocations are never
blocked. The dates are AWS's, from the Lambda Developer Guide (docs.aws.amazon.com/lambda/
latest/dg/): the "Lambda runtimes" page's tables, and, for rows AWS has rescheduled since
(the Amazon Linux 2 runtimes, nodejs20.x, ruby3.2, dotnet8) and ruby4.0, the runtime tables
of the per-language pages (lambda-python, -java, -nodejs, -ruby, -csharp; provided.al2's
from the Chinese copy of lambda-golang only). Python 3.9's are as AWS announced them. AWS
moves dates (it has extended many block dates): when it does, this table is the one place
to change. A runtime without a row has no published date and is never blocked. "Today" is
the UTC date, or the ``lambda_runtime_date`` setting (``SANDLOT_LAMBDA_RUNTIME_DATE=
YYYY-MM-DD``), which lets a test, or a user rehearsing a migration, move Lambda's calendar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime


@dataclass(frozen=True)
class Lifecycle:
    deprecation: date
    block_create: date
    block_update: date


def _row(deprecation: str, block_create: str, block_update: str) -> Lifecycle:
    return Lifecycle(*(date.fromisoformat(d) for d in (deprecation, block_create, block_update)))


# runtime: (deprecation, block function create, block function update)
CALENDAR: dict[str, Lifecycle] = {
    runtime: _row(*dates)
    for runtime, dates in {
        # Supported runtimes (projected dates)
        "nodejs24.x": ("2028-04-30", "2028-06-01", "2028-07-01"),
        "nodejs22.x": ("2027-04-30", "2027-06-01", "2027-07-01"),
        "nodejs20.x": ("2026-04-30", "2026-08-31", "2026-09-30"),
        "python3.14": ("2029-06-30", "2029-07-31", "2029-08-31"),
        "python3.13": ("2029-06-30", "2029-07-31", "2029-08-31"),
        "python3.12": ("2028-10-31", "2028-11-30", "2029-01-10"),
        "python3.11": ("2027-06-30", "2027-07-31", "2027-08-31"),
        "python3.10": ("2026-10-31", "2026-11-30", "2027-01-15"),
        "java25": ("2029-06-30", "2029-07-31", "2029-08-31"),
        "java21": ("2029-06-30", "2029-07-31", "2029-08-31"),
        "java17": ("2027-06-30", "2027-07-31", "2027-08-31"),
        "java11": ("2027-06-30", "2027-07-31", "2027-08-31"),
        "java8.al2": ("2027-06-30", "2027-07-31", "2027-08-31"),
        "dotnet10": ("2028-11-14", "2028-12-14", "2029-01-15"),
        "dotnet8": ("2026-11-10", "2027-02-01", "2027-03-03"),
        "ruby4.0": ("2029-03-31", "2029-04-30", "2029-05-31"),
        "ruby3.4": ("2028-03-31", "2028-04-30", "2028-05-31"),
        "ruby3.3": ("2027-03-31", "2027-04-30", "2027-05-31"),
        "ruby3.2": ("2026-03-31", "2026-08-31", "2026-09-30"),
        "provided.al2023": ("2029-06-30", "2029-07-31", "2029-08-31"),
        "provided.al2": ("2026-07-31", "2026-08-31", "2026-09-30"),
        # Deprecated runtimes
        "nodejs18.x": ("2025-09-01", "2026-02-03", "2026-03-09"),
        "python3.9": ("2025-12-15", "2026-02-03", "2026-03-09"),
        "dotnet6": ("2024-12-20", "2025-02-28", "2025-03-31"),
        "python3.8": ("2024-10-14", "2025-02-28", "2025-03-31"),
        "nodejs16.x": ("2024-06-12", "2025-02-28", "2025-03-31"),
        "java8": ("2024-01-08", "2024-02-08", "2025-02-28"),
        "go1.x": ("2024-01-08", "2024-02-08", "2025-02-28"),
        "provided": ("2024-01-08", "2024-02-08", "2025-02-28"),
        "ruby2.7": ("2023-12-07", "2024-01-09", "2025-02-28"),
        "nodejs14.x": ("2023-12-04", "2024-01-09", "2025-02-28"),
        "python3.7": ("2023-12-04", "2024-01-09", "2025-02-28"),
        "dotnetcore3.1": ("2023-04-03", "2023-04-03", "2023-05-03"),
        "nodejs12.x": ("2023-03-31", "2023-03-31", "2023-04-30"),
        "python3.6": ("2022-07-18", "2022-07-18", "2022-08-29"),
        "dotnetcore2.1": ("2022-01-05", "2022-01-05", "2022-04-13"),
        "nodejs10.x": ("2021-07-30", "2021-07-30", "2022-02-14"),
        "ruby2.5": ("2021-07-30", "2021-07-30", "2022-03-31"),
        "python2.7": ("2021-07-15", "2021-07-15", "2022-05-30"),
        "nodejs8.10": ("2020-03-06", "2020-03-06", "2020-03-06"),
        "nodejs4.3": ("2020-03-06", "2020-03-06", "2020-03-06"),
        "nodejs6.10": ("2019-08-12", "2019-08-12", "2019-08-12"),
        "dotnetcore1.0": ("2019-06-27", "2019-06-27", "2019-07-30"),
        "dotnetcore2.0": ("2019-05-30", "2019-05-30", "2019-05-30"),
        "nodejs4.3-edge": ("2019-04-30", "2019-04-30", "2019-04-30"),
        "nodejs": ("2016-10-31", "2016-10-31", "2016-10-31"),
    }.items()
}

# The runtime AWS's refusal recommends, by family. go1.x's successor is an OS-only
# runtime: AWS's Go docs say to migrate to provided.al2023.
_SUCCESSOR = {
    "nodejs": "nodejs22.x", "python": "python3.13", "dotnet": "dotnet10", "go": "provided.al2023",
    "provided": "provided.al2023",
}  # fmt: skip


def today(setting: str = "") -> date:
    """Lambda's calendar date: the setting's (``YYYY-MM-DD``) if given, else today (UTC)."""
    return date.fromisoformat(setting) if setting else datetime.now(UTC).date()


def blocked(runtime: str, action: str, on: date) -> bool:
    """Whether ``action`` ("create" or "update") of a function on ``runtime`` is refused."""
    row = CALENDAR.get(runtime)
    if row is None:
        return False
    return on >= (row.block_create if action == "create" else row.block_update)


def refusal_message(runtime: str) -> str:
    """AWS's message for a runtime past its block date (the same for create and update)."""
    family = re.match(r"[a-z]*", runtime).group()  # "python3.9" → "python"
    successor = _SUCCESSOR.get(family)
    advice = f"the new runtime ({successor})" if successor else "a supported runtime"
    return (
        f"The runtime parameter of {runtime} is no longer supported for creating or "
        f"updating AWS Lambda functions. We recommend you use {advice} while creating "
        "or updating functions."
    )
