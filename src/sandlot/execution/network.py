"""Each execution environment's own network namespace, connected by pasta.

A ``linux`` sandbox made by the zygote can get a network namespace of its own (issue
10, item 12: a function must not reach sandlot's main endpoint, where dev mode takes
any key as the account root). pasta (Debian package ``passt``) connects it, as a
user-mode network stack: the namespace gets an interface with the host's address and
routes, outbound TCP and UDP go out through ordinary sockets of the host (as Lambda
functions reach the internet), and exactly two ports of the namespace's loopback are
forwarded to the host's loopback (and one UDP port):

    127.0.0.1:9001      the environment's Runtime API (AWS's own address for it)
    127.0.0.1:<F>       sandlot's function-facing listener (AWS_ENDPOINT_URL), where
                        only keys sandlot issued are accepted, signed
    127.0.0.1:<F>/udp   sandlot's X-Ray daemon (AWS_XRAY_DAEMON_ADDRESS)

and DNS queries to 169.254.78.1 (the sandboxes' resolv.conf, Lambda's resolver address)
go to the host's resolver. ``--no-map-gw`` keeps the host's loopback out of reach otherwise: no other service on
127.0.0.1 (sandlot's main endpoint included) is reachable from inside. IPv4 only and
no ICMP, as Lambda (``-4 --no-icmp`` also halve pasta's memory).

pasta runs as a child of the sandbox's outer process (zygote_process.py), outside
the sandbox's cgroups and namespaces, dies with it (PR_SET_PDEATHSIG) and is in its
process group. Where pasta is missing or cannot join a namespace, the sandboxes keep
the host's network, with one warning at start-up.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass

RUNTIME_API_PORT = 9001  # the Runtime API inside the namespace, as on AWS
# The resolver address inside (Lambda's own): pasta forwards its UDP port 53 to the
# host's first resolver, which works where that one is on loopback (127.0.0.53).
RESOLVER = "169.254.78.1"
NETWORKS = ("auto", "isolated", "shared")


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """How the linux backend connects its sandboxes."""

    isolated: bool  # a network namespace per environment (pasta), else the host's
    function_port: int  # sandlot's function-facing listener on the host's 127.0.0.1


def pasta_argv(pasta: str, api_port: int, function_port: int, pid: int | str) -> list[str]:
    """pasta's command line for the sandbox whose outer process is ``pid``: the
    namespace's 9001 to the host's ``api_port``, ``function_port`` to the same port."""
    # pasta dies with the sandbox (PR_SET_PDEATHSIG, or killed by us): its own watch for
    # the namespace's end (--no-netns-quit) would hold an inotify instance per sandbox,
    # of the 128 a user has by default, which editors and `sam sync --watch` need too.
    argv = [pasta, "--config-net", "--no-map-gw", "-4", "--no-icmp", "--no-netns-quit"]
    argv += ["-q", "-f"]
    argv += ["-t", "none", "-u", "none", "-U", str(function_port)]  # UDP: the X-Ray daemon
    argv += ["-T", f"{RUNTIME_API_PORT}:{api_port}", "-T", str(function_port)]
    argv += ["--dns-forward", RESOLVER]
    if os.geteuid() == 0:
        # As root pasta would switch to nobody first, who cannot open the namespace.
        argv += ["--runas", "0", "--netns", f"/proc/{pid}/ns/net"]
    else:  # the namespace belongs to the sandbox's user namespace, which we own
        argv += ["--userns", f"/proc/{pid}/ns/user", "--netns", f"/proc/{pid}/ns/net"]
    return argv


def xray_variables(endpoint_url: str) -> dict[str, str]:
    """Lambda's X-Ray variables: the daemon is sandlot's UDP port with the number of the
    functions' TCP listener (forwarded into an isolated namespace as that one is)."""
    port = str(urllib.parse.urlsplit(endpoint_url).port or 80)
    return {
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}",
        "_AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1",
        "_AWS_XRAY_DAEMON_PORT": port,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",  # as Lambda: the SDK logs, never throws
    }


def resolv_conf(host: str = "/etc/resolv.conf") -> str:
    """The sandboxes' /etc/resolv.conf: the host's search domains and options, with
    RESOLVER as the only nameserver."""
    lines = [f"nameserver {RESOLVER}"]
    try:
        with open(host) as f:
            lines += [
                line.strip()
                for line in f
                if line.split()[:1] and line.split()[0] in ("search", "domain", "options")
            ]
    except OSError:
        pass
    return "\n".join(lines) + "\n"


_PROBE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
uid, gid = os.geteuid(), os.getegid()
if libc.unshare(0x10000000 | 0x40000000) != 0:
    raise SystemExit("unshare(user, net): " + os.strerror(ctypes.get_errno()))
for name, text in (("setgroups", "deny"), ("uid_map", f"993 {uid} 1"), ("gid_map", f"990 {gid} 1")):
    with open(f"/proc/self/{name}", "w") as f:
        f.write(text)
