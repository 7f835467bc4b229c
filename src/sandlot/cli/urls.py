"""``sandlot urls``: the local URL of every API Gateway stage (HTTP and REST APIs),
Lambda function URL, and custom domain name's API mapping (served on sandlot's HTTPS
port once the name resolves to it)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from sandlot.cli import clients


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``urls`` subcommand of ``sandlot``."""
    parser = commands.add_parser(
        "urls", help="print the local URLs of HTTP API stages and Lambda function URLs"
    )
    clients.add_connection_arguments(parser)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """One line per URL: ``api``/``rest-api <id> (<name>) stage <stage>  <url>``,
    ``function <arn>  <url>`` or ``domain <name> [(mutual TLS)] api <id> stage <stage>
    <url>``."""
    endpoint, region = clients.endpoint(args), clients.region(args)
    try:
        apis = clients.api_client("apigatewayv2", endpoint, region)
        for api in _all(apis.get_apis, "Items"):
            for stage in _all(apis.get_stages, "Items", ApiId=api["ApiId"]):
                name = stage["StageName"]
                url = api["ApiEndpoint"] + ("/" if name == "$default" else f"/{name}/")
                print(f"api {api['ApiId']} ({api['Name']}) stage {name}  {url}", file=out)
        rest = clients.api_client("apigateway", endpoint, region)
        port = urlsplit(endpoint).port
        host = "execute-api.localhost.localstack.cloud" + (f":{port}" if port else "")
        for api in _all(rest.get_rest_apis, "items", token="position", next="position"):
            for stage in rest.get_stages(restApiId=api["id"]).get("item", []):
                name = stage["stageName"]
                url = f"http://{api['id']}.{host}/{name}/"
                print(f"rest-api {api['id']} ({api['name']}) stage {name}  {url}", file=out)
        lam = clients.api_client("lambda", endpoint, region)
        for function in _all(lam.list_functions, "Functions", token="Marker", next="NextMarker"):
            configs = _all(
                lam.list_function_url_configs,
                "FunctionUrlConfigs",
                token="Marker",
                next="NextMarker",
                FunctionName=function["FunctionName"],
            )
            for config in configs:
                print(f"function {config['FunctionArn']}  {config['FunctionUrl']}", file=out)
        for domain in _all(apis.get_domain_names, "Items"):
            name = domain["DomainName"]
            mutual = " (mutual TLS)" if domain.get("MutualTlsAuthentication") else ""
            for mapping in _all(apis.get_api_mappings, "Items", DomainName=name):
                key = mapping.get("ApiMappingKey") or ""
                print(
                    f"domain {name}{mutual} api {mapping['ApiId']} stage {mapping['Stage']}  "
                    f"https://{name}/{key + '/' if key else ''}",
                    file=out,
                )
    except (ClientError, BotoCoreError) as error:
        print(f"sandlot urls: {error}", file=err)
        return 2
    return 0


def _all(call, key: str, token: str = "NextToken", next: str = "NextToken", **params) -> list:
    items: list = []
    while True:
        page = call(**params)
        items += page.get(key, [])
        if not page.get(next):
            return items
        params[token] = page[next]
