#!/usr/bin/env bash
# The whole story in one script: start the stack and a worker, send a synthetic
# urgent call, leave it unacknowledged, and show the pages, the escalation and
# the metrics. Stops the worker at the end (the stack keeps running).
set -euo pipefail
cd "$(dirname "$0")/.."
NL=.venv/bin/nightline
$NL stack up
$NL topics create >/dev/null
$NL schedule load deploy/practices/demo-pediatrics.yaml --actor demo
mkdir -p .nightline
$NL worker > .nightline/demo-worker.log 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -sf localhost:6066/healthz >/dev/null && break; sleep 1; done
sleep 5  # let the worker join its consumer group
$NL publish --sample urgent
echo "waiting 70 s without acknowledging (30 s timeout, one re-page, then the backup)..."
sleep 70
echo "--- pushes"; $NL pushes
echo "--- dispatch states"; $NL tail dispatch.state
echo "--- metrics"; curl -s localhost:6066/metrics | grep -E '^nightline_(escalations|pushes|call_to_push_seconds_count|pending)'
