"""sandlot's settings: every default in one place, each overridable by a SANDLOT_* variable.

The `sandlot` command mirrors each setting with a flag (flags win over variables).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path

import platformdirs

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def default_data_dir() -> Path:
    """The platform's per-user data directory (e.g. ~/.local/share/sandlot on Linux)."""
    return Path(platformdirs.user_data_dir("sandlot", appauthor=False))


@dataclass
class Settings:
    """Runtime settings. Field name ``x_y`` is read from ``SANDLOT_X_Y``."""

    host: str = "127.0.0.1"
    port: int = 4566
    # HTTPS (gateway/tls.py) on a second port of the same host: https_port -1 means
    # port + 1 (any free port when port is 0), 0 any free port; https=false serves none.
    https: bool = True
    https_port: int = -1
    data_dir: Path | None = None  # None: default_data_dir()
    ephemeral: bool = False  # a temporary data dir, removed on exit
    secure: bool = False  # require SigV4 from known keys; mandatory off loopback
    region: str = "us-east-1"  # for unsigned requests, which carry no region
    default_account: str = "000000000000"  # dev mode: unknown keys act as this root
    # Larger requests get RequestEntityTooLarge; AWS's largest buffered request limit is
    # CreateFunction's (a 50 MB zip, base64-encoded in JSON).
    max_body_bytes: int = 69_905_067
    max_clock_skew_seconds: int = 15 * 60  # as AWS: older or newer signatures are refused
    # Web pages of these origins (comma-separated, e.g. ``http://localhost:3000``; ``*``
    # for any) may act with dev mode's ambient authority and get CORS answers from every
    # service. sandlot's own origin always may; other pages only with keys sandlot issued.
    cors_allowed_origins: str = ""
    # HTTP limits: a header line (S3 answers RequestHeaderSectionTooLarge above 8192), the
    # request line and headers together (API Gateway's quota: 10240 bytes), the time for
    # a request's headers to arrive, and the longest pause within its body.
    max_header_line_bytes: int = 8192
    max_header_bytes: int = 10240
    request_header_timeout_seconds: float = 20.0
    request_body_timeout_seconds: float = 20.0
    # WebSocket APIs (API Gateway's quotas): the largest message (128 KB), an idle
    # connection's life (10 minutes) and any connection's (2 hours).
    websocket_max_message_bytes: int = 128 * 1024
    websocket_idle_timeout_seconds: float = 600.0
    websocket_max_connection_seconds: float = 7200.0
    # Lambda's calendar for AWS's runtime deprecation dates (YYYY-MM-DD; empty: today,
    # UTC): CreateFunction/Update* refuse runtimes past their block dates on that day.
    lambda_runtime_date: str = ""
    account_concurrency: int = 1000  # Lambda concurrent executions per account
    keep_alive_seconds: float = 300.0  # idle Lambda environments are reclaimed after this
    sandbox: str = "auto"  # Lambda environments: linux where it works, else process
    # Functions reach sandlot on a listener of their own (127.0.0.1:function_port, 0:
    # any free port), where only keys sandlot issued are accepted. function_network:
    # auto (a network namespace per environment where pasta works, else the host's
    # network with a warning), isolated (refuse to start without) or shared.
    function_port: int = 0
    function_network: str = "auto"
    iam: str = "enforce"  # enforce | soft (log would-be denials, allow) | off
    # Waits between delivery retries (Lambda async retries, throttle back-off): "fast"
    # (1 s, then 2 s; throttles 0.5 s doubling to 5 s) keeps a local loop quick; "aws"
    # restores AWS's timing (1 min, then 2 min; throttles 1 s doubling to 5 min).
    retry_timing: str = "fast"
    # EventBridge rate() schedules run this many times faster (tests: 60 makes
    # rate(1 minute) fire every second); cron() schedules keep the wall clock.
    schedule_speedup: float = 1.0
    # How long a CloudFormation custom resource waits for its answer when the template
    # gives no ServiceTimeout (AWS: 3600 s); shorter for tests.
    custom_resource_timeout_seconds: float = 3600.0
    # The length of a "day" for S3 lifecycle rules (AWS: 86400; tests shorten it).
    s3_lifecycle_day_seconds: float = 86400.0
    # A Distributed Map's ResultWriter starts another result file (SUCCEEDED_1.json …)
    # past this size (AWS: 5 GB); tests shrink it.
    sfn_result_file_max_bytes: int = 5 * 1024**3
    # Services publish their AWS/* CloudWatch metrics (sandlot/metrics.py); false
    # publishes none (PutMetricData still works).
    service_metrics: bool = True
    # An OpenTelemetry collector's OTLP/HTTP base URL (http://localhost:4318): X-Ray's
    # completed segments are also exported to <url>/v1/traces as spans; empty: none.
    otlp_endpoint: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        """Defaults, then SANDLOT_* variables, then explicit ``overrides`` (not None)."""
        environ = os.environ if environ is None else environ
        values: dict = {}
        for f in fields(cls):
            raw = environ.get(f"SANDLOT_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _convert(f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        if settings.data_dir is not None:
            settings.data_dir = Path(settings.data_dir)
        return settings

    @property
    def resolved_https_port(self) -> int:
        if self.https_port >= 0:
            return self.https_port
        return self.port + 1 if self.port else 0

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")

    def check(self) -> None:
        """Refuse combinations that would be unsafe (dev mode is for loopback only) and
        a Lambda calendar date that is no date."""
        if self.lambda_runtime_date:
            try:
                date.fromisoformat(self.lambda_runtime_date)
            except ValueError:
                raise ValueError(
                    f"lambda_runtime_date {self.lambda_runtime_date!r} is not a YYYY-MM-DD date"
                ) from None
        if not self.is_loopback and not self.secure:
            raise ValueError(
                f"refusing to bind {self.host} without --secure: dev mode (unsigned requests "
                "act as an account root) is allowed on loopback addresses only"
            )


def _convert(kind: str, raw: str):
    if "bool" in kind:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if "int" in kind:
        return int(raw)
    if "float" in kind:
        return float(raw)
    if "Path" in kind:
        return Path(raw)
    return raw
