"""Runtime management operations authorize on the version they name (AWS's data)."""

from sandlot.iam.actions.resolve import authorizations

ACCOUNT, REGION = "000000000000", "us-east-1"


def test_runtime_management_config_actions_and_resources():
    for operation in ("PutRuntimeManagementConfig", "GetRuntimeManagementConfig"):
        params = {"FunctionName": "f", "Qualifier": "1", "UpdateRuntimeOn": "Auto"}
        (auth,) = authorizations("lambda", operation, params, ACCOUNT, REGION)
        assert auth.action == f"lambda:{operation}"
        assert auth.resources == (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f:1",)
