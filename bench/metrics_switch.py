"""``sandlot up`` with its service metrics switched on and off by signals, for
``bench/service_metrics.py``: SIGUSR1 switches them on, SIGUSR2 off, and each switch
writes the new state to the file named by ``SANDLOT_BENCH_METRICS_STATE`` (the bench
waits for it there).

One server for both variants: two processes of one build differ by a few percent in
speed (where each lands in memory, its hash seed), as much as the cost measured. The
switch is ``Metrics.enabled``, the flag ``SANDLOT_SERVICE_METRICS`` sets at start; the
engine's observer stays installed, so "off" still pays its call (an early return).

    python bench/metrics_switch.py up --port N --data-dir D
"""

from __future__ import annotations

import os
import signal
import sys

from sandlot import metrics
from sandlot.cli.main import main

_instances: list[metrics.Metrics] = []
_init = metrics.Metrics.__init__


def _recorded_init(self: metrics.Metrics, platform) -> None:
    _init(self, platform)
    _instances.append(self)


def _switch(enabled: bool) -> None:
    for instance in _instances:
        instance.enabled = enabled
    state = os.environ["SANDLOT_BENCH_METRICS_STATE"]
    with open(state + ".tmp", "w") as f:
        f.write("on" if enabled else "off")
    os.replace(state + ".tmp", state)


if __name__ == "__main__":
    metrics.Metrics.__init__ = _recorded_init
    signal.signal(signal.SIGUSR1, lambda *_: _switch(True))
    signal.signal(signal.SIGUSR2, lambda *_: _switch(False))
    sys.exit(main(sys.argv[1:]))
