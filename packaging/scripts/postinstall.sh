#!/bin/sh
# chatspark-appliance, after its files are unpacked. First install: the directories, `chatspark init` (keys in
# /etc/chatspark/keys, data in /var/lib/chatspark) with the first operator and a generated password, then the service
# where systemd runs. Upgrade from the release preinstall kept: `chatspark upgrade` by this release (backup, snapshot,
# migrations, a trial serve; it rolls the data back itself when a step fails), then `current` moves here and the
# service starts; should it not start, the data is rolled back and the kept release serves again.
# Arguments: deb `configure [OLD]`, rpm `1` or `2`.
set -eu
RELEASE=/opt/chatspark/${CHATSPARK_VERSION}
KEPT=/opt/chatspark/previous
RESTART_MARK=/run/chatspark-upgrade.restart
CONFIG=/etc/chatspark/appliance.toml
DATA_DIR=/var/lib/chatspark
KEY_DIR=/etc/chatspark/keys
BACKUP_DIR=/var/backups/chatspark
PASSWORD_FILE=/etc/chatspark/first-operator-password.txt
OPERATOR_EMAIL=${CHATSPARK_OPERATOR_EMAIL:-operator@localhost.localdomain}

case "${1:-}" in
    configure|1|2) ;;
    *) exit 0 ;;
esac

install -d -m 0755 -o root -g root /etc/chatspark
install -d -m 0700 -o chatspark -g chatspark "$KEY_DIR" "$DATA_DIR" "$BACKUP_DIR"

systemd_runs() { [ -d /run/systemd/system ]; }
as_chatspark() {
    # A clean environment: nothing of the installing shell (CHATSPARK_* settings above all) reaches the appliance.
    (cd / && runuser -u chatspark -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$DATA_DIR" LANG=C.UTF-8 "$@")
}
# `current` moves by an atomic rename, so it is never missing, and the command follows it.
make_current() {
    ln -sfn "$1" /opt/chatspark/current.new
    mv -T /opt/chatspark/current.new /opt/chatspark/current
    ln -sfn /opt/chatspark/current/chatspark /usr/bin/chatspark
}
start_if_it_ran() {
    if [ -e "$RESTART_MARK" ]; then
        systemctl start chatspark.service || echo "chatspark.service did not start: see journalctl -u chatspark" >&2
    fi
}
given_up() {
    rm -f "$RESTART_MARK"
    echo "The upgrade to ${CHATSPARK_VERSION} did not complete (the reason is above and in" \
        "$DATA_DIR/logs/upgrades.log); $(basename "$previous") runs again, every database as it was before." >&2
    echo "The package is left unconfigured: remove the cause, then run dpkg --configure -a (rpm: install it again)," \
        "or install the $(basename "$previous") package again." >&2
    exit 1
}

previous=""
if [ -d "$KEPT" ]; then
    for kept in "$KEPT"/*; do
        [ -x "$kept/chatspark" ] && previous=$kept
    done
fi
if [ -n "$previous" ] && [ -e "$KEY_DIR/keys.db" ]; then
    skip=""
    [ "${CHATSPARK_UPGRADE_SKIP_BACKUP:-}" = yes ] && skip=--skip-backup
    # shellcheck disable=SC2086
    if ! as_chatspark "$RELEASE/chatspark" upgrade --config "$CONFIG" --previous-release "$previous" \
            --keep-snapshot $skip; then
        make_current "$previous"
        systemd_runs && start_if_it_ran
        given_up
    fi
fi
make_current "$RELEASE"

if [ ! -e "$KEY_DIR/keys.db" ]; then
    umask 077
    password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    printf '%s\n' "$password" > "$PASSWORD_FILE"
    chmod 0600 "$PASSWORD_FILE"
    # init reads it from a copy that only chatspark can read, in its own 0700 directory, removed at once after.
    handover="$DATA_DIR/.first-operator-password"
    install -m 0600 -o chatspark -g chatspark "$PASSWORD_FILE" "$handover"
    if ! as_chatspark /usr/bin/chatspark init --config "$CONFIG" --no-hints --operator-email "$OPERATOR_EMAIL" \
            --password-file "$handover"; then
        rm -f "$handover"
        echo "chatspark init failed (see above); fix it, then finish with: dpkg --configure -a (rpm: reinstall)" >&2
        exit 1
    fi
    rm -f "$handover"
    unset password
    echo "First operator: $OPERATOR_EMAIL; password in $PASSWORD_FILE (root only, 0600)."
    echo "  Sign in, change the password under My account, then delete that file."
    echo "  More operators: runuser -u chatspark -- chatspark users create-operator --config $CONFIG --email ADDRESS" \
        "--generate-password"
fi

if systemd_runs; then
    systemctl daemon-reload
    # A service that does not come up (say, its port is taken) leaves the package installed, and says so.
    if [ "${1:-}" = configure ] && [ -z "${2:-}" ] || [ "${1:-}" = 1 ]; then
        systemctl enable chatspark.service
        systemctl start chatspark.service || echo "chatspark.service did not start: see journalctl -u chatspark" >&2
    elif [ -n "$previous" ] && [ -e "$RESTART_MARK" ]; then
        if ! systemctl start chatspark.service; then
            systemctl stop chatspark.service || true
            as_chatspark "$RELEASE/chatspark" upgrade --rollback --config "$CONFIG" --previous-release "$previous" \
                --reason "chatspark.service did not start on ${CHATSPARK_VERSION} (journalctl -u chatspark)" || true
            make_current "$previous"
            start_if_it_ran
            given_up
        fi
    else
        systemctl try-restart chatspark.service ||
            echo "chatspark.service did not restart: see journalctl -u chatspark" >&2
    fi
    echo "Service: chatspark.service (systemctl status chatspark; journalctl -u chatspark)."
else
    echo "systemd is not running here, so no service was started. Start the appliance by hand with:"
    echo "  runuser -u chatspark -- /usr/bin/chatspark serve --config $CONFIG"
fi
if [ -n "$previous" ]; then
    # Upgraded and serving: neither the snapshot nor the kept release is needed any more (the backup stays).
    as_chatspark "$RELEASE/chatspark" upgrade --finish --config "$CONFIG" || true
    rm -rf "$KEPT"
fi
rm -f "$RESTART_MARK"
port=$(sed -n 's/^port *= *\([0-9][0-9]*\).*/\1/p' "$CONFIG" | tail -n 1)
host=$(sed -n 's/^public_host *= *"\([^"]*\)".*/\1/p' "$CONFIG" | tail -n 1)
port=${port:-8443}
[ "$port" = 443 ] && address=${host:-localhost} || address=${host:-localhost}:$port
echo "URL: https://$address/"
echo "CA certificate: $DATA_DIR/tls/ca.crt (trust it after checking the fingerprint)"
# SHA-256 of the certificate's DER, colon-separated upper-case hex: what `chatspark status` and the panel show.
fingerprint=$(awk '/-END CERTIFICATE-/ {exit} started {print} /-BEGIN CERTIFICATE-/ {started = 1}' \
    "$DATA_DIR/tls/ca.crt" | base64 -d | sha256sum | cut -d' ' -f1 | tr 'a-f' 'A-F' | sed 's/../&:/g; s/:$//')
echo "CA fingerprint: SHA-256 $fingerprint"
