"""CPU time and peak memory of the processes under test, read from Linux's ``/proc``.

``/proc/<pid>/stat`` gives user and system CPU time in clock ticks (fields 14 and 15),
``/proc/<pid>/status`` the peak resident set (``VmHWM``). A service the bench did not
start (an external Kafka or Redis on this machine) is found by its listening port:
the socket's inode in ``/proc/net/tcp[6]``, then the process holding that socket.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Usage",
    "cpu_per_thousand",
    "cpu_seconds",
    "listening_inodes",
    "peak_rss_bytes",
    "pid_listening_on",
    "read_usage",
    "usage_of",
]

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_LISTEN = "0A"


def cpu_seconds(stat_text: str, ticks_per_s: int = CLOCK_TICKS) -> float:
    """User plus system CPU seconds of a ``/proc/<pid>/stat`` line. The command name
    (field 2) is in parentheses and may hold spaces and parentheses itself, so fields
    are counted after its last ``)``."""
    fields = stat_text.rpartition(")")[2].split()  # fields[0] is field 3, the state
    return (int(fields[11]) + int(fields[12])) / ticks_per_s


def peak_rss_bytes(status_text: str) -> int | None:
    """The peak resident set (``VmHWM``) of a ``/proc/<pid>/status`` text, in bytes."""
    for line in status_text.splitlines():
        name, _, rest = line.partition(":")
        if name == "VmHWM":
            value, unit = rest.split()
            if unit != "kB":
                raise ValueError(f"VmHWM in {unit!r}, not kB")
            return int(value) * 1024
    return None


def listening_inodes(tcp_table: str, port: int) -> set[int]:
    """Inodes of the sockets listening on ``port`` in a ``/proc/net/tcp`` (or ``tcp6``)
    table (addresses are hex ``ADDR:PORT``, state ``0A`` is LISTEN)."""
    inodes = set()
    for line in tcp_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, state, inode = fields[1], fields[3], fields[9]
        if state == _LISTEN and int(local.rpartition(":")[2], 16) == port:
            inodes.add(int(inode))
    return inodes


def pid_listening_on(port: int, proc: Path = PROC) -> int | None:
    """The process listening on TCP ``port`` on this machine, if it can be seen."""
    inodes: set[int] = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            inodes |= listening_inodes((proc / table).read_text(), port)
        except OSError:
            continue
    sockets = {f"socket:[{inode}]" for inode in inodes}
    for fd_dir in proc.glob("[0-9]*/fd") if sockets else ():
        try:
            if any(os.readlink(fd) in sockets for fd in fd_dir.iterdir()):
                return int(fd_dir.parent.name)
        except OSError:  # gone, or not ours to read
            continue
    return None


@dataclass(frozen=True)
class Usage:
    """CPU seconds so far and peak resident set (bytes) of one process."""

    cpu_s: float
    peak_rss: int | None


def read_usage(pid: int, proc: Path = PROC) -> Usage | None:
    """The usage of ``pid`` now; None when it is gone."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        status = (proc / str(pid) / "status").read_text()
    except OSError:
        return None
    return Usage(cpu_seconds(stat), peak_rss_bytes(status))


def usage_of(pids: Mapping[str, int]) -> dict[str, Usage]:
    """:func:`read_usage` of each named process that is still there."""
    usage = {name: read_usage(pid) for name, pid in pids.items()}
    return {name: u for name, u in usage.items() if u is not None}


def cpu_per_thousand(
    before: Mapping[str, Usage], after: Mapping[str, Usage], dispatches: int
) -> dict[str, float]:
    """CPU seconds per 1,000 dispatches of each process seen before and after."""
    if dispatches <= 0:
        return {}
    return {
        name: (after[name].cpu_s - before[name].cpu_s) * 1000 / dispatches
        for name in before
        if name in after
    }
