"""Run order for the whole suite: the longest notebooks first, so the two xdist workers split them.

With ``--dist loadfile`` each file is one unit of work, handed to the next free worker in
collection order (the Makefile passes ``--no-loadscope-reorder`` so that order is ours). Putting the
heaviest notebooks first is the longest-processing-time rule: one worker takes 08, the other 07,
and the short files fill the gaps. Seconds are one nbval run each on the 2-core CI machine; a file
not listed counts as short.
"""
from __future__ import annotations

from pathlib import Path

SECONDS = {  # nbval wall time of each notebook alone (this session, on a shared box: relative weights)
    "08-transformers.ipynb": 490,
    "09-large-models.ipynb": 260,
    "10-beyond-accuracy.ipynb": 250,
    "07-rnn.ipynb": 320,
    "06-neural-cf.ipynb": 130,
    "03-neighbourhood.ipynb": 36,
    "05-hybrid.ipynb": 32,
    "04-matrix-factorisation.ipynb": 20,
    "01-evaluation.ipynb": 30,
    "02-content-based.ipynb": 20,
    "00-welcome.ipynb": 10,
    "11-scale-and-deploy.ipynb": 38,
}


def pytest_collection_modifyitems(config, items):
    """Sort files by their expected time, longest first; tests inside a file keep their order."""
    order = {id(item): n for n, item in enumerate(items)}
    items.sort(key=lambda item: (-SECONDS.get(Path(str(item.fspath)).name, 0), order[id(item)]))
