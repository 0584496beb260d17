"""`chatspark serve`: run the appliance until stopped (the supervisor is in server/serving/supervisor.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.keys import masterkey
from server.cli.options import read_passphrase, settings_from


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser("serve", parents=[common], help="serve HTTPS until stopped",
                                description="Run the appliance: Caddy (TLS 1.3) in front of the application server.")
    serve.add_argument("--host", metavar="HOST", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, metavar="PORT", help="HTTPS port (default 8443)")
    serve.add_argument("--http-redirect-port", type=int, metavar="PORT",
                       help="also listen for plain HTTP on PORT, only to redirect to HTTPS")
    serve.add_argument("--passphrase-file", type=Path, metavar="FILE", help="passphrase for a wrapped master key")
    serve.add_argument("--demo-site-port", type=int, metavar="PORT",
                       help="also serve the demo intranet page (see `demo create --site-port`) on this port")
    serve.add_argument("--trial", action="store_true",
                       help="serve without running any scheduled job or resuming indexing, and without recording "
                            "itself for `status` (what `chatspark upgrade` starts to prove a release serves)")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from server.serving.supervisor import serve  # keeps `chatspark --help` and `init` free of Flask start-up

    settings = settings_from(args)
    passphrase = None
    if masterkey.is_wrapped(Path(settings.key_dir).expanduser()):
        passphrase = read_passphrase(settings.passphrase_file)
    serve(settings, passphrase=passphrase, out=sys.stdout, trial=args.trial)
    return 0
