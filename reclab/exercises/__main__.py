"""``python -m reclab.exercises SRC DST``: write the student copy of one notebook."""
import sys

from . import main

sys.exit(main())
