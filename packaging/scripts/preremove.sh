#!/bin/sh
# chatspark-appliance, before its files are removed: stop and disable the service, unless this is an upgrade.
# Arguments: deb `remove` or `upgrade NEW`, rpm `0` (erase) or `1` (upgrade).
set -eu
case "${1:-}" in
    remove|0) ;;
    *) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
    systemctl disable --now chatspark.service || true
fi
