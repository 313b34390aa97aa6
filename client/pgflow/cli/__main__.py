"""``python -m pgflow.cli``: the same as ``pgflow`` and ``python -m pgflow``."""

import sys

from pgflow.cli.app import main

sys.exit(main())
