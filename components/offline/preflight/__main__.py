"""`python -m components.offline.preflight`."""

import sys

from components.offline.preflight.cli import main

sys.exit(main())