print("ready", flush=True)
sys.stdin.read()
"""


@functools.cache
def pasta_works() -> tuple[bool, str]:
    """Whether pasta can connect a namespace made as the sandboxes make theirs (run
    once: about 30 ms), and if not, why."""
    if not sys.platform.startswith("linux"):
        return False, "network namespaces need Linux"
    pasta = shutil.which("pasta")
    if pasta is None:
        return False, "pasta is not installed (Debian: apt-get install passt)"
    from sandlot.execution.runtimes import PYTHON

    holder = subprocess.Popen(
        (PYTHON, "-S", "-c", _PROBE),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        if holder.stdout.readline() != b"ready\n":
            reason = holder.communicate(timeout=5)[1].decode(errors="replace").strip()
            return False, f"cannot create a network namespace ({reason.splitlines()[-1:]})"
        argv = pasta_argv(pasta, 1, 2, holder.pid)
        pasta_process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_default_signals,
        )
        try:
            deadline = time.monotonic() + 5
            while not _configured(holder.pid, (RUNTIME_API_PORT, 2)):
                if pasta_process.poll() is not None:
                    error = pasta_process.stderr.read().decode(errors="replace").strip()
                    return False, f"pasta cannot connect a namespace: {error[-200:]}"
                if time.monotonic() > deadline:
                    return False, "pasta did not connect a namespace within 5 s"
                time.sleep(0.002)
        finally:
            pasta_process.kill()
            pasta_process.wait()
            pasta_process.stderr.close()
    finally:
        holder.kill()
        holder.communicate()
    return True, ""


def _default_signals() -> None:
    # pasta refuses to start with SIGPIPE ignored, as Python leaves it for children.
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


def _configured(pid: int, ports: tuple[int, ...]) -> bool:
    """Whether pasta has given the namespace of ``pid`` its default route and bound
    ``ports`` on its loopback (the same test as zygote_process.py's)."""
    try:
        with open(f"/proc/{pid}/net/route") as f:
            routes = f.read()
        with open(f"/proc/{pid}/net/tcp") as f:
            tcp = f.read()
    except OSError:
        return False
    wanted = [f"0100007F:{port:04X} 00000000:0000 0A" for port in ports]
    return "\t00000000\t" in routes and all(entry in tcp for entry in wanted)


def resolve_network(requested: str, sandbox: str) -> tuple[bool, str | None]:
    """(own network namespaces or not, warning or None) for ``requested`` (auto,
    isolated, shared) with the resolved ``sandbox`` backend. Raises ValueError where
    ``isolated`` cannot work here, or for an unknown name."""
    if requested not in NETWORKS:
        raise ValueError(
            f"unknown function network {requested!r} (choose auto, isolated or shared)"
        )
    if requested == "shared":
        return False, None
    reason = None
    if sandbox != "linux":
        reason = "the process sandbox cannot give functions a network of their own"
    else:
        from sandlot.execution.sandbox_linux import NAMESPACES, linux_mechanism

        if linux_mechanism()[0] != NAMESPACES:
            reason = "only the zygote's namespaces (not bubblewrap) connect a network namespace"
        else:
            works, why = pasta_works()
            reason = None if works else why
    if reason is None:
        return True, None
    if requested == "isolated":
        raise ValueError(f"refusing to start with SANDLOT_FUNCTION_NETWORK=isolated: {reason}")
    return False, (
        f"warning: Lambda functions share the host's network ({reason}): they can reach "
        "every service on this machine's loopback, sandlot's main endpoint included"
    )


_CLONE_NEWNET = 0x40000000


def tcp_socket_in(pid: int) -> socket.socket:
    """A TCP socket in the network namespace of process ``pid`` (a sandbox's network,
    where the Telemetry API delivers to an extension's listener on its loopback).

    A socket belongs to the namespace it was made in, wherever it is used afterwards: a
    short-lived thread joins the namespace (setns affects only the calling thread),
    makes the socket and leaves. Needs CAP_SYS_ADMIN over that namespace (sandlot run
    as root); raises OSError otherwise.
    """
    target = f"/proc/{pid}/ns/net"
    if os.stat(target).st_ino == os.stat("/proc/self/ns/net").st_ino:
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    libc = ctypes.CDLL(None, use_errno=True)
    made: list[socket.socket | OSError] = []

    def make() -> None:
        try:
            with open("/proc/thread-self/ns/net") as own, open(target) as theirs:
                if libc.setns(theirs.fileno(), _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
                try:
                    made.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                finally:  # (if this failed, the thread ends anyway: nothing else runs on it)
                    libc.setns(own.fileno(), _CLONE_NEWNET)
        except OSError as exc:
            made.append(exc)

    thread = threading.Thread(target=make, name="sandlot-netns")
    thread.start()
    thread.join()
    result = made[0]
    if isinstance(result, OSError):
        raise result
    return result
