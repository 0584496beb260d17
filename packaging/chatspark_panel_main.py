"""Entry point of the frozen control panel bundle: `gui.app:main`, as `chatspark panel` runs it."""

import sys

from gui.app import main

if __name__ == "__main__":
    sys.exit(main())
