#!/usr/bin/env bash
# Demo logins for `make run` (never for a real deployment: the passwords are printed).
# An operator of the desk that serves both demo practices, and two clinicians.
set -euo pipefail
cd "$(dirname "$0")/.."
NL=.venv/bin/nightline
create() {  # username password role args...
  local user=$1 password=$2
  shift 2
  printf '%s\n' "$password" | $NL accounts create --username "$user" --password-stdin \
    --if-absent "$@" >/dev/null
}
create operator@demo demo-operator-pass --role operator --desk operator-desk \
  --practice demo-peds --practice maple-peds
create rivera@demo-peds demo-rivera-pass --role clinician --clinician-id dr-rivera \
  --practice demo-peds
create chen@demo-peds demo-chen-pass --role clinician --clinician-id np-chen \
  --practice demo-peds
# A practice administrator of both demo practices: TOTP is required, so its secret is
# kept in the state dir and `nightline accounts totp-code` gives the current code.
STATE=${NIGHTLINE_STATE_DIR:-.nightline}
create admin@demo-peds demo-admin-pass --role practice_admin --practice demo-peds \
  --practice maple-peds --totp-secret-file "$STATE/demo-admin.totp"
