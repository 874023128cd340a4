"""End to end: real workers, Kafka, Redis, the fake APNs and FCM, and virtual phones,
measured from outside the engine: ``python bench/bench_e2e.py [--quick] [--help]``.

Scenarios (``--scenarios``; all by default): ``floor`` (a bare aiokafka relay on the
same broker, unbatched and batched), ``steps`` (urgent calls at stepped rates: achieved
rate, call -> push latency from the send to the fake's receive time, consumer lag, CPU
per 1,000 dispatches per process), ``timers`` (100,000 pending ack timers spread over an
hour, and 10,000 due at once: lateness and firings per timer) and ``mixed`` (routine and
urgent calls; phones accept, decline or never answer), with one and two workers
(``--workers``). Uses ``KAFKA_BOOTSTRAP_SERVERS`` / ``REDIS_URL`` when set, else starts
the local stack as ``make run`` does. Prints a table, PASS / FAIL against issue 9's
targets (not with ``--quick``) and writes JSON (``.nightline/bench/e2e-<time>.json``).
Exit status: 0, 1 when a target is missed, 2 when a sampled push did not decrypt on its
phone. The package ``bench/e2e`` holds the parts (see its ``__init__``).
"""

from __future__ import annotations

import sys

from e2e.cli import main

if __name__ == "__main__":
    sys.exit(main())
