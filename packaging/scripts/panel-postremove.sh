#!/bin/sh
# chatspark-panel, after its files are removed (not on upgrade: the new release's postinstall keeps the link).
# Arguments: deb `remove`, `purge` or `upgrade`; rpm `0` (erase) or `1` (upgrade).
set -eu
case "${1:-}" in
    remove|0) rm -f /usr/bin/chatspark-panel ;;
esac
