"""`python -m server.cli`: the `chatspark` command, for tests and checkouts without the installed script."""

import sys

from server.cli.main import main

sys.exit(main())
