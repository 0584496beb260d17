#!/bin/sh
# chatspark-appliance, before its files are unpacked: the `chatspark` system user and group the service runs as.
# Upgrade (deb `upgrade OLD`, rpm `2`) from another release: refuse a downgrade before anything changes, stop the
# service, and keep the running release to roll back to (dpkg deletes its files as it unpacks this one); the backup,
# the snapshot and the migrations follow in postinstall, run by the new release (see appliance/upgrades/runner.py).
set -eu
RELEASE=/opt/chatspark/${CHATSPARK_VERSION}
CONFIG=/etc/chatspark/appliance.toml
KEPT=/opt/chatspark/previous
RESTART_MARK=/run/chatspark-upgrade.restart
# The newest migration of each kind this package ships, put in by packaging/build.py.
SCHEMA="${CHATSPARK_SCHEMA}"

if ! getent group chatspark >/dev/null; then
    groupadd --system chatspark
fi
if ! getent passwd chatspark >/dev/null; then
    useradd --system --gid chatspark --home-dir /var/lib/chatspark --no-create-home \
        --shell /usr/sbin/nologin --comment "ChatSpark Appliance" chatspark
fi

case "${1:-}" in
    upgrade|2) ;;
    *) exit 0 ;;
esac
current=$(readlink -f /opt/chatspark/current 2>/dev/null || true)
if [ -z "$current" ] || [ ! -x "$current/chatspark" ] || [ "$current" = "$RELEASE" ]; then
    exit 0  # nothing runs yet, or this is a reinstall of the running release: nothing to migrate or roll back
fi
as_chatspark() {
    runuser -u chatspark -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/var/lib/chatspark LANG=C.UTF-8 "$@"
}

# The running release reads its databases' schema; one newer than this package knows is a downgrade.
if [ -e /etc/chatspark/keys/keys.db ]; then
    set +e
    # What it says on stderr is why (one line); its table of databases is not needed here.
    said=$(cd / && as_chatspark "$current/chatspark" upgrade --check --config "$CONFIG" \
        --target-schema "$SCHEMA" 2>&1 >/dev/null)
    status=$?
    set -e
    if [ "$status" -ne 0 ]; then
        echo "$said" >&2
        if [ "$status" -eq 3 ]; then
            echo "chatspark-appliance ${CHATSPARK_VERSION} was not installed: its databases are newer than it." >&2
        else
            echo "chatspark-appliance ${CHATSPARK_VERSION} was not installed: the databases could not be checked." >&2
        fi
        echo "Nothing was changed; $(basename "$current") still runs." >&2
        exit 1
    fi
fi

# Nothing may write while the running release backs up and the databases are copied.
rm -f "$RESTART_MARK"
if [ -d /run/systemd/system ] && systemctl is-active --quiet chatspark.service; then
    systemctl stop chatspark.service
    touch "$RESTART_MARK"
fi
# Should a step below fail, dpkg installs nothing: the service must not stay down for it.
restart_on_failure() {
    status=$?
    if [ "$status" -ne 0 ] && [ -e "$RESTART_MARK" ]; then
        rm -f "$RESTART_MARK"
        systemctl start chatspark.service || true
    fi
    exit "$status"
}
trap restart_on_failure EXIT

# A copy of the running release made of hard links (no space, instant) outlives dpkg's deletion of its files.
# `current` points at the copy from now on, so the command works throughout the unpacking.
case "$current" in
    "$KEPT"/*) ;;  # a rolled-back upgrade runs from the copy already
    *)
        rm -rf "$KEPT"
        mkdir -p "$KEPT"
        cp -al "$current" "$KEPT/$(basename "$current")"
        ln -sfn "$KEPT/$(basename "$current")" /opt/chatspark/current.new
        mv -T /opt/chatspark/current.new /opt/chatspark/current
        ;;
esac
echo "Upgrading from $(basename "$current") to ${CHATSPARK_VERSION}: the service is stopped until it is done."
