"""Kills the runtimes' process groups when the sandlot server goes away.

The process backend starts this once, as ``python -S reaper.py``, with a pipe as its
standard input, in a session of its own (terminal signals do not reach it). The server
writes ``+<pgid>`` when a sandbox starts and ``-<pgid>`` when it has ended. End of
input means the server's process is gone — after a clean shutdown, a crash or a
``kill -9`` alike — and every group still listed is killed: idle environments are
frozen (SIGSTOP) and would otherwise wait forever for a server that no longer exists.
"""

import contextlib
import os
import signal
import sys


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    groups = set()
    for line in sys.stdin.buffer:
        line = line.strip()
        if line[:1] == b"+":
            groups.add(int(line[1:]))
        elif line[:1] == b"-":
            groups.discard(int(line[1:]))
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)


if __name__ == "__main__":
    main()
