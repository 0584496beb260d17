"""`chatspark panel`: start the desktop control panel (it needs the panel's extra: `pip install '.[panel]'`)."""

from __future__ import annotations

import argparse

from appliance.errors import ConfigurationError


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    panel = commands.add_parser("panel", help="start the desktop control panel",
                                description="The control panel: connect to an appliance (pinning its CA), sign in, "
                                            "and run it. It talks only to the HTTPS API.")
    panel.add_argument("--url", default="", help="the appliance's address, e.g. https://chatspark.intranet:8443")
    panel.add_argument("--fingerprint", default="", help="the CA fingerprint `chatspark status` prints")
    panel.add_argument("--settings", default="", metavar="FILE",
                       help="the panel's settings file (default: panel.json in the user's config folder)")
    panel.add_argument("--smoke", action="store_true", help="start, show the first dialog, and exit 0")
    panel.set_defaults(handler=_panel)


def _panel(args: argparse.Namespace) -> int:
    try:
        from gui.app import main
    except ImportError as exc:
        raise ConfigurationError(f"the control panel needs PySide6 ({exc.name} is missing): install it with "
                                 "`pip install '.[panel]'` (or use the packaged chatspark-panel)") from None
    passed = [("--url", args.url), ("--fingerprint", args.fingerprint), ("--settings", args.settings)]
    return main([part for flag, value in passed if value for part in (flag, value)] +
                (["--smoke"] if args.smoke else []))
