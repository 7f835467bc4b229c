"""Lambda functions from container images (``PackageType: Image``), end to end: a Go
function built with aws-lambda-go is put in an OCI image (tests/e2e/images.py), pushed
to sandlot's ECR with skopeo, created and invoked with boto3, updated to a new tag; the
image's ENV, WORKDIR, ENTRYPOINT and CMD (as ``_HANDLER``) and ImageConfig's overrides
apply; its root is read-only; AWS's errors for bad URIs, absent images, another
architecture; an image with nothing to run fails INIT as Runtime.InvalidEntrypoint."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandlot.execution.sandbox import resolve_backend
from tests.e2e.conftest import make_client
from tests.e2e.functions import ROLE, unique
from tests.e2e.images import Entry, Image, write_layout
from tests.e2e.server import SandlotServer
from tests.e2e.stacks import settled
from tests.e2e.test_native_runtimes import GO_MODULE, GO_SUM, GO_VERSION, _build, _tool

GO_MAIN = """package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

type out struct {
	Greeting, Handler, Cwd, TaskRoot, Api string
	Args                                  []string
	RootWritable, TmpWritable             bool
	Event                                 map[string]any
}

func handle(ctx context.Context, event map[string]any) (out, error) {
	cwd, _ := os.Getwd()
	rootErr := os.WriteFile("/written", []byte("x"), 0o644)
	tmpErr := os.WriteFile("/tmp/written", []byte("x"), 0o644)
	return out{os.Getenv("GREETING"), os.Getenv("_HANDLER"), cwd, os.Getenv("LAMBDA_TASK_ROOT"),
		os.Getenv("AWS_LAMBDA_RUNTIME_API"), os.Args, rootErr == nil, tmpErr == nil, event}, nil
}

