#!/usr/bin/env bash
# Install the telecare hub on Raspberry Pi OS (Debian bookworm based). Idempotent: run it again to
# upgrade; it never overwrites a configuration or a credential that already exists.
#
#   sudo deploy/raspberrypi/install.sh              # install and start the services
#   deploy/raspberrypi/install.sh --dry-run         # print every action, do nothing
#   deploy/raspberrypi/install.sh --prefix /tmp/x   # stage into a folder (no apt, users, systemctl)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE="$(cd "$HERE/../.." && pwd)"
PREFIX=""
DRY_RUN=0
SKIP_PYTHON=0
MQTT_PORT=1883
MQTT_BIND=""

usage() {
  cat <<USAGE
Usage: install.sh [--dry-run] [--prefix DIR] [--skip-python] [--mqtt-port N] [--mqtt-bind ADDR]

  --dry-run        print every action without doing it
  --prefix DIR     install into a staging root DIR (no apt-get, no user, no systemctl)
  --skip-python    do not create the virtual environment (configuration and units only)
  --mqtt-port N    port of the broker's listener (default 1883)
  --mqtt-bind ADDR address the listener binds (default: all interfaces, for devices on the LAN)
USAGE
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --prefix) PREFIX="$(realpath -m "${2:?--prefix needs a directory}")"; shift ;;
    --skip-python) SKIP_PYTHON=1 ;;
    --mqtt-port) MQTT_PORT="${2:?--mqtt-port needs a number}"; shift ;;
    --mqtt-bind) MQTT_BIND="${2:?--mqtt-bind needs an address}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

ETC="$PREFIX/etc/telecare"
DATA="$PREFIX/var/lib/telecare"
OPT="$PREFIX/opt/telecare"
MOSQ="$PREFIX/etc/mosquitto"
UNITS="$PREFIX/etc/systemd/system"
STAGED=$([ -n "$PREFIX" ] && echo 1 || echo 0)

run() {
  echo "+ $*"
  if [ "$DRY_RUN" -eq 0 ]; then "$@"; fi
}

# write_new FILE MODE: write standard input to FILE unless it exists (idempotent).
write_new() {
  local file="$1" mode="$2" content
  content="$(cat)"
  if [ -e "$file" ]; then
    echo "= keep existing $file"
    return
  fi
  echo "+ write $file (mode $mode)"
  if [ "$DRY_RUN" -eq 0 ]; then
    (umask 077 && printf '%s\n' "$content" > "$file")
    chmod "$mode" "$file"
  fi
}

# render SRC DEST MODE: copy a template, filling in the install paths and ports (always updated).
render() {
  echo "+ render $1 -> $2"
  if [ "$DRY_RUN" -eq 0 ]; then
    sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@MQTT_PORT@|$MQTT_PORT|g" -e "s|@MQTT_BIND@|$MQTT_BIND|g" \
      "$1" > "$2"
    chmod "$3" "$2"
  fi
}

random_secret() {
  python3 -c 'import secrets; print(secrets.token_urlsafe(24))'
}

install_packages() {
  if [ "$STAGED" -eq 1 ]; then return; fi
  run apt-get update
  run apt-get install -y mosquitto mosquitto-clients python3-venv sqlite3
}

create_user() {
  if [ "$STAGED" -eq 1 ]; then return; fi
  if id telecare >/dev/null 2>&1; then
    echo "= user telecare exists"
  else
    run useradd --system --home-dir /var/lib/telecare --shell /usr/sbin/nologin telecare
  fi
  if getent group gpio >/dev/null; then run usermod -a -G gpio telecare; fi
}

install_python() {
  if [ "$SKIP_PYTHON" -eq 1 ]; then return; fi
  run python3 -m venv "$OPT/venv"
  run "$OPT/venv/bin/python" -m pip install --quiet --upgrade pip
  run "$OPT/venv/bin/python" -m pip install --quiet "$SOURCE"
  run cp "$SOURCE/README.md" "$OPT/README.md"
}

install_config() {
  run mkdir -p "$ETC" "$DATA/backups" "$OPT" "$MOSQ/conf.d" "$UNITS"
  run chmod 0750 "$ETC" "$DATA"
  sed -e "s|^path = \"/var/lib/telecare/hub.db\"|path = \"$DATA/hub.db\"|" \
      -e "s|^port = 1883|port = $MQTT_PORT|" "$HERE/hub.example.toml" | write_new "$ETC/hub.toml" 0640
  local hub_secret
  hub_secret="$(random_secret)"
  write_new "$ETC/secrets.env" 0600 <<SECRETS
# Secrets for the telecare hub (mode 0600). The hub reads them as environment overrides.
TELECARE_MQTT__USERNAME=telecare-hub
TELECARE_MQTT__PASSWORD=$hub_secret
# TELECARE_TWILIO__AUTH_TOKEN=...   (if [twilio] is used)
# TELECARE_NTFY__TOKEN=...          (if the ntfy server needs a token)
SECRETS
  if [ ! -e "$MOSQ/telecare.passwd" ]; then
    if [ -e "$ETC/secrets.env" ] && [ "$DRY_RUN" -eq 0 ]; then
      hub_secret="$(sed -n 's/^TELECARE_MQTT__PASSWORD=//p' "$ETC/secrets.env")"
    fi
    echo "+ create $MOSQ/telecare.passwd with user telecare-hub"
    if [ "$DRY_RUN" -eq 0 ]; then
      (umask 077 && : > "$MOSQ/telecare.passwd")
      mosquitto_passwd -b "$MOSQ/telecare.passwd" telecare-hub "$hub_secret"
    fi
  else
    echo "= keep existing $MOSQ/telecare.passwd"
  fi
  render "$HERE/mosquitto/telecare.conf" "$MOSQ/conf.d/telecare.conf" 0644
  render "$HERE/mosquitto/telecare.acl" "$MOSQ/telecare.acl" 0644
}

install_units() {
  for unit in telecare-hub.service telecare-backup.service telecare-backup.timer; do
    render "$HERE/systemd/$unit" "$UNITS/$unit" 0644
  done
  run mkdir -p "$PREFIX/etc/systemd/journald.conf.d"
  render "$HERE/journald/telecare.conf" "$PREFIX/etc/systemd/journald.conf.d/telecare.conf" 0644
  run install -m 0755 "$HERE/add-device.sh" "$OPT/add-device.sh"
}

set_owners() {
  if [ "$STAGED" -eq 1 ]; then return; fi
  run chown -R telecare:telecare "$DATA"
  run chown root:telecare "$ETC" "$ETC/hub.toml"
  run chown root:root "$ETC/secrets.env"
  run chown mosquitto:mosquitto "$MOSQ/telecare.passwd"
}

enable_services() {
  if [ "$STAGED" -eq 1 ]; then return; fi
  run systemctl daemon-reload
  run systemctl restart systemd-journald
  run systemctl enable --now mosquitto
  run systemctl restart mosquitto
  run systemctl enable --now telecare-hub.service telecare-backup.timer
}

install_packages
create_user
install_config
install_python
install_units
set_owners
enable_services

cat <<NEXT

Installed. Next steps:
  1. Edit $ETC/hub.toml: the person's name, the contacts, the devices.
     Check it with:  telecare config check $ETC/hub.toml
  2. Give each native device its own broker login:  $OPT/add-device.sh DEVICE_ID
  3. Pair sensors:    telecare pair --role pendant --room "Living room"
  4. Test the alarm:  telecare test-alert
  5. See what is wrong, if anything:  telecare doctor --config $ETC/hub.toml
NEXT
