#!/usr/bin/env bash
# The whole story in one script, through the local fake APNs / FCM and virtual phones:
# a synthetic urgent call reaches dr-rivera's iPhone (decrypted on the phone, receipt
# sent), nobody answers, the worker re-pages and then pages the backup's Android phone,
# which accepts. Stops the worker at the end (the stack keeps running).
set -euo pipefail
cd "$(dirname "$0")/.."
export NIGHTLINE_PUSH_GATEWAY=local-fakes
# A fresh deployment prefix per run (topics, Redis keys, consumer group), so dispatches
# left over from earlier runs in the same stack do not mix into this story.
export NIGHTLINE_TOPIC_PREFIX="demo-$(date +%s)"
export NIGHTLINE_APP_ID="$NIGHTLINE_TOPIC_PREFIX"
NL=.venv/bin/nightline
$NL stack up
$NL topics create >/dev/null
$NL schedule load deploy/practices/demo-pediatrics.yaml --actor demo
bash deploy/demo-phones.sh
mkdir -p .nightline
$NL worker > .nightline/demo-worker.log 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true' EXIT
ready=no
for _ in $(seq 1 60); do  # ready: it has its partitions and the practices loaded
  if curl -sf localhost:6066/readyz >/dev/null; then ready=yes; break; fi
  kill -0 $WORKER 2>/dev/null || break  # the worker exited: it never will be ready
  sleep 1
done
if [ "$ready" != yes ]; then
  echo "demo: the worker never became ready (http://localhost:6066/readyz);" \
    "last lines of .nightline/demo-worker.log:" >&2
  tail -n 30 .nightline/demo-worker.log >&2
  exit 1
fi
$NL publish --sample urgent
echo "--- dr-rivera's iPhone: the push arrives, is decrypted, a receipt goes back; no answer"
$NL device listen --device rivera-iphone --once --timeout 30
echo "--- waiting for the 30 s ack timeout, one re-page, then the backup np-chen..."
$NL device listen --device chen-pixel --accept --once --timeout 120
sleep 2
echo "--- what the phones decrypted (synthetic patient; only the phones can read this)"
$NL device inbox --device rivera-iphone
$NL device inbox --device chen-pixel
echo "--- dispatch states"; $NL tail dispatch.state
echo "--- metrics"
curl -s localhost:6066/metrics \
  | grep -E '^nightline_(escalations|pushes|push_provider|call_to_push_seconds_count|pending)'
