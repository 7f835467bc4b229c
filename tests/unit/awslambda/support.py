"""Driving the Lambda provider without a server, as the gateway would."""

from __future__ import annotations

import asyncio
import inspect
import io
import zipfile

from sandlot.config import Settings
from sandlot.iam.principal import Principal
from sandlot.platform import Platform
from sandlot.services.awslambda.provider import LambdaProvider
from sandlot.services.provider import RequestContext

ACCOUNT, REGION = "000000000000", "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/r"


def zip_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


APP = zip_of({"app.py": "def handler(e, c):\n    return 1\n"})


class Lambda:
    """Calls provider operations as the gateway would, in one event loop."""

    def __init__(self, data_dir) -> None:
        # The Lambda API's own behaviour: IAM (which would refuse roles these tests never
        # create) is tested end to end in tests/e2e/test_iam_enforcement.py.
        self.platform = Platform(Settings(iam="off"), data_dir)
        self.provider = LambdaProvider(self.platform)
        self.loop = asyncio.new_event_loop()

    def __call__(self, operation: str, account: str = ACCOUNT, **params) -> dict:
        ctx = RequestContext(
            "req", account, REGION, Principal.root(account), "lambda", operation, None
        )
        method = getattr(self.provider, _snake(operation))

        async def run():
            result = method(ctx, params)
            return await result if inspect.isawaitable(result) else result

        return self.loop.run_until_complete(run())

    def settle(self) -> None:
        """Let background activations finish."""
        self.loop.run_until_complete(self.provider.activator.idle())

    def close(self) -> None:
        self.loop.run_until_complete(self.provider.activator.stop())
        self.loop.close()
        self.platform.close()


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def create(lam: Lambda, name: str, code: bytes = APP, **params) -> dict:
    params.setdefault("Runtime", "python3.12")
    params.setdefault("Handler", "app.handler")
    return lam("CreateFunction", FunctionName=name, Role=ROLE, Code={"ZipFile": code}, **params)
