#!/usr/bin/env bash
# Give a native device its own broker login; the ACL then lets it publish only its own topics.
#   add-device.sh DEVICE_ID [--prefix DIR]
# Prints the generated password once, for the device's configuration.
set -euo pipefail

DEVICE_ID="${1:?usage: add-device.sh DEVICE_ID [--prefix DIR]}"
PREFIX=""
if [ "${2:-}" = "--prefix" ]; then PREFIX="${3:?--prefix needs a directory}"; fi
if ! [[ "$DEVICE_ID" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ ]] || [ "$DEVICE_ID" = hub ] \
   || [ "$DEVICE_ID" = pairing ]; then
  echo "add-device.sh: '$DEVICE_ID' is not a valid device id" >&2
  exit 2
fi
PASSWD="$PREFIX/etc/mosquitto/telecare.passwd"
secret="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
mosquitto_passwd -b "$PASSWD" "$DEVICE_ID" "$secret"
if [ -z "$PREFIX" ] && command -v systemctl >/dev/null; then
  systemctl reload mosquitto 2>/dev/null || systemctl restart mosquitto
fi
echo "device $DEVICE_ID: username $DEVICE_ID password $secret"