func main() { lambda.Start(handle) }
"""
SKOPEO = shutil.which("skopeo")
BACKEND = os.environ.get("SANDLOT_TEST_SANDBOX") or resolve_backend("auto")[0]
pytestmark = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed (.ci/run)")
needs_bwrap = pytest.mark.skipif(
    BACKEND != "linux" or shutil.which("bwrap") is None,
    reason="image functions run in the linux sandbox with bwrap",
)
HOST_ARCH = "arm64" if os.uname().machine == "aarch64" else "amd64"
OTHER_ARCH = "amd64" if HOST_ARCH == "arm64" else "arm64"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("lambda-images")) as running:
        yield running


@pytest.fixture(scope="module")
def lam(server):
    return boto3.session.Session().client(
        "lambda", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, read_timeout=120),
    )  # fmt: skip


@pytest.fixture(scope="module")
def go_binary(request) -> bytes:
    builds = Path(request.config.cache.mkdir("native-builds"))
    source = builds / "go-image"
    source.mkdir(parents=True, exist_ok=True)
    (source / "go.mod").write_text(
        f"module example.com/image\n\ngo 1.26\n\nrequire {GO_MODULE} {GO_VERSION}\n"
    )
    (source / "go.sum").write_text(GO_SUM)
    (source / "main.go").write_text(GO_MAIN)
    env = {"GOOS": "linux", "CGO_ENABLED": "0", "GOPATH": str(builds / "gopath"),
           "GOMODCACHE": str(builds / "gopath" / "mod"), "GOCACHE": str(builds / "gocache"),
           "GOFLAGS": "-modcacherw"}  # fmt: skip
    _build([_tool("go"), "build", "-tags", "lambda.norpc", "-trimpath", "-o", "main", "."],
           source, env)  # fmt: skip
    return (source / "main").read_bytes()


@pytest.fixture(scope="module")
def registry(server):
    ecr = make_client(server.endpoint, "ecr")
    data = ecr.get_authorization_token()["authorizationData"][0]
    password = base64.b64decode(data["authorizationToken"]).decode().partition(":")[2]
    return ecr, password


def _push(
    server, registry, tmp_path, repository: str, tag: str, image: Image, *options: str
) -> str:
    ecr, password = registry
    with contextlib.suppress(ecr.exceptions.RepositoryAlreadyExistsException):
        ecr.create_repository(repositoryName=repository)
    layout = tmp_path / f"{repository}-{tag}"
    write_layout(layout, image, tag)
    host = server.endpoint.split("//", 1)[1]
    done = subprocess.run(
        [SKOPEO, "--insecure-policy", "copy", *options, "--dest-tls-verify=false", "--dest-creds",
         f"AWS:{password}", f"oci:{layout}:{tag}", f"docker://{host}/{repository}:{tag}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return f"000000000000.dkr.ecr.us-east-1.amazonaws.com/{repository}:{tag}"


def _image(binary: bytes, greeting: str, **extra) -> Image:
    files = [Entry("var", kind=b"5", mode=0o755), Entry("var/task", kind=b"5", mode=0o755),
             Entry("var/task/main", binary, mode=0o755)]  # fmt: skip
    settings = {"entrypoint": ["/var/task/main"], "cmd": ["handler.one"],
                "workdir": "/var/task", "architecture": HOST_ARCH}  # fmt: skip
    settings.update(extra)
    return Image([files], env=["PATH=/usr/bin:/bin", f"GREETING={greeting}"], **settings)


def _invoke(lam, name: str, payload) -> tuple[dict, object]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    return response, json.loads(response["Payload"].read() or b"null")


@needs_bwrap
def test_a_go_image_pushed_with_skopeo_runs_and_updates(lam, server, registry, go_binary, tmp_path):
    uri = _push(server, registry, tmp_path, "hello", "v1", _image(go_binary, "hello"))
    name = unique("image")
    created = lam.create_function(FunctionName=name, PackageType="Image", Role=ROLE,
                                  Code={"ImageUri": uri})  # fmt: skip
    assert created["PackageType"] == "Image" and "Runtime" not in created
    assert created["State"] == "Pending"
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    got = lam.get_function(FunctionName=name)
    assert got["Code"]["RepositoryType"] == "ECR" and got["Code"]["ImageUri"] == uri
    assert "@sha256:" in got["Code"]["ResolvedImageUri"]

    response, result = _invoke(lam, name, {"n": 1})
    assert "FunctionError" not in response, result
    assert result["Greeting"] == "hello" and result["Handler"] == "handler.one"
    assert result["Cwd"] == "/var/task" and result["TaskRoot"] == "/var/task"
    assert result["Args"] == ["/var/task/main", "handler.one"]
    assert result["RootWritable"] is False and result["TmpWritable"] is True
    assert result["Event"] == {"n": 1}

    # ImageConfig overrides the image's CMD and WORKDIR.
    lam.update_function_configuration(
        FunctionName=name, ImageConfig={"Command": ["handler.two"], "WorkingDirectory": "/tmp"}
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    config = lam.get_function_configuration(FunctionName=name)
    assert config["ImageConfigResponse"] == {
        "ImageConfig": {"Command": ["handler.two"], "WorkingDirectory": "/tmp"}}  # fmt: skip
    _, result = _invoke(lam, name, {})
    assert (result["Handler"], result["Cwd"]) == ("handler.two", "/tmp")

    # A new tag: UpdateFunctionCode resolves it anew.
    # (pushed as Docker's v2 schema 2 this time, which skopeo converts to)
    uri2 = _push(server, registry, tmp_path, "hello", "v2", _image(go_binary, "bonjour"),
                 "--format", "v2s2")  # fmt: skip
    ecr, _ = registry
    (v2,) = ecr.batch_get_image(repositoryName="hello", imageIds=[{"imageTag": "v2"}])["images"]
    assert v2["imageManifestMediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    updated = lam.update_function_code(FunctionName=name, ImageUri=uri2)
    assert updated["LastUpdateStatus"] == "InProgress"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    _, result = _invoke(lam, name, {})
    assert result["Greeting"] == "bonjour"

    # An index: the manifest for the function's architecture is the one that runs.
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": v2["imageManifestMediaType"],
                            "digest": v2["imageId"]["imageDigest"],
                            "size": len(v2["imageManifest"].encode()),
                            "platform": {"architecture": HOST_ARCH, "os": "linux"}}]}  # fmt: skip
    ecr.put_image(repositoryName="hello", imageManifest=json.dumps(index), imageTag="multi")
    multi = uri.replace(":v1", ":multi")
    lam.update_function_code(FunctionName=name, ImageUri=multi)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    resolved = lam.get_function(FunctionName=name)["Code"]["ResolvedImageUri"]
    assert resolved.endswith("@" + v2["imageId"]["imageDigest"])
    other = "arm64" if HOST_ARCH == "amd64" else "x86_64"
    with pytest.raises(ClientError) as excinfo:
        lam.create_function(FunctionName=unique("arch"), PackageType="Image", Role=ROLE,
                            Code={"ImageUri": multi}, Architectures=[other])  # fmt: skip
    assert "architecture" in excinfo.value.response["Error"]["Message"]

    with pytest.raises(ClientError) as excinfo:
        lam.update_function_code(FunctionName=name, ZipFile=b"PK")
    assert excinfo.value.response["Error"]["Message"] == (
        "Please provide ImageUri when updating a function with packageType Image.")  # fmt: skip


@needs_bwrap
def test_bad_image_uris_and_images(lam, server, registry, go_binary, tmp_path):
    def refused(uri: str, **extra) -> str:
        with pytest.raises(ClientError) as excinfo:
            lam.create_function(FunctionName=unique("bad"), PackageType="Image", Role=ROLE,
                                Code={"ImageUri": uri}, **extra)  # fmt: skip
        assert excinfo.value.response["Error"]["Code"] == "InvalidParameterValueException"
        return excinfo.value.response["Error"]["Message"]

    for uri in ("hello:latest", "000000000000.dkr.ecr.us-east-1.amazonaws.com/hello",
                "000000000000.dkr.ecr.eu-west-1.amazonaws.com/hello:v1",
                "docker.io/library/hello:latest"):  # fmt: skip
        assert refused(uri) == f"Source image {uri} is not valid. Provide a valid source image."
    for uri in ("000000000000.dkr.ecr.us-east-1.amazonaws.com/absent:v1",
                "000000000000.dkr.ecr.us-east-1.amazonaws.com/hello:nope"):  # fmt: skip
        assert refused(uri) == f"Source image {uri} does not exist. Provide a valid source image."
    with pytest.raises(ClientError) as excinfo:
        lam.create_function(FunctionName=unique("bad"), PackageType="Image", Role=ROLE, Code={})
    assert "Please provide ImageUri" in excinfo.value.response["Error"]["Message"]

    other = _push(server, registry, tmp_path, "other", "v1",
                  _image(go_binary, "x", architecture=OTHER_ARCH))  # fmt: skip
    assert "architecture" in refused(other)

    # Over 10 GB, by what the manifest declares.
    ecr, _ = registry
    (small,) = ecr.batch_get_image(repositoryName="other", imageIds=[{"imageTag": "v1"}])["images"]
    manifest = json.loads(small["imageManifest"])
    manifest["layers"][0]["size"] = 11 * 1024**3
    ecr.put_image(repositoryName="other", imageManifest=json.dumps(manifest), imageTag="huge")
    assert "an image must be at most 10737418240 bytes" in refused(other.replace(":v1", ":huge"))

    # Nothing to run: created, then INIT fails as Lambda's does.
    empty = _push(server, registry, tmp_path, "empty", "v1",
                  _image(go_binary, "x", entrypoint=None, cmd=None))  # fmt: skip
    name = unique("empty")
    lam.create_function(FunctionName=name, PackageType="Image", Role=ROLE, Code={"ImageUri": empty})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    response, result = _invoke(lam, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert result["errorType"] == "Runtime.InvalidEntrypoint"


@needs_bwrap
def test_an_image_function_from_a_cloudformation_template(
    lam, server, registry, go_binary, tmp_path
):
    uri = _push(server, registry, tmp_path, "stacked", "v1", _image(go_binary, "from cfn"))
    template = {"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "PackageType": "Image", "Role": ROLE, "Code": {"ImageUri": uri},
        "ImageConfig": {"Command": ["cfn.handler"]}}}},
        "Outputs": {"Name": {"Value": {"Ref": "Fn"}}}}  # fmt: skip
    cfn = make_client(server.endpoint, "cloudformation")
    cfn.create_stack(StackName="image-stack", TemplateBody=json.dumps(template))
    stack = settled(cfn, "image-stack")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    name = stack["Outputs"][0]["OutputValue"]
    _, result = _invoke(lam, name, {})
    assert (result["Greeting"], result["Handler"]) == ("from cfn", "cfn.handler")


def test_the_process_backend_says_it_cannot_run_images(go_binary, tmp_path):
    with SandlotServer(tmp_path / "data", env={"SANDLOT_SANDBOX": "process"}) as server:
        ecr = make_client(server.endpoint, "ecr")
        data = ecr.get_authorization_token()["authorizationData"][0]
        password = base64.b64decode(data["authorizationToken"]).decode().partition(":")[2]
        uri = _push(server, (ecr, password), tmp_path, "proc", "v1", _image(go_binary, "x"))
        lam = make_client(server.endpoint, "lambda")
        lam.create_function(FunctionName="proc", PackageType="Image", Role=ROLE,
                            Code={"ImageUri": uri})  # fmt: skip
        lam.get_waiter("function_active_v2").wait(FunctionName="proc")
        response, result = _invoke(lam, "proc", {})
        assert response["FunctionError"] == "Unhandled"
        assert result["errorType"] == "Runtime.Unknown"
        assert "only in the linux sandbox" in result["errorMessage"]
