"""Model-valid but arbitrary inputs to every Lambda operation: an AWS-shaped error or a
result, never another exception."""

from __future__ import annotations

import pytest
from botocore import xform_name
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandlot.protocol import ServiceError
from sandlot.protocol.models import service_model
from sandlot.services.awslambda.provider import LambdaProvider
from tests.model_strategies import value_for
from tests.unit.awslambda.support import Lambda, create

MODEL = service_model("lambda")
# The control plane's operations (Invoke and friends belong to the invoke path).
OPERATIONS = [
    "AddPermission", "CreateAlias", "CreateFunction", "DeleteAlias", "DeleteFunction",
    "DeleteFunctionConcurrency", "DeleteLayerVersion", "GetAccountSettings", "GetAlias",
    "GetFunction", "GetFunctionConcurrency", "GetFunctionConfiguration", "GetLayerVersion",
    "GetLayerVersionByArn", "GetPolicy", "ListAliases", "ListFunctions", "ListLayerVersions",
    "ListLayers", "ListTags", "ListVersionsByFunction", "PublishLayerVersion",
    "PublishVersion", "PutFunctionConcurrency", "RemovePermission", "TagResource",
    "UntagResource", "UpdateAlias", "UpdateFunctionCode", "UpdateFunctionConfiguration",
]  # fmt: skip
# Names that exist, so that some generated requests get past the lookups.
_KNOWN = st.sampled_from(["f", "f:1", "f:live", "f:$LATEST", "l"])


@pytest.fixture(scope="module")
def lam(tmp_path_factory):
    client = Lambda(tmp_path_factory.mktemp("fuzz"))
    create(client, "f")
    client.settle()
    client("PublishVersion", FunctionName="f")
    client("CreateAlias", FunctionName="f", Name="live", FunctionVersion="1")
    yield client
    client.close()


def test_every_operation_is_implemented():
    assert all(hasattr(LambdaProvider, xform_name(name)) for name in OPERATIONS)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_arbitrary_valid_inputs(lam, operation):
    shape = MODEL.operation_model(operation).input_shape
    params = value_for(shape) if shape is not None else st.just({})

    @settings(
        max_examples=15,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(params=params, name=_KNOWN, use_known=st.booleans())
    def run(params, name, use_known):
        for member in ("FunctionName", "LayerName"):
            if use_known and member in params:
                params[member] = name
        try:
            result = lam(operation, **params)
        except ServiceError as error:
            assert 400 <= error.status < 600 and error.status != 500, error
        else:
            assert isinstance(result, dict)

    run()
