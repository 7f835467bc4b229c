"""The running platform: settings, durable state and the providers, shared by all layers."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import time
import urllib.parse
import uuid
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore import xform_name

from sandlot.config import Settings
from sandlot.events import s3_notifications
from sandlot.events.async_invoke import AsyncInvocations
from sandlot.events.delivery import Deliveries
from sandlot.events.pollers import Pollers
from sandlot.events.timers import Timers
from sandlot.iam.authorizer import Authorizer
from sandlot.iam.credentials import CredentialStore
from sandlot.iam.decisions import FLUSH_INTERVAL_S
from sandlot.iam.principal import Principal, assumed_role
from sandlot.metrics import Metrics
from sandlot.protocol.dataplane import CustomDomain
from sandlot.protocol.errors import not_implemented
from sandlot.services import provider_class
from sandlot.services.provider import Provider, RequestContext
from sandlot.store import BlobStore, Store

if TYPE_CHECKING:
    from sandlot.execution.api import FunctionSpec
    from sandlot.execution.engine import Engine

log = logging.getLogger("sandlot.platform")

ROOT_CREDENTIALS_FILE = "root-credentials.json"
FUNCTION_CREDENTIALS_TTL_S = 12 * 3600
RETENTION_SWEEP_INTERVAL_S = 60.0
_IAM_READS = ("Get", "List", "Simulate", "Generate")  # IAM operations that change nothing


class Platform:
    """Owns the store, the blob area, issued credentials and provider instances."""

    def __init__(self, settings: Settings, data_dir: Path) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.started_at = time.time()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(data_dir / "sandlot.db")
        self.blobs = BlobStore(data_dir / "blobs")
        self.credentials = CredentialStore(self.store)
        self.deliveries = Deliveries(self)
        self.async_invocations = AsyncInvocations(self, self.deliveries)
        self.async_invocations.adopt_legacy()
        s3_notifications.adopt_legacy(self.store, self.deliveries)
        self.pollers = Pollers(self)  # event source mappings (Lambda's provider drives them)
        # Durable timers; a kind is "<service>:<name>", its provider registers the handler.
        self.timers = Timers(self.store, resolve=lambda kind: self.provider(kind.split(":")[0]))
        self.authorizer = Authorizer(self)
        self.metrics = Metrics(self)  # AWS/* CloudWatch metrics every service emits
        self.endpoint_url = f"http://{settings.host}:{settings.port}"
        self.function_endpoint_url = self.endpoint_url  # functions' AWS_ENDPOINT_URL
        self.function_network = "shared"  # "isolated" once the engine has them
        self._providers: dict[str, Provider | None] = {}
        # Custom domain names data planes serve (API Gateway's), kept by their providers.
        self.custom_domains: dict[str, CustomDomain] = {}
        self._engine: Engine | None = None
        self._tasks: list[asyncio.Task] = []
        if settings.secure:
            self.ensure_root_credentials()

    async def start(self, endpoint_url: str, function_endpoint_url: str | None = None) -> None:
        """Begin background work once the server listens at ``endpoint_url`` (and,
        for Lambda functions, at ``function_endpoint_url``)."""
        self.endpoint_url = endpoint_url
        self.function_endpoint_url = function_endpoint_url or endpoint_url
        # SNS registers its dead-letter hook before deliveries run.
        self.provider("sns")
        self._tasks.append(asyncio.create_task(self.deliveries.run()))
        self._tasks.append(asyncio.create_task(self.timers.run()))
        self._tasks.append(asyncio.create_task(self._sweep_log_retention()))
        self._tasks.append(asyncio.create_task(self._flush_decisions()))
        self._tasks.append(asyncio.create_task(self.metrics.run()))
        # The engine right after start-up, not on the first invoke: its zygote then
        # imports while nobody waits.
        asyncio.get_running_loop().call_soon(lambda: self.engine)
        # API Gateway registers its custom domain names (self.custom_domains), just
        # after start-up too: its modules' import is not worth delaying "ready" for.
        asyncio.get_running_loop().call_soon(lambda: self.provider("apigatewayv2"))
        # Lambda's provisioned concurrency configurations are provisioned again.
        lambda_provider = self.provider("lambda")
        if lambda_provider is not None and hasattr(lambda_provider, "start"):
            await lambda_provider.start()
        # SQS: retention sweep, and message move tasks that were running resume.
        sqs = self.provider("sqs")
        if sqs is not None:
            self._tasks.append(await sqs.start())
        # DynamoDB: the time-to-live sweep; index backfills that were running resume.
        dynamodb = self.provider("dynamodb")
        if dynamodb is not None:
            self._tasks.append(await dynamodb.start())
        # CloudWatch Logs: export tasks that were running start again.
        logs = self.provider("logs")
        if logs is not None:
            logs.resume_exports()
        # DynamoDB Streams: attaches its record writer to DynamoDB's item hook before any
        # write is served; the retention sweep.
        streams = self.provider("dynamodbstreams")
        if streams is not None:
            self._tasks.append(await streams.start())
        # Kinesis: the retention sweep. Firehose: the flush loop; source readers resume.
        for name in ("kinesis", "firehose"):
            provider = self.provider(name)
            if provider is not None:
                self._tasks.append(await provider.start())
        # X-Ray: the retention sweep, and the daemon's UDP port for the functions (the
        # same number as their TCP listener, so one forwarded port number serves both).
        xray = self.provider("xray")
        if xray is not None:
            port = urllib.parse.urlsplit(self.function_endpoint_url).port
            self._tasks.append(await xray.start(port))
        # Secrets Manager: the rotation scheduler (rotations due while down run now).
        secrets = self.provider("secretsmanager")
        if secrets is not None:
            self._tasks.append(await secrets.start())
        # EventBridge Pipes: running pipes resume polling their sources.
        pipes = self.provider("pipes")
        if pipes is not None:
            await pipes.start()
        # Step Functions: RUNNING Standard executions resume from their last checkpoint
        # (in a task, after ready; the language engine is imported only if one does).
        self._tasks.append(asyncio.create_task(self._run_stepfunctions()))
        # CloudFormation: stack operations a crash interrupted roll back or finish.
        cloudformation = self.provider("cloudformation")
        if cloudformation is not None:
            await cloudformation.start()

    async def stop(self) -> None:
        """Stop background work and shut every execution environment down."""
        await self.pollers.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._engine is not None:
            await self._engine.close()
            self._engine = None

    @property
    def engine(self) -> Engine:
        """The execution engine, started on first use."""
        if self._engine is None:
            from sandlot.events.log_delivery import LogDelivery
            from sandlot.execution.api import EngineSettings
            from sandlot.execution.engine import Engine
            from sandlot.execution.network import resolve_network
            from sandlot.execution.sandbox import resolve_backend

            sandbox, warning = resolve_backend(self.settings.sandbox)
            if warning:
                log.warning(warning)
            isolated, warning = resolve_network(self.settings.function_network, sandbox)
            if warning and sandbox == "linux":  # the process sandbox has warned already
                log.warning(warning)
            self.function_network = "isolated" if isolated else "shared"
            settings = EngineSettings(
                endpoint_url=self.function_endpoint_url,
                isolate_network=isolated,
                work_dir=self.data_dir / "environments",
                account_concurrency=self.settings.account_concurrency,
                keep_alive_s=self.settings.keep_alive_seconds,
                sandbox=sandbox,
            )
            self._engine = Engine(
                settings,
                self._function_credentials,
                LogDelivery(self),
                observer=self.metrics.lambda_invoked if self.metrics.enabled else None,
            )
        return self._engine

    def function_principal(self, role_arn: str, function_name: str) -> Principal:
        """The session of a function's execution role that Lambda acts as for it."""
        return assumed_role(role_arn, function_name, self.provider("iam").role_id(role_arn))

    def _function_credentials(self, spec: FunctionSpec) -> dict[str, str]:
        """Temporary credentials of the function's execution role, issued by sandlot's STS."""
        principal = self.function_principal(spec.role_arn, spec.function_name)
        credential = self.credentials.issue_session(
            principal, time.time() + FUNCTION_CREDENTIALS_TTL_S
        )
        return {
            "AWS_ACCESS_KEY_ID": credential.access_key_id,
            "AWS_SECRET_ACCESS_KEY": credential.secret_access_key,
            "AWS_SESSION_TOKEN": credential.session_token or "",
        }

    async def _run_stepfunctions(self) -> None:
        stepfunctions = self.provider("stepfunctions")
        if stepfunctions is not None:
            await stepfunctions.run()

    async def _flush_decisions(self) -> None:
        try:
            while True:
                await asyncio.sleep(FLUSH_INTERVAL_S)
                self.authorizer.decisions.flush()
        finally:
            self.authorizer.decisions.flush()  # on stop, what is still buffered

    async def _sweep_log_retention(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_SWEEP_INTERVAL_S)
            logs = self.provider("logs")
            if logs is None:
                return
            try:
                await logs.sweep_retention()
            except Exception:
                log.exception("log retention sweep failed")

    def has_provider(self, service: str) -> bool:
        """Whether ``service``'s provider has been created (without creating it)."""
        return self._providers.get(service) is not None

    def provider(self, service: str) -> Provider | None:
        """The provider instance for ``service`` (created on first use), or None."""
        if service not in self._providers:
            cls = provider_class(service)
            self._providers[service] = cls(self) if cls is not None else None
        return self._providers[service]

    async def run_operation(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Run ``ctx.operation`` of ``ctx.service`` with parsed ``params``; 501 if absent."""
        provider = self.provider(ctx.service)
        method = _operation_method(type(provider), ctx.operation) if provider else None
        if method is None:
            raise not_implemented(ctx.service, ctx.operation)
        result = method(provider, ctx, params)
        if inspect.isawaitable(result):
            result = await result
        if ctx.service == "iam" and not ctx.operation.startswith(_IAM_READS):
            self.authorizer.invalidate(ctx.account_id)
        return result or {}

    async def call(
        self,
        service: str,
        operation: str,
        params: dict[str, Any],
        *,
        principal: Principal,
        region: str,
        request_id: str | None = None,
        context: dict[str, object] | None = None,
        record_decisions: bool = True,
        trace_header: str | None = None,
    ) -> dict[str, Any]:
        """The internal client: one service calling another, as ``principal``.

        Providers never import each other; they call through here so that whatever
        applies to external requests (IAM, request logs) applies to internal ones.
        ``context`` adds IAM condition keys (a service's ``aws:SourceArn``…);
        ``record_decisions=False`` keeps IAM's decisions out of the decision log (what
        `sandlot iam explain/suggest` read) for work sandlot does on a principal's behalf.
        ``trace_header`` carries the X-Ray header of the request chain (loop detection).
        """
        ctx = RequestContext(
            request_id or str(uuid.uuid4()),
            principal.account_id,
            region,
            principal,
            service,
            operation,
            None,
            trace_header,
        )
        self.admit(ctx, params, context, record_decisions=record_decisions)
        return await self.run_operation(ctx, params)

    def admit(
        self,
        ctx: RequestContext,
        params: dict[str, Any],
        context: dict[str, object] | None,
        *,
        record_decisions: bool = True,
    ) -> None:
        """Before an operation runs: the provider's request validation (AWS answers
        malformed requests before it authorizes them), then IAM."""
        provider = self.provider(ctx.service)
        if provider is not None:
            provider.validate(ctx, params)
        self.authorizer.check(ctx, params, context=context, record=record_decisions)

    def ensure_root_credentials(self) -> dict[str, str]:
        """Secure mode's root keys for the default account: made at first start, kept 0600."""
        path = self.data_dir / ROOT_CREDENTIALS_FILE
        if path.exists():
            return json.loads(path.read_text())
        account = self.settings.default_account
        credential = self.credentials.issue_long_term(Principal.root(account))
        data = {
            "aws_access_key_id": credential.access_key_id,
            "aws_secret_access_key": credential.secret_access_key,
            "account_id": account,
        }
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(path.with_suffix(".tmp"), path)
        return data

    def close(self) -> None:
        self.store.close()


@cache
def _operation_method(provider_class: type, operation: str):
    return getattr(provider_class, xform_name(operation), None)
