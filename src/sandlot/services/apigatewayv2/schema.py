"""API Gateway HTTP APIs' durable state.

An API is one row; its routes, integrations, stages and deployments are rows of one
table keyed by (api, kind, id), each holding the resource as its Get operation returns
it (JSON). A deployment also keeps the snapshot of routes and integrations it serves
(``_snapshot``: keys starting with ``_`` are never returned). API ids are unique
across accounts and regions, as the invoke URL names only the id.
"""

from __future__ import annotations

from sandlot.store import Migration, Table

APIS = Table(
    "apigwv2_apis",
    {
        "api_id": "TEXT",
        "account": "TEXT",
        "region": "TEXT",
        "doc": "TEXT",  # JSON: the Api as GetApi returns it, without ApiEndpoint
    },
    ("api_id",),
    indexes=(("account", "region"),),
)

ITEMS = Table(
    "apigwv2_items",
    {
        "api_id": "TEXT",
        "kind": "TEXT",  # route | integration | stage | deployment
        "item_id": "TEXT",  # RouteId, IntegrationId, StageName, DeploymentId
        "created": "REAL",
        "doc": "TEXT",  # JSON
    },
    ("api_id", "kind", "item_id"),
)

MIGRATIONS = [Migration(1, create=APIS), Migration(2, create=ITEMS)]
