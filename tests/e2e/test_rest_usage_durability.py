"""Usage-plan quotas are durable: the requests an API key made are counted in the store
before the request goes on, so a quota of N a DAY still refuses the N+1th request after
kill -9 and a restart; GetUsage reports the days and UpdateUsage extends the period's
remaining requests. Throttling stays in memory (a token bucket, as AWS's)."""

from __future__ import annotations

import datetime as dt

from tests.e2e.conftest import error_of, make_client
from tests.e2e.http_clients import invoke_url, send
from tests.e2e.server import SandlotServer


def _api_with_key(apis) -> tuple[str, dict, dict]:
    api_id = apis.create_rest_api(name="metered")["id"]
    root = apis.get_resources(restApiId=api_id)["items"][0]["id"]
    method = dict(restApiId=api_id, resourceId=root, httpMethod="GET")
    apis.put_method(**method, authorizationType="NONE", apiKeyRequired=True)
    apis.put_integration(**method, type="MOCK",
                         requestTemplates={"application/json": '{"statusCode": 200}'})  # fmt: skip
    apis.put_method_response(**method, statusCode="200")
    apis.put_integration_response(**method, statusCode="200",
                                  responseTemplates={"application/json": '{"ok": true}'})  # fmt: skip
    apis.create_deployment(restApiId=api_id, stageName="prod")
    key = apis.create_api_key(name="caller", enabled=True)
    plan = apis.create_usage_plan(name="two-a-day", apiStages=[{"apiId": api_id, "stage": "prod"}],
                                  quota={"limit": 2, "period": "DAY"})  # fmt: skip
    apis.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    return api_id, key, plan


def test_quota_survives_kill_9(tmp_path):
    server = SandlotServer(tmp_path, lambda_role=False).start()
    apis = make_client(server.endpoint, "apigateway")
    api_id, key, plan = _api_with_key(apis)

    def call(running) -> int:
        url = invoke_url(running, api_id, "/prod/")
        return send(running.endpoint, "GET", url, headers={"x-api-key": key["value"]}).status

    assert [call(server), call(server)] == [200, 200]
    server.kill()

    with SandlotServer(tmp_path, lambda_role=False) as restarted:
        apis = make_client(restarted.endpoint, "apigateway")
        refused = send(restarted.endpoint, "GET", invoke_url(restarted, api_id, "/prod/"),
                       headers={"x-api-key": key["value"]})  # fmt: skip
        assert (refused.status, refused.json()) == (429, {"message": "Limit Exceeded"})
        today = dt.datetime.now(dt.UTC).date()
        yesterday = (today - dt.timedelta(days=1)).isoformat()
        usage = apis.get_usage(usagePlanId=plan["id"], startDate=yesterday,
                               endDate=today.isoformat())  # fmt: skip
        assert usage["items"] == {key["id"]: [[0, 2], [2, 0]]}
        assert (usage["startDate"], usage["endDate"]) == (yesterday, today.isoformat())
        # UpdateUsage grants one more request in this period.
        granted = apis.update_usage(usagePlanId=plan["id"], keyId=key["id"],
                                    patchOperations=[{"op": "replace", "path": "/remaining",
                                                      "value": "1"}])  # fmt: skip
        assert granted["items"] == {key["id"]: [[2, 1]]}
        assert [call(restarted), call(restarted)] == [200, 429]
        usage = apis.get_usage(usagePlanId=plan["id"], keyId=key["id"],
                               startDate=today.isoformat(), endDate=today.isoformat())  # fmt: skip
        assert usage["items"] == {key["id"]: [[3, 0]]}
        wrong = error_of(apis.get_usage, usagePlanId=plan["id"], startDate="yesterday",
                         endDate=today.isoformat())  # fmt: skip
        assert (wrong["Code"], wrong["HTTPStatusCode"]) == ("BadRequestException", 400)
        path = error_of(apis.update_usage, usagePlanId=plan["id"], keyId=key["id"],
                        patchOperations=[{"op": "replace", "path": "/used", "value": "0"}])  # fmt: skip
        assert path["Code"] == "BadRequestException"
        missing = error_of(apis.get_usage, usagePlanId="nope00", startDate=yesterday,
                           endDate=today.isoformat())  # fmt: skip
        assert missing["Code"] == "NotFoundException"
