#!/bin/sh
# chatspark-appliance, before its files are unpacked: the `chatspark` system user and group the service runs as.
set -eu
if ! getent group chatspark >/dev/null; then
    groupadd --system chatspark
fi
if ! getent passwd chatspark >/dev/null; then
    useradd --system --gid chatspark --home-dir /var/lib/chatspark --no-create-home \
        --shell /usr/sbin/nologin --comment "ChatSpark Appliance" chatspark
fi
