"""`python -m gui`: the control panel."""

import sys

from gui.app import main

sys.exit(main())
