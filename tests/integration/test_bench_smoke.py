"""The end-to-end bench at a tiny scale (``bench/bench_e2e.py --quick``), so it cannot rot:
it runs against the test stack and must write sane JSON. Whether the numbers are good
is the full bench's business; here they must only be there and make sense."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from engine.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def _run_quick_bench(settings: Settings, tmp_path: Path) -> tuple[dict[str, Any], str]:
    out = tmp_path / "e2e.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIGHTLINE_")}
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_servers,
            "REDIS_URL": settings.redis_dsn,
            "NIGHTLINE_STATE_DIR": str(tmp_path / "state"),
        }
    )
    done = subprocess.run(
        [sys.executable, "bench/bench_e2e.py", "--quick", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def _positive_latencies(latency: dict[str, Any], n: int) -> None:
    assert latency["n"] == n
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]


def test_the_quick_bench_measures_every_scenario(stack_settings: Settings, tmp_path: Path) -> None:
    result, printed = _run_quick_bench(stack_settings, tmp_path)
    assert "== steps, 1 worker(s)" in printed and "== timers" in printed
    assert result["machine"]["cores"] >= 1 and len(result["machine"]["commit"]) == 40

    floor = result["floor"]
    assert floor["message_bytes"] > 0
    for mode, records in (("unbatched", 200), ("batched", 2000)):
        assert floor[mode]["records"] == records and floor[mode]["per_s"] > 0

    [steps] = result["steps"]
    assert steps["workers"] == 1 and [s["rate"] for s in steps["steps"]] == [5.0, 10.0]
    for step in steps["steps"]:
        assert step["failure"] is None
        assert step["pushed"] == step["calls"] and (step["missing"], step["duplicates"]) == (0, 0)
        _positive_latencies(step["latency_s"], step["calls"])
        assert step["sample"]["decrypted"] > 0 and step["sample"]["not_decrypted"] == 0
        assert step["processes"]["worker-1"]["cpu_s_per_1000"] > 0
    assert steps["best_sustained_per_s"] > 0 and steps["ratio_to_batched_floor"] > 0

    timers = result["timers"]
    assert timers["created"] == 60 and timers["created_all_paged"]
    assert timers["timers_due"] > 0 and timers["firings_per_timer"] > 0
    for group in ("spread", "burst"):
        fired = timers[group]
        assert fired["timers"] > 0 and fired["max_pushes_per_timer"] == 1
        assert fired["lateness_s"]["n"] + fired["unfired"] == fired["timers"]
        assert fired["lateness_s"]["p50"] > 0

    mixed = result["mixed"]
    assert mixed["urgent"] + mixed["routine"] == 20 and mixed["urgent"] > 0
    assert (mixed["missing"], mixed["duplicates"], mixed["routine_pushed"]) == (0, 0, 0)
    _positive_latencies(mixed["latency_s"], mixed["urgent"])
    assert sum(mixed["statuses"].values()) == mixed["urgent"] and "missing" not in mixed["statuses"]
    assert sum(mixed["phones"].values()) >= mixed["urgent"]
    assert {"worker-1", "fake-apns", "fake-fcm", "bench"} <= set(result["peak_rss_mib"])

    crash = result["crash"]  # the worker SIGKILLed half-way through 40 calls, restarted
    assert crash["calls"] == 40 and crash["restart_ready_s"] > 0
    assert (crash["pushed"], crash["missing"]) == (40, 0)  # every call still paged
    # one push can repeat only if it was at the provider in the instant of the kill,
    # before the worker recorded it (the phone shows a page once by its number)
    assert crash["duplicates"] <= 1
    assert "== crash" in printed
