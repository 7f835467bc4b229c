"""A cgroup's peak memory (each REPORT's Max Memory Used): read again on every call
through the file it keeps open, closed when the cgroup is removed."""

import os

from sandlot.execution.cgroups import CgroupV1, CgroupV2


def test_v1_reads_the_current_peak_on_each_call_and_closes_its_file_on_remove(tmp_path):
    dirs = [tmp_path / name for name in ("pids", "memory", "cpu")]
    for d in dirs:
        d.mkdir()
    peak = dirs[1] / "memory.max_usage_in_bytes"
    peak.write_text(f"{40 * 2**20 + 1}\n")  # a byte over 40 MB rounds up
    cgroup = CgroupV1(dirs, [])
    assert cgroup.peak_memory_mb() == 41
    with open(peak, "r+") as f:  # the same file, rewritten in place as the kernel's is
        f.write(f"{300 * 2**20}\n")
    assert cgroup.peak_memory_mb() == 300
    fd = cgroup._peak_fd
    assert fd is not None and os.fstat(fd)
    cgroup.remove()
    assert cgroup._peak_fd is None
    try:
        os.fstat(fd)
    except OSError:
        pass
    else:
        raise AssertionError("the peak file was left open")


def test_v2_without_a_peak_file_reports_zero(tmp_path):
    assert CgroupV2([tmp_path], []).peak_memory_mb() == 0
