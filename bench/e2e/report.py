"""The bench's results: the machine and commit they came from, a printed table, and a
JSON file (``.nightline/bench/e2e-<UTC timestamp>.json`` unless ``--out`` says)."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["machine", "print_report", "write_json"]


def _first(path: str, field: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == field:
                return value.strip()
    except OSError:
        return None
    return None


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def machine(repo: Path) -> dict[str, Any]:
    """Cores, memory, CPU model, OS, Python, load, and the git commit (``dirty`` when
    the work tree has changes)."""
    mem_kb = _first("/proc/meminfo", "MemTotal")
    status = _git(repo, "status", "--porcelain")
    return {
        "cores": os.cpu_count(),
        "memory_gib": int(mem_kb.split()[0]) / 2**20 if mem_kb else None,
        "cpu": _first("/proc/cpuinfo", "model name"),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
        "commit": _git(repo, "rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def _strict(value: Any) -> Any:
    """``value`` with infinities as the strings ``"inf"`` / ``"-inf"`` (strict JSON has none;
    a lateness past the histogram's last bucket is one)."""
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def write_json(result: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_strict(result), indent=2, default=str, allow_nan=False) + "\n")
    return path


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _cpu(processes: Mapping[str, Mapping[str, Any]], prefix: str) -> str:
    values = [
        p["cpu_s_per_1000"]
        for name, p in processes.items()
        if name.startswith(prefix) and p["cpu_s_per_1000"] is not None
    ]
    return f"{sum(values):.2f}" if values else "-"


_STEP_HEAD = ("rate", "offered", "achieved", "pushed", "missing", "dup", "p50ms", "p95ms",
              "p99ms", "maxms", "lag@end", "lag+drain", "cpu/1k: workers", "kafka", "redis",
              "fakes", "bench", "result")  # fmt: skip


def _row(cells: tuple[str, ...] | list[str]) -> str:
    return "  ".join(f"{c:>9}" for c in cells)


def _steps(run: Mapping[str, Any]) -> list[str]:
    lines = [f"== steps, {run['workers']} worker(s)", _row(_STEP_HEAD)]
    for s in run["steps"]:
        lat, procs = s["latency_s"], s["processes"]
        lines.append(_row((
            _num(s["rate"]), _num(s["offered_per_s"]), _num(s["achieved_per_s"]),
            str(s["pushed"]), str(s["missing"]), str(s["duplicates"]), _ms(lat["p50"]),
            _ms(lat["p95"]), _ms(lat["p99"]), _ms(lat["max"]), str(s["intake_lag_at_end"]),
            str(s["intake_lag_after_drain"]), _cpu(procs, "worker"), _cpu(procs, "kafka"),
            _cpu(procs, "redis"), _cpu(procs, "fake"), _cpu(procs, "bench"),
            s["failure"] or "ok",
        )))  # fmt: skip
    lines.append(f"best sustained: {_num(run['best_sustained_per_s'])} calls/s")
    return lines


def _timers(t: Mapping[str, Any]) -> list[str]:
    lines = [
        "== timers",
        f"created {t['created']:,} dispatches (all paged: {t['created_all_paged']}); "
        f"{t['pending_timers']:,} timers pending; {t['quiet_s']:.0f} s quiet, then the "
        f"burst; {t['timers_due']:,} timers due",
        f"firings per timer (worker counter): {_num(t['firings_per_timer'], 3)}; worker "
        "lateness histogram p50 / p99 / max <= "
        + " / ".join(_num(v, 3) for v in t["worker_lateness_s"].values())
        + " s",
    ]
    for name in ("spread", "burst", "spread_under_load"):
        g = t[name]
        lat = g["lateness_s"]
        lines.append(
            f"{name}: {g['timers']:,} timers due within {_num(g['due_spread_s'], 2)} s; "
            f"due -> next page p50 {_ms(lat['p50'])} ms, p95 {_ms(lat['p95'])} ms, "
            f"p99 {_ms(lat['p99'])} ms, max {_ms(lat['max'])} ms; fired "
            f"{_num(g['fired_per_s'])}/s; unfired {g['unfired']}; "
            f"pushes per timer <= {g['max_pushes_per_timer']}"
        )
    return lines


def _mixed(m: Mapping[str, Any]) -> list[str]:
    lat, dec = m["latency_s"], m["decline_to_next_page_s"]
    return [
        "== mixed",
        f"{m['urgent']:,} urgent + {m['routine']:,} routine calls at "
        f"{m['offered_per_s']:.0f}/s; urgent call -> push p50 {_ms(lat['p50'])} ms, "
        f"p99 {_ms(lat['p99'])} ms, max {_ms(lat['max'])} ms; missing {m['missing']}, "
        f"duplicates {m['duplicates']}, routine pushed {m['routine_pushed']}",
        f"phones: {m['phones']}; decline -> next page p50 {_ms(dec['p50'])} ms, "
        f"p99 {_ms(dec['p99'])} ms; pushes per urgent call "
        f"{_num(m['pushes_per_urgent_call'], 2)}; statuses at the end: {m['statuses']}",
    ]


def _crash(c: Mapping[str, Any]) -> list[str]:
    latency = c["latency_s"]
    return [
        "== crash",
        f"{c['calls']:,} urgent calls at {c['rate']:g}/s to {c['workers']} worker(s); the "
        f"first SIGKILLed at {c['killed_at_s']:.1f} s and ready again {c['restart_ready_s']:.1f} s"
        f" later; pushed {c['pushed']:,}, missing {c['missing']}, repeated {c['duplicates']}; "
        f"call -> push p50 {_ms(latency['p50'])} ms, p99 {_ms(latency['p99'])} ms, max "
        f"{_ms(latency['max'])} ms",
    ]


def print_report(result: Mapping[str, Any]) -> None:
    m = result["machine"]
    lines = [
        f"machine: {m['cores']} cores, {_num(m['memory_gib'], 1)} GiB, {m['cpu']}; "
        f"commit {m['commit']}{' (dirty)' if m['dirty'] else ''}; load at start "
        + ", ".join(f"{x:.2f}" for x in m["load_average_at_start"]),
    ]
    floor = result.get("floor")
    if floor:
        lines.append(f"== floor: raw aiokafka relay, {floor['message_bytes']}-byte records")
        for mode in ("unbatched", "batched"):
            f = floor[mode]
            lines.append(f"{mode:>9}: {f['records']:,} records in {f['seconds']:.2f} s = "
                         f"{f['per_s']:,.0f}/s")  # fmt: skip
    for steps in result.get("steps", []):
        lines += _steps(steps)
        ratio = steps.get("ratio_to_batched_floor")
        if ratio is not None:
            lines.append(f"best sustained / batched floor = {ratio:.3f}")
    if result.get("timers"):
        lines += _timers(result["timers"])
    if result.get("mixed"):
        lines += _mixed(result["mixed"])
    if result.get("crash"):
        lines += _crash(result["crash"])
    rss = result.get("peak_rss_mib", {})
    if rss:
        lines.append("peak RSS (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items()))
    print("\n".join(lines), flush=True)
