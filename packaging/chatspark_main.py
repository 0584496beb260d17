"""Entry point of the frozen server and CLI bundle: the same `chatspark` command as the installed script."""

import sys

from server.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
