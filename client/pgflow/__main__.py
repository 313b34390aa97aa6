import sys

from pgflow.cli import main

sys.exit(main())
