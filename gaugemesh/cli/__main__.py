"""``python -m gaugemesh.cli``."""

import sys

from gaugemesh.cli import main

sys.exit(main())
