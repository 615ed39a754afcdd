"""``python -m reclab ...``: the same command line as the ``reclab`` console script (`reclab.cli`)."""
import sys

from .cli import main

sys.exit(main())
