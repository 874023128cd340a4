"""The end-to-end bench's accounting: CPU and memory from /proc texts, the workers'
metrics, the synthetic calls it produces, issue 9's targets and strict JSON."""

from __future__ import annotations

import json
import math
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.e2e.load import call_message
from bench.e2e.metrics import bucket_delta, parse_scrape
from bench.e2e.procstat import (
    Usage,
    cpu_per_thousand,
    cpu_seconds,
    listening_inodes,
    peak_rss_bytes,
    pid_listening_on,
)
from bench.e2e.report import write_json
from bench.e2e.targets import check_targets
from engine.schemas.catalogue import spec
from engine.schemas.codec import decode

# /proc/<pid>/stat of a process whose name holds spaces and parentheses; utime 250 and
# stime 50 ticks are fields 14 and 15
STAT = "4242 (odd) name (x)) S 1 4242 4242 0 -1 4194560 10 0 0 0 250 50 7 3 20 0 1 0 100 9 2"


def test_cpu_seconds_count_user_and_system_ticks_after_the_name() -> None:
    assert cpu_seconds(STAT, ticks_per_s=100) == 3.0
    assert cpu_seconds(STAT, ticks_per_s=250) == 1.2


def test_cpu_seconds_of_this_process_grow_with_work() -> None:
    stat = Path(f"/proc/{os.getpid()}/stat")
    before = cpu_seconds(stat.read_text())
    sum(n * n for n in range(3_000_000))
    assert cpu_seconds(stat.read_text()) > before


def test_peak_rss_is_vmhwm() -> None:
    status = "Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t    1500 kB\nVmRSS:\t 1200 kB\n"
    assert peak_rss_bytes(status) == 1500 * 1024
    assert peak_rss_bytes("Name:\tkthreadd\n") is None
    with pytest.raises(ValueError, match="VmHWM"):
        peak_rss_bytes("VmHWM:\t 3 MB\n")


def test_cpu_per_thousand_dispatches() -> None:
    before = {"worker-1": Usage(1.0, None), "kafka": Usage(2.0, None), "gone": Usage(1.0, None)}
    after = {"worker-1": Usage(4.0, 10), "kafka": Usage(2.5, 20), "new": Usage(9.0, 30)}
    assert cpu_per_thousand(before, after, 500) == {"worker-1": 6.0, "kafka": 1.0}
    assert cpu_per_thousand(before, after, 0) == {}


TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid inode
   0: 0100007F:9A44 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5551 1 0
   1: 0100007F:9A44 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 5552 1 0
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5553 1 0
"""


def test_listening_sockets_by_port() -> None:
    assert listening_inodes(TCP, 0x9A44) == {5551}  # not the established connection
    assert listening_inodes(TCP, 8080) == {5553}
    assert listening_inodes(TCP, 1) == set()


def test_the_process_listening_on_a_port_is_found() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert pid_listening_on(server.getsockname()[1]) == os.getpid()


METRICS = """# TYPE nightline_timer_firings_total counter
nightline_timer_firings_total{outcome="fired"} %(fired)s
nightline_timer_firings_total{outcome="retry_after_lease"} 1.0
# TYPE nightline_timer_lateness_seconds histogram
nightline_timer_lateness_seconds_bucket{kind="ack",le="0.1"} %(fast)s
nightline_timer_lateness_seconds_bucket{kind="ack",le="1.0"} %(all)s
nightline_timer_lateness_seconds_bucket{kind="ack",le="+Inf"} %(all)s
nightline_timer_lateness_seconds_count{kind="ack"} %(all)s
nightline_timer_lateness_seconds_sum{kind="ack"} 1.5
nightline_timer_lateness_seconds_bucket{kind="release",le="0.1"} 4.0
nightline_timer_lateness_seconds_bucket{kind="release",le="1.0"} 4.0
nightline_timer_lateness_seconds_bucket{kind="release",le="+Inf"} 4.0
"""


def test_metrics_of_workers_are_summed() -> None:
    one = METRICS % {"fired": 10.0, "fast": 3.0, "all": 5.0}
    two = METRICS % {"fired": 20.0, "fast": 4.0, "all": 8.0}
    scrape = parse_scrape([one, two])
    assert scrape.total("nightline_timer_firings_total") == 32.0
    assert scrape.total("nightline_timer_firings_total", outcome="fired") == 30.0
    assert scrape.buckets("nightline_timer_lateness_seconds", kind="ack") == [
        (0.1, 7.0), (1.0, 13.0), (math.inf, 13.0),
    ]  # fmt: skip
    earlier = parse_scrape([METRICS % {"fired": 1.0, "fast": 1.0, "all": 2.0}])
    delta = bucket_delta(
        earlier.buckets("nightline_timer_lateness_seconds", kind="ack"),
        scrape.buckets("nightline_timer_lateness_seconds", kind="ack"),
    )
    assert delta == [(0.1, 6.0), (1.0, 11.0), (math.inf, 11.0)]


@pytest.mark.parametrize("kind", ["urgent", "routine"])
def test_each_call_is_a_valid_new_intake_event_received_now(kind: str) -> None:
    before = datetime.now(UTC)
    first, raw = call_message(kind, "bench-s-3")
    second, _ = call_message(kind, "bench-s-3")
    event = decode(spec("intake").adapter, raw)
    assert first == f"d-{event.event_id}" and second != first
    assert event.practice_id == "bench-s-3" and before <= event.received_at
    assert event.received_at <= datetime.now(UTC)
    assert getattr(event, "call_id", None) in (None, f"call-{event.event_id.hex[:8]}")  # sms: None


def _step(achieved: float, p99: float, duplicates: int = 0, failure: str | None = None) -> Any:
    return {"achieved_per_s": achieved, "latency_s": {"p99": p99}, "duplicates": duplicates,
            "failure": failure}  # fmt: skip


def test_targets() -> None:
    result = {
        "steps": [
            {"workers": 1, "steps": [_step(500, 0.02), _step(1010, 0.09),
                                     _step(1900, 0.3, 0, "p99"), _step(1500, 0.2)]},
            {"workers": 2, "steps": [_step(990, 0.05, 1)]},
        ],
        "timers": {"spread": {"lateness_s": {"p99": 0.3}}, "firings_per_timer": 1.04},
    }  # fmt: skip
    met = [m for _, m in check_targets(result)]
    assert met == [True, True, False, False, False, True]
    assert check_targets({}) == []


def test_the_json_is_strict(tmp_path: Path) -> None:
    path = write_json({"lateness": {"p99": math.inf}, "rows": [(1.5, -math.inf)]}, tmp_path / "r")
    assert json.loads(path.read_text()) == {"lateness": {"p99": "inf"}, "rows": [[1.5, "-inf"]]}
