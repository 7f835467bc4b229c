"""How sandlot's commands reach a running sandlot: botocore clients over the AWS APIs."""

from __future__ import annotations

import argparse
import os

import botocore.session
from botocore.config import Config

DEFAULT_ENDPOINT = "http://localhost:4566"
DEFAULT_REGION = "us-east-1"


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """``--endpoint`` and ``--region``, shared by the commands that call the API."""
    parser.add_argument(
        "--endpoint",
        help=f"sandlot's URL (default: $AWS_ENDPOINT_URL, else {DEFAULT_ENDPOINT})",
    )
    parser.add_argument("--region", help="region (default: $AWS_REGION, else us-east-1)")


def endpoint(args: argparse.Namespace) -> str:
    return args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT


def region(args: argparse.Namespace, preferred: str | None = None) -> str:
    """``--region``, else ``preferred`` (e.g. an ARN's), else the environment's."""
    return (
        args.region
        or preferred
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION
    )


def api_client(service: str, endpoint_url: str, region_name: str, read_timeout: int = 30):
    """A botocore client for sandlot; without configured credentials it uses dev mode's
    any-key-goes (the default account)."""
    session = botocore.session.get_session()
    if session.get_credentials() is None:
        session.set_credentials("test", "test")
    return session.create_client(
        service,
        endpoint_url=endpoint_url,
        region_name=region_name,
        config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=read_timeout),
    )
