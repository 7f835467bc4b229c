"""API Gateway REST APIs' durable state: an API is a row; its resources (with their
methods and integrations), deployments (each a snapshot of the resources) and stages
are rows of one table keyed by (api, kind, id), holding what the Get operation returns
(keys starting with ``_`` are sandlot's own, never returned); an authorizer is such a
row too. API keys and usage plans are the account's, in a table of their own, and so
are the usage plans' quota counters."""

from __future__ import annotations

from sandlot.store import Migration, Table

APIS = Table(
    "apigw_rest_apis",
    {"api_id": "TEXT", "account": "TEXT", "region": "TEXT", "doc": "TEXT"},
    ("api_id",),
    indexes=(("account", "region"),),
)

ITEMS = Table(
    "apigw_rest_items",
    {
        "api_id": "TEXT",
        "kind": "TEXT",  # resource | deployment | stage
        "item_id": "TEXT",
        "created": "REAL",
        "doc": "TEXT",  # JSON
    },
    ("api_id", "kind", "item_id"),
)


# API keys, usage plans and their keys belong to an account and region, not to an API.
ACCOUNT_ITEMS = Table(
    "apigw_account_items",
    {
        "account": "TEXT",
        "region": "TEXT",
        "kind": "TEXT",  # apikey | usageplan | usageplankey (item_id "<plan>/<key>")
        "item_id": "TEXT",
        "created": "REAL",
        "doc": "TEXT",  # JSON
    },
    ("account", "region", "kind", "item_id"),
)

# Usage-plan quotas: requests counted per plan, API key and UTC day (what GetUsage
# reports), and UpdateUsage's extensions of a quota period's remaining requests.
USAGE = Table(
    "apigw_usage",
    {
        "account": "TEXT",
        "region": "TEXT",
        "plan_id": "TEXT",
        "key_id": "TEXT",
        "day": "TEXT",  # YYYY-MM-DD, UTC
        "used": "INTEGER",
    },
    ("account", "region", "plan_id", "key_id", "day"),
)
QUOTA_EXTENSIONS = Table(
    "apigw_quota_extensions",
    {
        "account": "TEXT",
        "region": "TEXT",
        "plan_id": "TEXT",
        "key_id": "TEXT",
        "period": "TEXT",  # the quota period's first day, YYYY-MM-DD
        "extra": "INTEGER",  # added to the plan's limit in that period (may be negative)
    },
    ("account", "region", "plan_id", "key_id", "period"),
)

MIGRATIONS = [
    Migration(1, create=APIS),
    Migration(2, create=ITEMS),
    Migration(3, create=ACCOUNT_ITEMS),
    Migration(4, create=USAGE),
    Migration(5, create=QUOTA_EXTENSIONS),
]
