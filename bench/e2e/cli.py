"""Command line and order of the end-to-end bench (``bench/bench_e2e.py --help``).

One run: the stack (the configured Kafka and Redis, else the local stack as ``make
run`` starts it), the fake APNs and FCM as processes, then the floor, then per worker
count a deployment of its own: the stepped rates; with the first worker count also the
timers and the mixed load (on a fresh deployment when an earlier scenario left a
backlog). Everything the bench made (topics, Redis keys, files) is removed at the end
unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.settings import Settings, load_settings
from engine.stack import StackInfo, stack_up
from engine.stack.kafka import stop_kafka
from engine.stack.redis_server import stop_redis

from .crash import CrashOptions, run_crash
from .deployment import Deployment
from .fakes import PushFakes
from .floor import FloorOptions, run_floor
from .mixed import MixedOptions, run_mixed
from .procstat import pid_listening_on
from .report import machine, print_report, write_json
from .run import Run
from .steps import StepsOptions, run_steps
from .targets import check_targets
from .timers import TimerOptions, run_timers

__all__ = ["main"]

SCENARIOS = ("floor", "steps", "timers", "mixed", "crash")
REPO = Path(__file__).resolve().parents[2]
QUICK = {
    "workers": [1], "rates": [5.0, 10.0], "step_s": 2.0, "drain_s": 20.0,
    "floor_unbatched": 200, "floor_batched": 2000,
    "timers": 60, "timer_window_s": 10.0, "timer_burst": 20, "timer_create_rate": 50.0,
    "timer_observe_s": 6.0, "timer_burst_lead_s": 3.0,
    "mixed_rate": 10.0, "mixed_s": 2.0, "mixed_ack_timeout_s": 1.0,
    "crash_rate": 10.0, "crash_s": 4.0,
}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    p.add_argument("--workers", nargs="+", type=int, default=[1, 2], help="worker processes")
    p.add_argument("--quick", action="store_true", help="a tiny run (seconds) for smoke tests")
    p.add_argument("--out", type=Path, help="JSON file (default .nightline/bench/e2e-<ts>.json)")
    p.add_argument("--keep", action="store_true", help="keep topics, Redis keys and logs")
    p.add_argument("--partitions", type=int, default=4, help="partitions per topic")
    g = p.add_argument_group("steps")
    g.add_argument("--rates", nargs="+", type=float, default=[250, 500, 1000, 2000, 4000])
    g.add_argument("--step-s", type=float, default=20.0, help="seconds per step")
    g.add_argument("--drain-s", type=float, default=30.0, help="wait for late pushes (s)")
    g.add_argument("--practices", type=int, default=16)
    g.add_argument("--min-achieved", type=float, default=0.8, help="of offered, else stop")
    g.add_argument("--max-p99-s", type=float, default=5.0, help="p99 over this: stop")
    g = p.add_argument_group("floor")
    g.add_argument("--floor-unbatched", type=int, default=3000, help="records")
    g.add_argument("--floor-batched", type=int, default=60000, help="records")
    g = p.add_argument_group("timers")
    g.add_argument("--timers", type=int, default=100_000, help="spread timers")
    g.add_argument("--timer-window-s", type=float, default=3600.0, help="their spread")
    g.add_argument("--timer-burst", type=int, default=10_000, help="timers due at once")
    g.add_argument("--timer-create-rate", type=float, default=1000.0, help="calls/s")
    g.add_argument("--timer-observe-s", type=float, default=30.0)
    g.add_argument("--timer-burst-lead-s", type=float, default=10.0,
                   help="burst due this long after its last call")  # fmt: skip
    g = p.add_argument_group("mixed")
    g.add_argument("--mixed-rate", type=float, default=200.0, help="calls/s")
    g.add_argument("--mixed-s", type=float, default=20.0, help="seconds of calls")
    g.add_argument("--mixed-routine", type=float, default=0.3, help="share of routine calls")
    g.add_argument("--mixed-ack-timeout-s", type=float, default=5.0)
    g = p.add_argument_group("crash")
    g.add_argument("--crash-rate", type=float, default=60.0, help="urgent calls/s")
    g.add_argument("--crash-s", type=float, default=20.0, help="seconds of calls; the "
                   "first worker is SIGKILLed half-way and restarted")  # fmt: skip
    args = p.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    return args


def _services(settings: Settings, info: StackInfo) -> dict[str, int]:
    """The broker's and Redis's pids: started or reused here, else found by port."""
    found = {}
    for name, pid, address in (
        ("kafka", info.kafka_pid, f"kafka://{settings.kafka_servers.split(',')[0]}"),
        ("redis", info.redis_pid, settings.redis_dsn),
    ):
        port = urlsplit(address).port
        pid = pid or (pid_listening_on(port) if port else None)
        if pid:
            found[name] = pid
    return found


async def _scenarios(run: Run, args: argparse.Namespace, result: dict[str, Any]) -> None:
    chosen = set(args.scenarios)
    if "floor" in chosen:
        opts = FloorOptions(args.floor_unbatched, args.floor_batched, args.partitions)
        result["floor"] = await run_floor(run.base.kafka_servers, opts)
    for n, workers in enumerate(args.workers):
        later = [s for s in ("timers", "mixed", "crash") if s in chosen and n == 0]
        if "steps" not in chosen and not later:
            continue
        deployment = Deployment(run.base, run.fakes, run.home, workers, args.partitions)
        try:
            await deployment.start()
            if "steps" in chosen:
                steps = StepsOptions(tuple(args.rates), args.step_s, args.drain_s,
                                     args.practices, args.min_achieved, args.max_p99_s)  # fmt: skip
                result.setdefault("steps", []).append(await run_steps(run, deployment, steps))
            for name in later:
                if not await deployment.drained(min(args.drain_s, 10.0), "intake", "acks"):
                    await deployment.close(run.keep)
                    deployment = Deployment(run.base, run.fakes, run.home, workers,
                                            args.partitions)  # fmt: skip
                    await deployment.start()
                result[name] = await _later(name, run, deployment, args)
        finally:
            await deployment.close(run.keep)


async def _later(name: str, run: Run, deployment: Deployment, a: argparse.Namespace) -> Any:
    if name == "timers":
        opts = TimerOptions(a.timers, a.timer_window_s, a.timer_burst, a.timer_create_rate,
                            a.timer_observe_s, a.drain_s,
                            burst_lead_s=a.timer_burst_lead_s)  # fmt: skip
        return await run_timers(run, deployment, opts)
    if name == "crash":
        crash = CrashOptions(a.crash_rate, a.crash_s, a.drain_s, a.practices)
        return await run_crash(run, deployment, crash)
    mixed = MixedOptions(a.mixed_rate, a.mixed_s, a.mixed_routine, a.mixed_ack_timeout_s)
    if a.quick:
        mixed = MixedOptions(a.mixed_rate, a.mixed_s, a.mixed_routine, a.mixed_ack_timeout_s,
                             answer_delay_s=(0.1, 0.5))  # fmt: skip
    return await run_mixed(run, deployment, mixed)


def _summarise(result: dict[str, Any]) -> None:
    """The floor ratios and every process's peak RSS over the run."""
    floor = result.get("floor", {}).get("batched", {}).get("per_s")
    peaks: dict[str, float] = {}
    for steps in result.get("steps", []):
        best = steps["best_sustained_per_s"]
        steps["ratio_to_batched_floor"] = best / floor if best and floor else None
        for step in steps["steps"]:
            _peaks(peaks, step["processes"])
    for name in ("timers", "mixed"):
        if name in result:
            _peaks(peaks, result[name]["processes"])
    result["peak_rss_mib"] = peaks


