"""Serving the gateway over HTTP with uvicorn (httptools parser, uvloop event loop).

The choice of server was measured: see docs/performance.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from sandlot.config import Settings, default_data_dir
from sandlot.gateway.app import Gateway
from sandlot.gateway.connection import protocol_class
from sandlot.platform import Platform

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run(settings: Settings, *, out=sys.stdout) -> None:
    """Start sandlot and serve until SIGINT/SIGTERM; print the endpoint and a ready line."""
    started = time.perf_counter()
    settings.check()
    temp_dir = None
    if settings.ephemeral:
        temp_dir = tempfile.mkdtemp(prefix="sandlot-")
        data_dir = Path(temp_dir)
    else:
        data_dir = settings.data_dir or default_data_dir()
    platform = Platform(settings, data_dir)
    try:
        app = Gateway(platform)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            loop="uvloop" if _has_uvloop() else "asyncio",
            http=protocol_class(settings),  # httptools, with header and time limits
            lifespan="off",
            access_log=False,
            log_level="warning",
            server_header=False,
            date_header=True,
        )
        server = _Server(config)
        asyncio.run(_serve(server, platform, settings, data_dir, started, out))
    finally:
        platform.close()
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


async def _serve(
    server, platform: Platform, settings: Settings, data_dir: Path, started: float, out
) -> None:
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task  # start-up failed (e.g. port in use): surface the error
            raise SystemExit(1)
        await asyncio.sleep(0.005)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    port = server.servers[0].sockets[0].getsockname()[1] if server.servers else settings.port
    await platform.start(f"http://{host}:{port}")
    mode = "secure" if settings.secure else "dev"
    print(
        f"sandlot {__import__('sandlot').__version__} ({mode} mode), data in {data_dir}", file=out
    )
    print(f"endpoint: http://{host}:{port}", file=out)
    print(f"ready in {(time.perf_counter() - started) * 1000:.0f} ms", file=out, flush=True)
    try:
        await task
    finally:
        await platform.stop()


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising SIGINT/SIGTERM after a graceful stop.

    uvicorn re-raises the signal once ``serve()`` returns, which would kill the process
    before sandlot shuts its execution environments down.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def create_app() -> Gateway:
    """An app for other ASGI servers (``granian --factory``): settings from SANDLOT_*."""
    settings = Settings.from_env()
    settings.check()
    return Gateway(Platform(settings, settings.data_dir or default_data_dir()))
