"""Reading OpenAPI 3 / Swagger 2 definitions (JSON or YAML) for API Gateway's imports,
HTTP and REST APIs alike."""

from __future__ import annotations

import json
from typing import Any

import yaml


def parse_definition(body: str) -> dict[str, Any]:
    """The definition as data; ValueError saying why when it is not OpenAPI."""
    try:
        document = json.loads(body)
    except ValueError:
        try:
            document = yaml.safe_load(body)
        except yaml.YAMLError as error:
            raise ValueError(f"Invalid OpenAPI input: {str(error)[:200]}") from None
    if not isinstance(document, dict) or not (
        str(document.get("openapi", "")).startswith("3.") or document.get("swagger") == "2.0"
    ):
        raise ValueError(
            "Invalid OpenAPI input: the definition must be an OpenAPI 3.0 or Swagger 2.0 "
            "document (an 'openapi' or 'swagger' version field)."
        )
    if not isinstance(document.get("paths", {}), dict):
        raise ValueError("Invalid OpenAPI input: 'paths' must be an object.")
    return document