def _peaks(peaks: dict[str, float], processes: dict[str, dict[str, Any]]) -> None:
    for name, usage in processes.items():
        if usage["peak_rss_mib"] is not None:
            peaks[name] = max(peaks.get(name, 0.0), usage["peak_rss_mib"])


async def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    settings = load_settings()
    started = datetime.now(UTC)
    home = settings.state_dir.resolve() / "bench" / f"run-{started:%Y%m%dT%H%M%SZ}"
    home.mkdir(parents=True, exist_ok=True)
    info = await asyncio.to_thread(stack_up, settings)
    result: dict[str, Any] = {"machine": machine(REPO), "started_at": started.isoformat(),
                              "options": {k: str(v) if isinstance(v, Path) else v
                                          for k, v in vars(args).items()}}  # fmt: skip
    fakes = await PushFakes.start(settings, home)
    run = Run(settings, fakes, home, _services(settings, info), args.keep)
    try:
        await _scenarios(run, args, result)
    finally:
        await fakes.stop()
        if info.kafka_state == "started":
            await asyncio.to_thread(stop_kafka, settings)
        if info.redis_state == "started":
            await asyncio.to_thread(stop_redis, settings)
    result["seconds"] = (datetime.now(UTC) - started).total_seconds()
    _summarise(result)
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for client in ("aiokafka", "kafka"):  # retries on new topics, group-less consumers
        logging.getLogger(client).setLevel(logging.ERROR)
    result = asyncio.run(run_bench(args))
    stamp = datetime.fromisoformat(result["started_at"]).strftime("%Y%m%dT%H%M%SZ")
    path = args.out or load_settings().state_dir / "bench" / f"e2e-{stamp}.json"
    checks = [] if args.quick else check_targets(result)
    result["targets"] = [{"target": what, "met": met} for what, met in checks]
    print_report(result)
    for what, met in checks:
        print(f"{'PASS' if met else 'FAIL'}  {what}")
    print(f"wrote {write_json(result, path)}")
    broken = any(s["sample"]["not_decrypted"] for r in result.get("steps", []) for s in r["steps"])
    return 2 if broken else 1 if not all(met for _, met in checks) else 0
