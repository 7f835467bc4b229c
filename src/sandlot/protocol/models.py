"""Loading botocore's service models, once per process."""

from __future__ import annotations

import copy
from functools import cache

import botocore.exceptions
import botocore.loaders
import botocore.model

from sandlot.protocol._serial_compat import QUERY_NAMES


@cache
def _loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


@cache
def service_model(name: str) -> botocore.model.ServiceModel:
    """The botocore ServiceModel for ``name`` (e.g. ``"sts"``, ``"s3"``)."""
    data = _loader().load_service_model(name, "service-2")
    return botocore.model.ServiceModel(data, service_name=name)


def speaks_legacy_query(name: str) -> bool:
    """Whether ``name`` moved from the query protocol to JSON and still takes query
    requests from older SDKs (``awsQueryCompatible`` with known query names)."""
    return name in QUERY_NAMES and "awsQueryCompatible" in service_model(name).metadata


@cache
def query_view(name: str) -> botocore.model.ServiceModel:
    """The model of a JSON service that older SDKs call with the query protocol, as
    its query-era model was: item names of flattened lists and maps (``_serial_compat``)
    and each output wrapped in ``<OpResult>``."""
    data = copy.deepcopy(_loader().load_service_model(name, "service-2"))
    names, shapes = QUERY_NAMES[name], data["shapes"]
    for shape, item in names["items"].items():
        shapes[shape]["member"]["locationName"] = item
    for shape, (key, value) in names["entries"].items():
        shapes[shape]["key"]["locationName"] = key
        shapes[shape]["value"]["locationName"] = value
    for (shape, member), location in names["members"].items():
        shapes[shape]["members"][member]["locationName"] = location
    for operation in data["operations"].values():
        if "output" in operation:
            operation["output"]["resultWrapper"] = f"{operation['name']}Result"
    data["metadata"].update(protocol="query", protocols=["query"], xmlNamespace=names["namespace"])
    return botocore.model.ServiceModel(data, service_name=name)


def protocol_model(name: str, protocol: str) -> botocore.model.ServiceModel:
    """The model requests and answers of ``name`` in ``protocol`` follow."""
    if protocol == "query" and speaks_legacy_query(name):
        return query_view(name)
    return service_model(name)


@cache
def unauthenticated_operations(name: str) -> frozenset[str]:
    """The operations of service ``name`` that AWS serves without a signature (the
    model's ``authtype: none``), e.g. STS's ``AssumeRoleWithWebIdentity``."""
    try:
        model = service_model(name)
    except botocore.exceptions.UnknownServiceError:
        return frozenset()
    return frozenset(
        op for op in model.operation_names if model.operation_model(op).auth_type == "none"
    )


def available_services() -> list[str]:
    """Every service name botocore ships a model for."""
    return _loader().list_available_services("service-2")
