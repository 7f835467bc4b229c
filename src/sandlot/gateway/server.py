"""Serving the gateway over HTTP with uvicorn (httptools parser, uvloop event loop).

The choice of server was measured: see docs/performance.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import os
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
from sandlot.gateway.connection import protocol_class
from sandlot.gateway.tls import ServerTls
from sandlot.platform import ROOT_CREDENTIALS_FILE, Platform
from sandlot.store.datadir import DataDir, DataDirInUse

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StartupError(Exception):
    """sandlot cannot start (port taken, data dir in use): one line for the user."""


def run(settings: Settings, *, out=sys.stdout, err=sys.stderr) -> None:
    """Start sandlot and serve until SIGINT/SIGTERM; print the endpoint and a ready line."""
    started = time.perf_counter()
    settings.check()
    # Everything the server creates (database, blobs, code, credentials) is its user's
    # alone: 0600 files, 0700 directories.
    os.umask(0o077)
    temp_dir = None
    if settings.ephemeral:
        temp_dir = tempfile.mkdtemp(prefix="sandlot-")
        data_dir = Path(temp_dir)
    else:
        data_dir = settings.data_dir or default_data_dir()
    # The lock first: a second server on this data dir must stop before any start-up
    # clean-up (the blob area's partial writes) runs.
    try:
        held = DataDir.open(data_dir, lambda line: print(f"sandlot: {line}", file=err))
    except DataDirInUse as exc:
        raise StartupError(str(exc)) from None
    platform = None
    _announce_urls(out)
    try:
        sockets = _listen(settings.host, settings.port)
        https_sockets, tls = [], None
        if settings.https:
            https_sockets = _listen(settings.host, settings.resolved_https_port, "--https-port")
            tls = ServerTls(held.path, settings.region, settings.host)
        platform = Platform(settings, data_dir)
        app = Gateway(platform)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            loop="uvloop" if _has_uvloop() else "asyncio",
            http=protocol_class(settings),  # httptools, with header and time limits
            # WebSocket APIs (gateway/websocket.py): the sans-I/O websockets
            # implementation; messages up to API Gateway's 128 KB; no per-message
            # compression (it costs every message CPU on the hot path, for loopback).
            ws="websockets-sansio",
            ws_max_size=settings.websocket_max_message_bytes,
            ws_per_message_deflate=False,
            lifespan="off",
            # No X-Forwarded-For/-Proto rewriting: sandlot is no proxy's backend, and
            # any local process could otherwise pick the address and scheme IAM
            # conditions see (aws:SourceIp, aws:SecureTransport). One layer less per
            # request, too.
            proxy_headers=False,
            access_log=False,
            log_level="warning",
            server_header=False,
            date_header=True,
        )
        server = _Server(config)
        server.function_socket = _function_listener(settings)
        server.https_sockets, server.tls = https_sockets, tls
        if tls is not None:
            tls.domains = platform.custom_domains  # API Gateway's custom domain names
        app.function_listener = server.function_socket.getsockname()
        # uvicorn's own ``Server.run`` picks the loop from ``config.loop``; serving through
        # our ``_serve`` must ask for it, or asyncio's pure-Python loop serves instead.
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(_serve(server, sockets, platform, settings, held, started, out))
    finally:
        if platform is not None:
            platform.close()
        held.release()
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _announce_urls(out) -> None:
    """Local URLs of what users deploy (function URLs, API stages), logged to the
    ``sandlot.urls`` logger when created, print on the console like the endpoint."""
    urls = logging.getLogger("sandlot.urls")
    if not urls.handlers:
        handler = logging.StreamHandler(out)
        handler.setFormatter(logging.Formatter("%(message)s"))
        urls.addHandler(handler)
    urls.setLevel(logging.INFO)
    urls.propagate = False


def _listen(host: str, port: int, flag: str = "--port") -> list[socket.socket]:
    """Sockets bound on every address of ``host`` (one port for all, also for port 0),
    bound here rather than by uvicorn so that a taken port is one line, not a traceback;
    StartupError when the port is taken or the address cannot be bound."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {host}: {exc.strerror}") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:  # the same free port on every address
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        hint = f" (another server is using it: stop it or choose another {flag})"
        raise StartupError(
            f"cannot listen on {where}: {exc.strerror or exc}"
            + (hint if exc.errno == errno.EADDRINUSE else "")
        ) from None
    return sockets


