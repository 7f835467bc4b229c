"""Loading botocore's service models, once per process."""

from __future__ import annotations

from functools import cache

import botocore.loaders
import botocore.model


@cache
def _loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


@cache
def service_model(name: str) -> botocore.model.ServiceModel:
    """The botocore ServiceModel for ``name`` (e.g. ``"sts"``, ``"s3"``)."""
    data = _loader().load_service_model(name, "service-2")
    return botocore.model.ServiceModel(data, service_name=name)


def available_services() -> list[str]:
    """Every service name botocore ships a model for."""
    return _loader().list_available_services("service-2")
