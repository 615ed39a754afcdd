"""reclab: the package behind the reclab recommender-systems course.

Everything heavy lives here — data, splits, models, the training loop, metrics, plots, widgets and
exercise checkers — so that the notebooks stay short. The course repository's README describes the
layout, the data and the evaluation protocol every number follows; SYLLABUS.md the course itself.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reclab")
except PackageNotFoundError:  # running from a source tree that was not pip-installed
    __version__ = "0+unknown"

from .evaluation import Evaluator, compare, evaluate, evaluate_lists, leaderboard  # noqa: E402  (after the version lookup)

__all__ = ["Evaluator", "__version__", "compare", "evaluate", "evaluate_lists", "leaderboard"]
