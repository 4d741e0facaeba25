"""``python -m htcore``: see htcore.cli."""

import sys

from htcore.cli import main

sys.exit(main())
