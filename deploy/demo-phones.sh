#!/usr/bin/env bash
# Give every clinician of the demo practices a virtual phone: fresh RFC 8291 keys,
# registered in the device registry (the private half stays in the state dir, as it
# would stay on a phone). Practice files carry no devices: phones register themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
NL=.venv/bin/nightline
while read -r clinician device platform; do
  $NL device register --clinician "$clinician" --device "$device" --platform "$platform" \
    --direct >/dev/null
  echo "virtual $platform phone $device for $clinician"
done <<'PHONES'
dr-rivera rivera-iphone ios
np-chen chen-pixel android
dr-okafor okafor-iphone ios
dr-lindqvist lindqvist-pixel android
dr-brandt brandt-iphone ios
dr-castellanos castellanos-iphone ios
dr-abernathy abernathy-pixel android
np-ruiz ruiz-iphone ios
np-haddad haddad-pixel android
PHONES