async def _serve(
    server, sockets, platform: Platform, settings: Settings, held: DataDir, started: float, out
) -> None:
    task = asyncio.create_task(server.serve(sockets=sockets))
    while not server.started:
        if task.done():
            await task  # start-up failed: surface the error
            raise SystemExit(1)
        await asyncio.sleep(0.005)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    port = sockets[0].getsockname()[1]
    endpoint = f"http://{host}:{port}"
    function_port = server.function_socket.getsockname()[1]
    held.announce(endpoint)
    await platform.start(endpoint, f"http://127.0.0.1:{function_port}")
    # What start-up built (modules, service models, the platform) lives as long as the
    # server: out of the collector's sight, a full collection walks only what came
    # after (measured: the full collections during an SQS batch load cost ~37 ms each).
    gc.collect()
    gc.freeze()
    # A young collection every 3,000 net allocations rather than 700: under concurrent
    # load the live objects of the requests in flight alone kept crossing 700, so they
    # were collected (and promoted, feeding full collections) again and again. Measured
    # on an SQS batch load: 802 -> 46 young and 7 -> 1 full collections, GC CPU 0.19 ->
    # 0.08 s.
    gc.set_threshold(3000, *gc.get_threshold()[1:])
    mode = "secure" if settings.secure else "dev"
    print(
        f"sandlot {__import__('sandlot').__version__} ({mode} mode), data in {held.path}",
        file=out,
    )
    print(f"endpoint: {endpoint}", file=out)
    print(f"console: {endpoint}/_sandlot/console/", file=out)
    if server.tls is not None:
        https_port = server.https_sockets[0].getsockname()[1]
        print(f"https endpoint: https://{host}:{https_port}", file=out)
        print(f"CA certificate: {server.tls.ca_path} (AWS_CA_BUNDLE)", file=out)
    print(
        f"Lambda functions reach it at http://127.0.0.1:{function_port} (keys sandlot issued only)",
        file=out,
    )
    if settings.secure:  # where the root's keys are; never the keys themselves
        print(f"root credentials: {held.path / ROOT_CREDENTIALS_FILE}", file=out)
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
    except OSError as exc:
        listener.close()
        raise StartupError(
            f"cannot listen on 127.0.0.1:{settings.function_port} for the functions' "
            f"endpoint: {exc.strerror or exc} (choose another SANDLOT_FUNCTION_PORT)"
        ) from None
    listener.listen(2048)
    return listener


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising SIGINT/SIGTERM after a graceful stop, plus
    the functions' listener and the HTTPS listener (same app, same protocol).

    uvicorn re-raises the signal once ``serve()`` returns, which would kill the process
    before sandlot shuts its execution environments down.
    """

    function_socket: socket.socket
    https_sockets: list[socket.socket]
    tls: ServerTls | None

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
        tls = self.tls

        def tls_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            assert tls is not None
            tls.prepare()  # called before the loop creates the connection's TLS state
            return protocol(_loop)

        for sock in self.https_sockets:
            assert tls is not None
            self.servers.append(
                await loop.create_server(tls_protocol, sock=sock, backlog=2048, ssl=tls.context)
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
    os.umask(0o077)
    data_dir = settings.data_dir or default_data_dir()
    # Held for the life of the process: nothing closes the lock's descriptor.
    DataDir.open(data_dir, logging.getLogger("sandlot").warning)
    return Gateway(Platform(settings, data_dir))
