"""Process plumbing shared by the local Kafka and Redis: spawn detached, pid files, stop.

A pid file holds ``"<pid> <start time>"``; the start time (``/proc/<pid>/stat`` field 22)
guards against a recycled pid, so a stale file never makes us signal a stranger.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

__all__ = [
    "file_lock",
    "live_pid",
    "log_tail",
    "port_open",
    "spawn",
    "terminate",
    "wait_until",
]


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of ``pid`` from /proc, or None when there is no /proc entry."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # skip "pid (comm) ", comm may hold spaces
    return fields[0], fields[19]


def _alive(pid: int, start_time: str | None = None) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    stat = _proc_stat(pid)
    if stat is not None:
        state, started = stat
        return state not in ("Z", "X") and (start_time is None or started == start_time)
    if Path("/proc/self/stat").exists():
        return False  # Linux, and the pid has no /proc entry
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_pid(pid_file: Path) -> int | None:
    """The pid recorded in ``pid_file`` if that very process still runs; else None."""
    try:
        parts = pid_file.read_text().split()
        pid = int(parts[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid, parts[1] if len(parts) > 1 else None) else None


def spawn(cmd: Sequence[str], log_file: Path, pid_file: Path, cwd: Path) -> int:
    """Start ``cmd`` in its own session, output appended to ``log_file``; record its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    stat = _proc_stat(proc.pid)
    pid_file.write_text(f"{proc.pid} {stat[1] if stat else ''}".strip() + "\n")
    return proc.pid


def terminate(pid_file: Path, timeout: float) -> int | None:
    """SIGTERM the recorded process (group), SIGKILL after ``timeout`` s; remove the pid file.

    Returns the pid that was stopped, or None when nothing of ours was running.
    """
    pid = live_pid(pid_file)
    if pid is not None:
        _signal(pid, signal.SIGTERM)
        if not wait_until(lambda: live_pid(pid_file) is None, timeout):
            _signal(pid, signal.SIGKILL)
            wait_until(lambda: live_pid(pid_file) is None, 10.0)
    pid_file.unlink(missing_ok=True)
    return pid


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:  # our spawn() made it a session (and group) leader
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Call ``check`` until it returns True (-> True) or ``timeout`` s pass (-> False)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def log_tail(log_file: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of ``log_file`` (for error messages)."""
    try:
        with log_file.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return f"(no log at {log_file})"
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
