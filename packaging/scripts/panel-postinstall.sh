#!/bin/sh
# chatspark-panel, after its files are unpacked: the command on PATH (a link the scripts own, as the server's are).
set -eu
ln -sfn /opt/chatspark-panel/chatspark-panel /usr/bin/chatspark-panel
