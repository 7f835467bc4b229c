"""Building deployment packages and functions for end-to-end tests."""

from __future__ import annotations

import io
import time
import uuid
import zipfile

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def zip_of(files: dict[str, str | bytes], executable: tuple[str, ...] = ()) -> bytes:
    """A zip holding ``files`` (name → content); names in ``executable`` get mode 0755."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            mode = 0o755 if name in executable else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_function(
    lam,
    name: str,
    code: dict[str, str | bytes],
    *,
    runtime="python3.12",
    handler="app.handler",
    executable: tuple[str, ...] = (),
    role: str = ROLE,
    **extra,
) -> dict:
    """Create a function and wait until it is Active."""
    created = lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=role,
        Handler=handler,
        Code={"ZipFile": zip_of(code, executable)},
        **extra,
    )
    wait_active(lam, name)
    return created


def wait_active(lam, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        config = lam.get_function_configuration(FunctionName=name)
        if config["State"] == "Active" and config.get("LastUpdateStatus") in (None, "Successful"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} did not become Active")


def wait_for_log_events(logs, name: str, pattern: str, timeout: float = 20) -> list[dict]:
    """The events of ``/aws/lambda/<name>`` matching ``pattern``, once any exist."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(
                logGroupName=f"/aws/lambda/{name}", filterPattern=pattern
            )["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        if events:
            return events
        time.sleep(0.2)
    return []
