#!/bin/sh
# chatspark-appliance, after its files are removed. Data, backups and keys stay unless asked for:
#   CHATSPARK_PURGE_DATA=yes apt purge chatspark-appliance   also deletes /var/lib/chatspark and /var/backups/chatspark
#   CHATSPARK_PURGE_KEYS=yes apt purge chatspark-appliance   also deletes /etc/chatspark/keys (then nothing is readable)
# (rpm: the same variables with `rpm -e` / `dnf remove`). Arguments: deb `remove`, `purge` or `upgrade`; rpm `0` or `1`.
set -eu
case "${1:-}" in
    remove|purge|0) ;;
    *) exit 0 ;;
esac
# The links postinstall made (an upgrade keeps them: the new release's postinstall moved them already).
if [ "${1:-}" != purge ]; then
    rm -f /usr/bin/chatspark /opt/chatspark/current
    rm -rf /opt/chatspark/previous  # a release an upgrade kept to roll back to
    rmdir /opt/chatspark 2>/dev/null || true
    [ -d /run/systemd/system ] && systemctl daemon-reload || true
fi
[ "${1:-}" = remove ] && exit 0
rm -f /etc/chatspark/first-operator-password.txt
kept=""
if [ "${CHATSPARK_PURGE_DATA:-}" = yes ]; then
    rm -rf /var/lib/chatspark /var/backups/chatspark
    echo "Deleted the data (/var/lib/chatspark) and the backups (/var/backups/chatspark)."
else
    kept="$kept /var/lib/chatspark /var/backups/chatspark"
fi
if [ "${CHATSPARK_PURGE_KEYS:-}" = yes ]; then
    rm -rf /etc/chatspark/keys
    echo "Deleted the keys (/etc/chatspark/keys)."
elif [ -d /etc/chatspark/keys ]; then
    kept="$kept /etc/chatspark/keys"
fi
rmdir /etc/chatspark 2>/dev/null || true
if [ -n "$kept" ]; then
    echo "Kept:$kept (and the chatspark user). To delete them too, purge with CHATSPARK_PURGE_DATA=yes" \
        "and CHATSPARK_PURGE_KEYS=yes, or remove them by hand."
elif getent passwd chatspark >/dev/null; then
    userdel chatspark 2>/dev/null || true
    getent group chatspark >/dev/null && groupdel chatspark 2>/dev/null || true
fi
