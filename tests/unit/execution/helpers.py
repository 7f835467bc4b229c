"""Helpers for the execution engine's tests: real processes, no HTTP gateway."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sandlot.execution.api import (
    EngineSettings,
    FunctionSpec,
    InvokeRequest,
    InvokeResult,
    LogEvent,
    LogStream,
)
from sandlot.execution.engine import Engine

ACCOUNT = "123456789012"
REGION = "eu-west-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ASIAFUNCTIONROLE0001",
    "AWS_SECRET_ACCESS_KEY": "function-secret",
    "AWS_SESSION_TOKEN": "function-token",
}
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="`node` is not on PATH")
# The server's own Python version: its interpreter and zygote are there from the start.
PYTHON_RUNTIME = f"python3.{sys.version_info.minor}"


@dataclass
class Harness:
    engine: Engine
    root: Path
    logs: list[tuple[str, str, str, str, LogEvent]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)

    def spec(
        self,
        files: dict[str, str],
        *,
        runtime: str = PYTHON_RUNTIME,
        handler: str = "app.handler",
        name: str = "fn",
        version: str = "$LATEST",
        timeout: int = 3,
        memory: int = 128,
        environment: dict[str, str] | None = None,
        reserved: int | None = None,
        layers: tuple[dict[str, str], ...] = (),
    ) -> FunctionSpec:
        """A function whose deployment package holds ``files`` (path -> source)."""
        code_dir = self._tree(files)
        return FunctionSpec(
            account_id=ACCOUNT,
            region=REGION,
            function_name=name,
            function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
            version=version,
            runtime=runtime,
            handler=handler,
            code_dir=code_dir,
            layer_dirs=tuple(self._tree(layer) for layer in layers),
            memory_mb=memory,
            timeout_s=timeout,
            ephemeral_storage_mb=512,
            environment=tuple((environment or {}).items()),
            role_arn=f"arn:aws:iam::{ACCOUNT}:role/fn-role",
            digest=uuid.uuid4().hex,
            reserved_concurrency=reserved,
        )

    def _tree(self, files: dict[str, str]) -> Path:
        root = self.root / "trees" / uuid.uuid4().hex
        for relative, source in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source).lstrip())
            if relative.endswith("bootstrap") or relative.startswith("bin/"):
                path.chmod(0o755)
        root.mkdir(parents=True, exist_ok=True)
        return root

    async def invoke(
        self, spec: FunctionSpec, payload: bytes = b"{}", **kwargs: str | None
    ) -> InvokeResult:
        request = InvokeRequest(
            request_id=str(uuid.uuid4()),
            payload=payload,
            invoked_function_arn=kwargs.pop("arn", None) or spec.function_arn,
            **kwargs,
        )
        return await self.engine.invoke(spec, request)

    def messages(self, stream: str | None = None) -> list[str]:
        return [event.message for *_, s, event in self.logs if stream is None or s == stream]


@contextlib.asynccontextmanager
async def harness(tmp_path: Path, **settings: object) -> AsyncIterator[Harness]:
    """An engine working under ``tmp_path``, its log sink and credential issuer recorded.

    SANDLOT_TEST_SANDBOX picks the sandbox backend of tests that do not choose one.
    """
    h: Harness
    settings.setdefault("sandbox", os.environ.get("SANDLOT_TEST_SANDBOX", "process"))

    async def sink(stream: LogStream, events: list[LogEvent]):
        where = (stream.account_id, stream.region, stream.log_group, stream.log_stream)
        h.logs.extend((*where, event) for event in events)

    def credentials(spec: FunctionSpec) -> dict[str, str]:
        h.issued.append(spec.role_arn)
        return dict(CREDENTIALS)

    settings.setdefault("endpoint_url", "http://127.0.0.1:4566")
    engine_settings = EngineSettings(work_dir=tmp_path / "work", **settings)
    h = Harness(Engine(engine_settings, credentials, sink), tmp_path)
    try:
        yield h
    finally:
        await h.engine.close()


def process_state(pid: int) -> str | None:
    """The state letter of ``pid`` in /proc (R, S, T for stopped, Z for zombie), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # gone before, or between open and read
        return None


def alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie awaiting its parent counts as gone)."""
    return process_state(pid) not in (None, "Z")


async def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True
