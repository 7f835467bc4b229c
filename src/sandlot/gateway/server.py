"""Serving the gateway over HTTP with uvicorn (httptools parser, uvloop event loop).

The choice of server was measured: see docs/performance.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from sandlot.config import Settings, default_data_dir
from sandlot.gateway.app import Gateway
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
            http="httptools",
            lifespan="off",
            access_log=False,
            log_level="warning",
            server_header=False,
            date_header=True,
        )
        server = _Server(config)
        server.function_socket = _function_listener(settings)
        app.function_listener = server.function_socket.getsockname()
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
    function_port = server.function_socket.getsockname()[1]
    await platform.start(f"http://{host}:{port}", f"http://127.0.0.1:{function_port}")
    mode = "secure" if settings.secure else "dev"
    print(
        f"sandlot {__import__('sandlot').__version__} ({mode} mode), data in {data_dir}", file=out
    )
    print(f"endpoint: http://{host}:{port}", file=out)
    print(
        f"Lambda functions reach it at http://127.0.0.1:{function_port} (keys sandlot issued only)",
        file=out,
    )
    print(f"ready in {(time.perf_counter() - started) * 1000:.0f} ms", file=out, flush=True)
    try:
        await task
    finally:
        await platform.stop()


def _function_listener(settings: Settings) -> socket.socket:
    """The listener Lambda functions reach sandlot on (their AWS_ENDPOINT_URL): always
    on loopback; the gateway accepts only keys sandlot issued there (app.py)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", settings.function_port))
    except OSError:
        listener.close()
        raise
    listener.listen(2048)
    return listener


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising SIGINT/SIGTERM after a graceful stop, plus
    the functions' listener.

    uvicorn re-raises the signal once ``serve()`` returns, which would kill the process
    before sandlot shuts its execution environments down.
    """

    function_socket: socket.socket

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit:
            return
        # The same protocol as uvicorn's own listener; after it, so servers[0] stays
        # the main endpoint, and closed with it at shutdown.
        config = self.config
        loop = asyncio.get_running_loop()

        def protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=_loop,
            )

        self.servers.append(
            await loop.create_server(protocol, sock=self.function_socket, backlog=2048)
        )

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
