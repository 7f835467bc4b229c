"""API Gateway route selection: AWS's most-specific-match rules, as a table."""

from __future__ import annotations

import pytest

from sandlot.services.http_routes import compile_routes, parse_key, select

KEYS = [
    "GET /pets/{id}",
    "GET /pets/dog",
    "ANY /pets/{id}",
    "POST /pets",
    "GET /files/{path+}",
    "ANY /{proxy+}",
    "GET /",
    "$default",
]
ROUTES = compile_routes([(k, k) for k in KEYS])

CASES = [
    ("GET", "/pets/dog", "GET /pets/dog", {}),
    ("GET", "/pets/7", "GET /pets/{id}", {"id": "7"}),
    ("DELETE", "/pets/7", "ANY /pets/{id}", {"id": "7"}),
    ("POST", "/pets", "POST /pets", {}),
    ("GET", "/pets", "ANY /{proxy+}", {"proxy": "pets"}),
    ("GET", "/files/a/b/c.txt", "GET /files/{path+}", {"path": "a/b/c.txt"}),
    ("POST", "/files/a", "ANY /{proxy+}", {"proxy": "files/a"}),
    ("GET", "/pets/a%20b", "GET /pets/{id}", {"id": "a b"}),
    ("GET", "/", "GET /", {}),
    ("POST", "/", "$default", {}),
]


@pytest.mark.parametrize(("method", "path", "key", "params"), CASES)
def test_most_specific_route_wins(method, path, key, params):
    route, found = select(ROUTES, method, path)
    assert (route.key, found) == (key, params)


def test_no_route_without_default():
    routes = compile_routes([("GET /a", 1), ("GET /b/{x}", 2)])
    assert select(routes, "GET", "/c") is None
    assert select(routes, "GET", "/b") is None
    assert select(routes, "GET", "/b/1/2") is None
    assert select(routes, "POST", "/a") is None


@pytest.mark.parametrize(
    "key", ["FETCH /a", "GET a", "GET /{proxy+}/x", "GET /a/{b", "GET /a//b", "GET", ""]
)
def test_invalid_route_keys(key):
    with pytest.raises(ValueError):
        parse_key(key)
